# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""One pass over a driving video: its face crop box and the frame whose pose best matches the source.

A driving video gets *one* crop box for all its frames (see :func:`~mcc_hf.face.crop.face_crop_box`),
from faces detected on every ``detect_every``-th frame. With the source face's landmarks, every frame
is also compared with the source by its normalised landmarks (FOMM's ``find_best_frame``): the
closest frame is the best reference for relative motion.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvalidInputError, NoFaceFoundError
from ..image_processing import to_uint8
from ..motion.keypoints import convex_hull_area
from .crop import CropBox, FaceCropper, face_crop_box

__all__ = ["DrivingScan", "normalized_landmarks", "scan_driving"]

logger = logging.getLogger(__name__)

#: Without a best-frame search the driving face is detected on every ``DETECT_EVERY``-th frame.
DETECT_EVERY = 5


def normalized_landmarks(points: np.ndarray) -> np.ndarray:
    """68 face landmarks ``[68, 2]`` (pixels) -> centred and divided by the square root of their hull area,
    so that faces of any size and position compare by expression and pose only."""
    centered = points - points.mean(axis=0)
    area = convex_hull_area(torch.from_numpy(centered))
    return centered / math.sqrt(area) if area > 0 else centered


@dataclass
class DrivingScan:
    """What one pass over the driving video found.

    Args:
        box: the crop box of the driving frames (``None`` when no box was asked for).
        best_frame: ``[3, H, W]`` the frame closest to the source pose (``None`` when not searched or no face).
        best_index: its index in the video (``-1`` when there is none).
        num_frames: frames in the video.
    """

    box: CropBox | None
    best_frame: torch.Tensor | None
    best_index: int
    num_frames: int


def scan_driving(
    frames: Iterable[torch.Tensor],
    cropper: FaceCropper,
    *,
    find_box: bool,
    source_landmarks: np.ndarray | None = None,
    progress=None,
) -> DrivingScan:
    """Detect the driving face (for the crop box) and, given ``source_landmarks``, find the best-matching frame.

    Args:
        frames: the driving frames, ``[3, H, W]`` float in ``[0, 1]``, all of one size.
        cropper: the face detector.
        find_box: compute the crop box (raises :class:`NoFaceFoundError` when no frame shows a face).
        source_landmarks: :func:`normalized_landmarks` of the source face: search the best frame
            (every frame is analysed, instead of every :data:`DETECT_EVERY`-th).
        progress: a tqdm-like bar updated once per frame.
    """
    search = source_landmarks is not None
    every = 1 if search else DETECT_EVERY
    faces = []
    best_frame, best_distance, best_index = None, math.inf, -1
    frame_size, count = None, 0
    for index, frame in enumerate(frames):
        count += 1
        if progress is not None:
            progress.update(1)
        frame_size = frame_size or tuple(frame.shape[-2:])
        if index % every:
            continue
        found = cropper.analyze(to_uint8(frame[None])[0], landmarks=search)
        if found is None:
            continue
        faces.append(found.box)
        if search:
            distance = float(((normalized_landmarks(found.landmarks) - source_landmarks) ** 2).sum())
            if distance < best_distance:
                best_frame, best_distance, best_index = frame, distance, index
    if frame_size is None:
        raise InvalidInputError("the driving video has no frames")
    if search:
        if best_frame is None:
            logger.warning("no face found in the driving video for find_best_frame; using its first frame")
        else:
            logger.info("best matching driving frame: %d", best_index)
    box = None
    if find_box:
        box = face_crop_box(faces, frame_size)
        if box is None:
            raise NoFaceFoundError("no face found in the driving video; pass crop=False / --no-crop for pre-cropped faces")
    return DrivingScan(box=box, best_frame=best_frame, best_index=best_index, num_frames=count)
