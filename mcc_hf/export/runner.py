# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Run an exported talking-head model with ONNX Runtime: prepare the source once, render batches."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .exporter import ExportConfig

__all__ = ["OnnxPreparedSource", "OnnxTalkingHeadRunner"]


@dataclass
class OnnxPreparedSource:
    """What every frame reuses from the source image (numpy arrays, float32).

    Args:
        image: ``[1, 3, S, S]`` the source in ``[0, 1]`` at the model size.
        value, jacobian: its keypoints ``[1, K, 2]`` and Jacobians ``[1, K, 2, 2]``.
        features: its generator features, coarse to fine.
    """

    image: np.ndarray
    value: np.ndarray
    jacobian: np.ndarray
    features: list[np.ndarray]


class OnnxTalkingHeadRunner:
    """Animates a face with the graphs written by :func:`~mcc_hf.export.export_onnx`, on ONNX Runtime.

    Images go in and come out as ``[B, 3, S, S]`` float32 arrays in ``[0, 1]`` (``[3, S, S]`` is
    accepted for one image); :meth:`prepare_source` and :meth:`animate` also take anything
    :func:`mcc_hf.image_processing.load_image` reads (paths, PIL images, ...) and resize it to the model size.
    Face cropping, paste-back, keypoint smoothing and video files are the pipeline's features, not
    the runner's.

    Example::

        runner = OnnxTalkingHeadRunner("exported/")
        source = runner.prepare_source("face.png")
        reference = runner.detect_keypoints(first_frame)
        scale = runner.movement_scale(source, reference)
        for batch in batches:
            frames = runner.render(source, batch, reference=reference, movement_scale=scale)

    Args:
        folder: the export folder (with ``export_config.json``).
        providers: ONNX Runtime execution providers, e.g. ``["CUDAExecutionProvider", "CPUExecutionProvider"]``
            (default: ONNX Runtime's available providers, best first).
        session_options: an ``onnxruntime.SessionOptions`` (threads, graph optimisation level, ...).
    """

    def __init__(self, folder: str | os.PathLike, *, providers: Sequence | None = None, session_options=None):
        try:
            import onnxruntime
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError('OnnxTalkingHeadRunner needs onnxruntime: pip install "mcc-hf[onnx]"') from e
        self.config = ExportConfig.load(folder)
        providers = list(providers) if providers is not None else onnxruntime.get_available_providers()

        def session(name: str):
            path = os.path.join(folder, self.config.graphs[name])
            return onnxruntime.InferenceSession(path, sess_options=session_options, providers=providers)

        self._source = session("source")
        self._keypoints = session("keypoints")
        self._frame = session("frame")

    @property
    def sample_size(self) -> int:
        return self.config.sample_size

    def _images(self, images) -> np.ndarray:
        """``[B, 3, S, S]`` float32 in ``[0, 1]`` from an array/tensor batch, one image, or a list of images."""
        if isinstance(images, np.ndarray) and images.ndim in (3, 4) and images.shape[-3] == 3 \
                and images.shape[-2:] == (self.sample_size, self.sample_size):
            array = images.astype(np.float32, copy=False)
            return array[None] if array.ndim == 3 else array
        import torch

        from ..image_processing import iter_frames, load_image, resize_to

        if isinstance(images, torch.Tensor) and images.ndim == 4:
            frames = images
        elif isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 3 and images.shape[0] in (1, 3, 4):
            frames = load_image(images)[None]
        elif isinstance(images, (list, tuple)):
            frames = torch.stack([load_image(image) for image in images])
        elif isinstance(images, np.ndarray) and images.ndim == 4:
            frames = torch.stack(list(iter_frames(images)))
        else:
            frames = load_image(images)[None]
        return resize_to(frames.float(), self.sample_size).numpy().astype(np.float32, copy=False)

    def prepare_source(self, image) -> OnnxPreparedSource:
        """Keypoints and generator features of the source image (run once per video)."""
        source = self._images(image)[:1]
        value, jacobian, *features = self._source.run(None, {"source": source})
        return OnnxPreparedSource(image=source, value=value, jacobian=jacobian, features=features)

    def detect_keypoints(self, frames) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints ``[B, K, 2]`` and Jacobians ``[B, K, 2, 2]`` of frames (e.g. the reference frame)."""
        value, jacobian = self._keypoints.run(None, {"frames": self._images(frames)})
        return value, jacobian

    @staticmethod
    def movement_scale(source: OnnxPreparedSource, reference: tuple[np.ndarray, np.ndarray]) -> float:
        """The relative-motion scale of ``adapt_scale``: sqrt of the ratio of the keypoint convex-hull areas
        of the source and the reference frame (1 when the reference's hull is degenerate)."""
        import torch

        from ..motion.keypoints import convex_hull_area

        reference_area = convex_hull_area(torch.from_numpy(np.asarray(reference[0])[0]))
        if reference_area <= 0:
            return 1.0
        return math.sqrt(convex_hull_area(torch.from_numpy(source.value[0]))) / math.sqrt(reference_area)

    def render(
        self,
        source: OnnxPreparedSource,
        driving,
        *,
        reference: tuple[np.ndarray, np.ndarray] | None = None,
        movement_scale: float = 1.0,
        relative: bool = True,
    ) -> np.ndarray:
        """Animate one batch of driving frames: ``[B, 3, S, S]`` float32 in ``[0, 1]``.

        Args:
            source: from :meth:`prepare_source`.
            driving: the driving frames (``[B, 3, S, S]`` in ``[0, 1]``, or images).
            reference: keypoints of the driving frame the relative motion is measured from (from
                :meth:`detect_keypoints`); required when ``relative``.
            movement_scale: scale of the relative motion (see :meth:`movement_scale`; 1 for none).
            relative: transfer the driving motion since ``reference`` onto the source keypoints (the
                pipeline's default); ``False`` uses the driving keypoints as they are.
        """
        if relative and reference is None:
            raise ValueError("relative mode needs the reference frame's keypoints (detect_keypoints)")
        reference_value, reference_jacobian = reference if reference is not None else (source.value, source.jacobian)
        feeds = {
            "driving": self._images(driving),
            "source": source.image,
            "source_value": source.value,
            "source_jacobian": source.jacobian,
            "reference_value": np.asarray(reference_value[:1], dtype=np.float32),
            "reference_jacobian": np.asarray(reference_jacobian[:1], dtype=np.float32),
            "movement_scale": np.asarray(movement_scale, dtype=np.float32),
            "relative": np.asarray(relative, dtype=np.bool_),
        }
        feeds.update(zip(self.config.frame_inputs[-len(source.features):], source.features))
        (frames,) = self._frame.run(None, feeds)
        return frames

    def animate(self, source_image, driving_frames: Iterable, *, relative: bool = True, adapt_scale: bool = True,
                batch_size: int = 4) -> Iterator[np.ndarray]:
        """Animate ``source_image`` with a sequence of driving frames, as the pipeline does for
        pre-cropped faces: the first driving frame is the motion reference. Yields batches
        ``[B, 3, S, S]`` in ``[0, 1]``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        source = self.prepare_source(source_image)
        reference, scale = None, 1.0
        batch: list = []

        def flush() -> np.ndarray:
            nonlocal reference, scale
            frames = np.concatenate([self._images(frame) for frame in batch])
            if relative and reference is None:
                reference = self.detect_keypoints(frames[:1])
                scale = self.movement_scale(source, reference) if adapt_scale else 1.0
            return self.render(source, frames, reference=reference, movement_scale=scale, relative=relative)

        for frame in driving_frames:
            batch.append(frame)
            if len(batch) == batch_size:
                yield flush()
                batch = []
        if batch:
            yield flush()
