# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Face detection, 68-point landmarks and 128-d identity embeddings with dlib.

The HOG detector ships inside ``dlib`` (a core dependency). The 68-point shape predictor, the
ResNet identity model and the CNN (mmod) detector are data files from the ``face_recognition_models``
package (the ``[face]`` extra, about 100 MB); they are loaded lazily, the first time they are needed.

Images are RGB ``uint8`` numpy arrays of shape ``(H, W, 3)``; coordinates are pixels ``(x, y)``.

Licence note: dlib's 68-point model was trained on iBUG 300-W, whose licence excludes commercial use.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import ModelLoadingError, UserInputError

__all__ = ["FaceAnalyzer", "FaceBox", "face_models_dir"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'pip install "mcc-hf[face]"'
SHAPE_PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
IDENTITY_RESNET = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"


class FaceBox(NamedTuple):
    """A face rectangle: its corner coordinates in pixels, as the dlib detectors report them."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def area(self) -> float:
        return max(self.right - self.left, 0.0) * max(self.bottom - self.top, 0.0)


def face_models_dir() -> Path:
    """The folder holding dlib's model files from the ``face_recognition_models`` package.

    The package is located without importing it: its ``__init__`` imports ``pkg_resources``,
    which recent setuptools no longer provide.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadingError(
            f"the face models are not installed; run `{_INSTALL_HINT}` (installs face-recognition-models, about 100 MB)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not folder.is_dir():
        raise ModelLoadingError(f"{folder} is missing; reinstall the face models with `{_INSTALL_HINT}`")
    return folder


def _model_file(name: str) -> str:
    path = face_models_dir() / name
    if not path.is_file():
        raise ModelLoadingError(f"{path} is missing; reinstall the face models with `{_INSTALL_HINT}`")
    return str(path)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise UserInputError(f"expected an RGB image array of shape (H, W, 3), got {shape}")
    if image.dtype != np.uint8:
        raise UserInputError(f"expected a uint8 RGB image, got dtype {image.dtype}")
    return np.ascontiguousarray(image)


class FaceAnalyzer:
    """Detects faces and measures their 68 landmarks and identity embedding with dlib.

    Args:
        upsample: how many times the detectors upsample the image before searching; 1 finds faces
            down to about 40 px wide (the dlib default for 256x256 crops).
        cnn_fallback: when the HOG detector finds nothing, retry with dlib's CNN (mmod) detector,
            which also finds tilted faces but takes seconds per image on a CPU.
    """

    def __init__(self, upsample: int = 1, cnn_fallback: bool = False):
        import dlib

        if upsample < 0:
            raise UserInputError(f"upsample must be >= 0, got {upsample}")
        self._dlib = dlib
        self.upsample = int(upsample)
        self.cnn_fallback = bool(cnn_fallback)
        self._hog = dlib.get_frontal_face_detector()
        self._cnn = None
        self._shape_predictor = None
        self._identity_model = None

    # Lazily loaded models ------------------------------------------------------------------
    @property
    def shape_predictor(self):
        if self._shape_predictor is None:
            self._shape_predictor = self._dlib.shape_predictor(_model_file(SHAPE_PREDICTOR_68))
        return self._shape_predictor

    @property
    def identity_model(self):
        if self._identity_model is None:
            self._identity_model = self._dlib.face_recognition_model_v1(_model_file(IDENTITY_RESNET))
        return self._identity_model

    @property
    def cnn_detector(self):
        if self._cnn is None:
            self._cnn = self._dlib.cnn_face_detection_model_v1(_model_file(CNN_DETECTOR))
        return self._cnn

    # Public API ------------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in ``image`` (RGB uint8 ``(H, W, 3)``), largest first; empty when none is found."""
        image = _check_image(image)
        rects = list(self._hog(image, self.upsample))
        if not rects and self.cnn_fallback:
            rects = [detection.rect for detection in self.cnn_detector(image, self.upsample)]
        boxes = [FaceBox(float(r.left()), float(r.top()), float(r.right()), float(r.bottom())) for r in rects]
        return sorted(boxes, key=lambda box: box.area, reverse=True)

    def landmarks(self, image: np.ndarray, box: FaceBox | None = None) -> np.ndarray | None:
        """The 68 iBUG landmarks of the face in ``box`` (default: the largest detected face).

        Returns:
            ``float64`` array ``[68, 2]`` of ``(x, y)`` pixel coordinates, or ``None`` when no face
            is found.
        """
        image = _check_image(image)
        shape = self._shape(image, box)
        if shape is None:
            return None
        return np.array([[point.x, point.y] for point in shape.parts()], dtype=np.float64)

    def embedding(self, image: np.ndarray, box: FaceBox | None = None) -> np.ndarray | None:
        """The 128-d dlib ResNet identity descriptor of the face (default: the largest detected).

        Two photos of the same person are usually closer than 0.6 in Euclidean distance.

        Returns:
            ``float64`` array ``[128]``, or ``None`` when no face is found.
        """
        image = _check_image(image)
        shape = self._shape(image, box)
        if shape is None:
            return None
        return np.asarray(self.identity_model.compute_face_descriptor(image, shape), dtype=np.float64)

    def _shape(self, image: np.ndarray, box: FaceBox | None):
        if box is None:
            boxes = self.detect(image)
            if not boxes:
                return None
            box = boxes[0]
        rect = self._dlib.rectangle(int(round(box.left)), int(round(box.top)), int(round(box.right)), int(round(box.bottom)))
        return self.shape_predictor(image, rect)
