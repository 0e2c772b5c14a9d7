# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""dlib face analysis on a frame of the shared mini dataset."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mcc_hf.face.landmarks import FaceAnalyzer, FaceBox

from conftest import needs_face_models

def _first_frame(path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has no frames")


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


@pytest.fixture(scope="module")
def frame(data_dir) -> np.ndarray:
    return _first_frame(sorted((data_dir / "test").glob("*.mp4"))[0])


def test_detect_finds_one_face_inside_the_frame(analyzer, frame):
    boxes = analyzer.detect(frame)
    assert boxes, "HOG found no face in a pre-cropped test frame"
    box = boxes[0]
    assert isinstance(box, FaceBox)
    height, width = frame.shape[:2]
    assert 0 <= box.left < box.right <= width and 0 <= box.top < box.bottom <= height
    assert box.right - box.left > width / 5  # the clips are face crops: the face is large


def test_detect_blank_image_finds_nothing(analyzer):
    assert analyzer.detect(np.full((128, 128, 3), 127, np.uint8)) == []
    assert analyzer.landmarks(np.full((128, 128, 3), 127, np.uint8)) is None


@needs_face_models
def test_landmarks_and_embedding_shapes(analyzer, frame):
    points = analyzer.landmarks(frame)
    assert points.shape == (68, 2) and points.dtype == np.float64
    box = analyzer.detect(frame)[0]
    # The 68 points lie around the detected box (the jaw line may leave it slightly).
    margin = 0.25 * (box.right - box.left)
    assert (points[:, 0] > box.left - margin).all() and (points[:, 0] < box.right + margin).all()
    np.testing.assert_allclose(analyzer.landmarks(frame, box), points)
    descriptor = analyzer.embedding(frame)
    assert descriptor.shape == (128,)
    assert 0.5 < np.linalg.norm(descriptor) < 1.5  # dlib descriptors are roughly unit length


def test_rejects_non_rgb_arrays(analyzer):
    from mcc_hf.errors import UserInputError

    with pytest.raises(UserInputError, match="RGB"):
        analyzer.detect(np.zeros((8, 8), np.uint8))
    with pytest.raises(UserInputError, match="uint8"):
        analyzer.detect(np.zeros((8, 8, 3), np.float32))


def test_missing_face_models_name_the_extra(monkeypatch):
    import mcc_hf.face.landmarks as landmarks
    from mcc_hf.errors import ModelLoadingError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        landmarks.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "face_recognition_models" else real_find_spec(name, *args),
    )
    analyzer = FaceAnalyzer()
    frame = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ModelLoadingError, match=r'pip install "mcc-hf\[face\]"'):
        analyzer.landmarks(frame, FaceBox(0, 0, 63, 63))
