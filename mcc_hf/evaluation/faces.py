# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Per-frame face landmarks and identity embeddings of a clip, for AKD / AED / CSIM."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..image_processing import resize_to, to_uint8

__all__ = ["FaceTrack", "FaceMeasurer"]


@dataclass
class FaceTrack:
    """Face measurements of a clip.

    Args:
        landmarks: ``[T, 68, 2]`` float64 ``(x, y)`` pixels at the measurer's resolution; ``NaN`` rows
            where no face was found.
        embeddings: ``[T, 128]`` float64 dlib identity descriptors; ``NaN`` rows where no face was found.
    """

    landmarks: np.ndarray
    embeddings: np.ndarray

    @property
    def found(self) -> np.ndarray:
        """``[T]`` bool, True where a face was found."""
        return ~np.isnan(self.landmarks[:, 0, 0])


class FaceMeasurer:
    """Measures faces in frames upsampled to ``resolution`` (dlib's HOG detector misses faces
    narrower than about 40 pixels, so 64-pixel model outputs are measured at 256).

    Args:
        resolution: side of the square frames the face models see; landmark distances are in its pixels.
        analyzer: a :class:`~mcc_hf.face.landmarks.FaceAnalyzer` (default: a new one, HOG detector, upsample 1).
    """

    def __init__(self, resolution: int = 256, analyzer=None):
        from ..face.landmarks import FaceAnalyzer

        self.resolution = int(resolution)
        self.analyzer = analyzer if analyzer is not None else FaceAnalyzer()

    def to_uint8(self, frames: torch.Tensor) -> np.ndarray:
        """``[T, 3, H, W]`` in ``[0, 1]`` -> ``[T, R, R, 3]`` uint8 at the measuring resolution."""
        return to_uint8(resize_to(frames.float(), self.resolution))

    def measure(self, frames: torch.Tensor) -> FaceTrack:
        """Landmarks and identity embeddings of every frame of ``[T, 3, H, W]`` in ``[0, 1]``."""
        images = self.to_uint8(frames)
        landmarks = np.full((len(images), 68, 2), np.nan)
        embeddings = np.full((len(images), 128), np.nan)
        for index, image in enumerate(images):
            boxes = self.analyzer.detect(image)
            if not boxes:
                continue
            landmarks[index] = self.analyzer.landmarks(image, boxes[0])
            embeddings[index] = self.analyzer.embedding(image, boxes[0])
        return FaceTrack(landmarks=landmarks, embeddings=embeddings)
