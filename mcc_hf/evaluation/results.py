# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""What an evaluation is asked to do and what it found: the metric table, :class:`EvaluationSettings`,
:class:`VideoResult` and :class:`EvaluationResult`. Plain data, shared by :mod:`.runner` (which fills
them) and :mod:`.report` (which writes them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..errors import UserInputError

__all__ = ["METRICS", "MODES", "POOLED_METRICS", "EvaluationResult", "EvaluationSettings", "MetricInfo", "VideoResult"]


class MetricInfo(NamedTuple):
    higher_is_better: bool
    needs_ground_truth: bool
    description: str


#: Every metric, in report order.
METRICS: dict[str, MetricInfo] = {
    "l1": MetricInfo(False, True, "mean absolute error, images in [0, 1]"),
    "psnr": MetricInfo(True, True, "peak signal-to-noise ratio (dB)"),
    "ssim": MetricInfo(True, True, "structural similarity, 11x11 Gaussian window, sigma 1.5"),
    "lpips": MetricInfo(False, True, "LPIPS (VGG16) perceptual distance"),
    "akd": MetricInfo(False, False, "average distance of the 68 dlib landmarks (pixels at the face resolution)"),
    "mkr": MetricInfo(False, False, "fraction of frames where the reference has a face and the result has none"),
    "aed": MetricInfo(False, False, "Euclidean distance of dlib ResNet identity embeddings"),
    "csim": MetricInfo(True, False, "cosine similarity of dlib ResNet identity embeddings"),
    "fid": MetricInfo(False, False, "Frechet Inception distance of all results to all real (driving) frames"),
    "fd_dino": MetricInfo(False, False, "Frechet distance of DINOv2 features of all results to all real (driving) frames"),
    "dino_sim": MetricInfo(True, False, "cosine similarity of DINOv2 features of the result and the ground-truth frame "
                                        "(reconstruction) or the source image (cross-identity)"),
}
#: Metrics computed over the pooled frames of all clips (no per-clip value).
POOLED_METRICS = ("fid", "fd_dino")
MODES = ("reconstruction", "cross-identity")


@dataclass
class EvaluationSettings:
    """What to evaluate and how (stored verbatim in ``metrics.json``).

    Args:
        data: folder of test clips.
        mode: ``"reconstruction"`` or ``"cross-identity"``.
        images: folder of source images for cross-identity (default: ``<data>/../images``).
        max_videos, max_frames: limits (``None``: all).
        source_frame: index of the source frame in reconstruction.
        resolution: side of the square frames the frame metrics are computed at.
        face_resolution: side of the square frames the face models see.
        face_stride: measure faces on every ``face_stride``-th evaluated frame (they cost ~0.25 s each).
        strip_frames: frames shown in each video's side-by-side strip.
    """

    data: str
    mode: str = "reconstruction"
    images: str | None = None
    max_videos: int | None = None
    max_frames: int | None = None
    source_frame: int = 0
    resolution: int = 256
    face_resolution: int = 256
    face_stride: int = 1
    strip_frames: int = 4

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserInputError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("max_videos", "max_frames"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserInputError(f"{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_frames is not None and self.mode == "reconstruction" and self.max_frames < 2:
            raise UserInputError("reconstruction needs max-frames >= 2 (the source frame is not scored)")
        if self.source_frame < 0:
            raise UserInputError(f"source-frame must be >= 0, got {self.source_frame}")
        if self.face_stride < 1:
            raise UserInputError(f"face-stride must be at least 1, got {self.face_stride}")
        if self.resolution < 11:
            raise UserInputError(f"the evaluation resolution must be at least 11 pixels, got {self.resolution}")
        if self.mode == "cross-identity" and self.images is None:
            self.images = str(Path(self.data).resolve().parent / "images")


@dataclass
class VideoResult:
    """Scores of one clip: ``metrics[contender][metric]`` is the mean over its scored frames."""

    video: str
    identity: str
    source: str
    frames: int
    scored_frames: int
    metrics: dict[str, dict[str, float]]
    strip: str | None = None


@dataclass
class EvaluationResult:
    """Everything the report needs.

    Args:
        overall: ``overall[contender][metric]``: mean over all scored frames of all clips.
        videos: per-clip results.
        skipped: ``{video: reason}`` for clips that could not be evaluated.
        not_computed: ``{metric: reason}`` for metrics left out.
        contenders: ``{name: description}``, the model first.
        seconds: ``{contender: seconds spent animating}``.
        frames: ``{"scored": ..., "decoded": ...}`` frame counts over all clips.
    """

    settings: EvaluationSettings
    overall: dict[str, dict[str, float]]
    videos: list[VideoResult]
    skipped: dict[str, str]
    not_computed: dict[str, str]
    contenders: dict[str, str]
    seconds: dict[str, float]
    frames: dict[str, int] = field(default_factory=dict)
