# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Face crop boxes for un-cropped footage and feathered paste-back of the animated crop.

The model works on square face crops framed like its training data (VoxCeleb / the mini dataset):
about twice the face width, the face slightly below the centre. :func:`face_crop_box` turns face
detections into such a box; for a video it takes *one* box for the whole clip (the union of the
detections on sampled frames, after dropping outliers), so the crop never jitters from frame to
frame. :func:`paste_back` puts the animated crops into the full-resolution source image with a
feathered square mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch

from ..image_processing import resize_to
from .landmarks import FaceAnalyzer, FaceBox

__all__ = ["CropBox", "FaceCropper", "FaceObservation", "face_crop_box", "feather_mask", "paste_back"]

#: Crop side as a multiple of the face size: the union of detections is scaled by ``UNION_SCALE`` and the
#: side is at least ``MIN_FACE_SCALE`` median face widths (the rule the mini dataset was cropped with).
UNION_SCALE = 1.6
MIN_FACE_SCALE = 2.0
#: The crop centre sits this many face widths above the face centre, so the chin is not cut.
SHIFT_UP = 0.1
#: Images with a shorter side hold no detectable face (dlib's CNN detector even fails on them).
MIN_IMAGE_SIDE = 32


@dataclass(frozen=True)
class CropBox:
    """A square region of an image, in integer pixels, inside the image.

    Args:
        left, top: the top-left corner.
        size: the side.
    """

    left: int
    top: int
    size: int

    @property
    def right(self) -> int:
        return self.left + self.size

    @property
    def bottom(self) -> int:
        return self.top + self.size

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        """``[..., C, H, W]`` -> ``[..., C, size, size]`` (a view)."""
        return images[..., self.top : self.bottom, self.left : self.right]

    def crop_array(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` -> ``(size, size, C)`` (a view)."""
        return image[self.top : self.bottom, self.left : self.right]

    def rescale(self, factor: float, image_size: tuple[int, int]) -> "CropBox":
        """The same region in the image resized by ``factor`` to ``image_size`` ``(H, W)``."""
        return _fit(self.left * factor, self.top * factor, self.size * factor, image_size)


def _fit(left: float, top: float, side: float, image_size: tuple[int, int]) -> CropBox:
    """Round a square to pixels and move (or shrink) it so that it lies inside the image."""
    height, width = image_size
    size = max(1, min(int(round(side)), height, width))
    center_x, center_y = left + side / 2, top + side / 2
    left = int(round(min(max(center_x - size / 2, 0), width - size)))
    top = int(round(min(max(center_y - size / 2, 0), height - size)))
    return CropBox(left=left, top=top, size=size)


def face_crop_box(faces: Sequence[FaceBox], image_size: tuple[int, int], *, union_scale: float = UNION_SCALE,
                  min_face_scale: float = MIN_FACE_SCALE, shift_up: float = SHIFT_UP) -> CropBox | None:
    """One square crop box that holds every detected face of an image or a clip.

    Detections whose centre is more than one median face width away from the median centre are
    dropped first (a stray detection in the background must not blow up the box). The box is the
    union of the rest scaled by ``union_scale`` about its centre, at least ``min_face_scale`` median
    face widths wide, moved up by ``shift_up`` face widths, and moved or shrunk to fit the image.

    Args:
        faces: the face detections (one per sampled frame, in pixels of the full image).
        image_size: ``(H, W)`` of the image or of the video frames.

    Returns:
        The box, or ``None`` when ``faces`` is empty.
    """
    if not faces:
        return None
    boxes = np.array([[f.left, f.top, f.right, f.bottom] for f in faces], dtype=np.float64)
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    width = float(np.median(boxes[:, 2] - boxes[:, 0]))
    median_center = np.median(centers, axis=0)
    keep = np.linalg.norm(centers - median_center, axis=1) <= max(width, 1.0)
    boxes = boxes[keep] if keep.any() else boxes
    left, top = boxes[:, 0].min(), boxes[:, 1].min()
    right, bottom = boxes[:, 2].max(), boxes[:, 3].max()
    side = max(max(right - left, bottom - top) * union_scale, min_face_scale * width)
    center_x, center_y = (left + right) / 2, (top + bottom) / 2 - shift_up * width
    return _fit(center_x - side / 2, center_y - side / 2, side, image_size)


def _ramp(length: int, width: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1-D mask profile: 1 inside, a smooth (cosine) ramp of ``width`` pixels at the ends that are inside the image."""
    profile = torch.ones(length)
    if width <= 0:
        return profile
    steps = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    ramp = 0.5 - 0.5 * torch.cos(torch.pi * steps)
    if at_start:
        profile[:width] = torch.minimum(profile[:width], ramp)
    if at_end:
        profile[-width:] = torch.minimum(profile[-width:], ramp.flip(0))
    return profile


def feather_mask(box: CropBox, image_size: tuple[int, int], feather: float = 0.1) -> torch.Tensor:
    """Blending weight of the pasted crop: ``[1, size, size]`` float in ``[0, 1]``.

    The weight falls smoothly to 0 over ``feather * size`` pixels at each side of the box that lies
    inside the image; sides on the image border stay at 1 (there is nothing to blend with there).
    """
    height, width = image_size
    ramp = min(int(round(feather * box.size)), box.size // 2)
    rows = _ramp(box.size, ramp, box.top > 0, box.bottom < height)
    columns = _ramp(box.size, ramp, box.left > 0, box.right < width)
    return (rows[:, None] * columns[None, :])[None]


def paste_back(background: torch.Tensor, crops: torch.Tensor, box: CropBox, mask: torch.Tensor) -> torch.Tensor:
    """Blend animated crops into the full image.

    Args:
        background: ``[3, H, W]`` image in ``[0, 1]`` (the source at the output resolution).
        crops: ``[B, 3, h, w]`` animated crops in ``[0, 1]``, resized here to the box.
        box: where the crops go in ``background``.
        mask: ``[1, size, size]`` blending weight from :func:`feather_mask`.

    Returns:
        ``[B, 3, H, W]`` frames in ``[0, 1]``.
    """
    crops = resize_to(crops.to(background.dtype), box.size)
    frames = background.expand(crops.shape[0], -1, -1, -1).clone()
    region = box.crop(frames)
    region.mul_(1 - mask).add_(crops * mask)
    return frames


class FaceCropper:
    """Finds the face crop box of a source image or of a driving clip with dlib's HOG detector.

    Args:
        detect_max_side: frames are shrunk to at most this many pixels on their longer side before
            detection (HOG cost grows with the pixel count; faces stay well above its ~40 px minimum).
        upsample: detector upsampling (see :class:`~mcc_hf.face.landmarks.FaceAnalyzer`).
        analyzer: an existing analyzer to share (its landmarks model is reused for ``find_best_frame``).
    """

    def __init__(self, detect_max_side: int = 640, upsample: int = 1, analyzer: FaceAnalyzer | None = None):
        self.detect_max_side = detect_max_side
        self.analyzer = analyzer if analyzer is not None else FaceAnalyzer(upsample=upsample)
        self._upsample = upsample

    def shrink(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """``image`` shrunk for detection and the factor from its pixels back to the original's."""
        height, width = image.shape[:2]
        factor = max(height, width) / self.detect_max_side
        if factor <= 1:
            return image, 1.0
        size = (max(1, round(width / factor)), max(1, round(height / factor)))
        return np.asarray(PIL.Image.fromarray(image).resize(size, PIL.Image.BILINEAR)), factor

    def detect(self, image: np.ndarray, *, cnn_fallback: bool = False) -> FaceBox | None:
        """The largest face in an RGB ``uint8`` image ``(H, W, 3)``, in its pixels, or ``None``.

        With ``cnn_fallback``, dlib's slower CNN detector is tried when HOG finds nothing and the face
        models (the ``[face]`` extra) are installed; it also finds tilted faces.
        """
        found = self.analyze(image, cnn_fallback=cnn_fallback)
        return None if found is None else found.box

    def analyze(self, image: np.ndarray, *, landmarks: bool = False, cnn_fallback: bool = False) -> "FaceObservation | None":
        """The largest face of an RGB ``uint8`` image ``(H, W, 3)``: its box in the image's pixels and,
        with ``landmarks``, its 68 landmarks (measured on the shrunk copy, in its pixels). ``None`` without a face."""
        if min(image.shape[:2]) < MIN_IMAGE_SIDE:
            return None
        small, factor = self.shrink(image)
        faces = self.analyzer.detect(small)
        if not faces and cnn_fallback and _face_models_installed():
            faces = FaceAnalyzer(upsample=self._upsample, cnn_fallback=True).detect(small)
        if not faces:
            return None
        face = faces[0]
        points = self.analyzer.landmarks(small, face) if landmarks else None
        box = FaceBox(face.left * factor, face.top * factor, face.right * factor, face.bottom * factor)
        return FaceObservation(box=box, landmarks=points)


@dataclass(frozen=True)
class FaceObservation:
    """A face found by :meth:`FaceCropper.analyze`.

    Args:
        box: the face rectangle in pixels of the analysed image.
        landmarks: ``[68, 2]`` landmarks (pixels of the shrunk detection copy) or ``None`` when not asked for.
    """

    box: FaceBox
    landmarks: np.ndarray | None = None


def _face_models_installed() -> bool:
    from ..errors import ModelLoadingError
    from .landmarks import face_models_dir

    try:
        face_models_dir()
    except ModelLoadingError:
        return False
    return True
