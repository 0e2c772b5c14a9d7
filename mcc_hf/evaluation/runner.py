# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Runs every contender (model and baselines) on the same test frames and collects the metrics.

Protocols:

- ``reconstruction``: the source is frame ``source_frame`` of each clip and the driving video is the
  clip itself, so the driving frames are the ground truth. The source frame is animated like the
  others but left out of the scores (the ``static`` baseline reproduces it exactly).
  L1 / PSNR / SSIM / LPIPS compare the result with the ground-truth frame; AKD compares their
  landmarks; AED / CSIM compare their identity embeddings (FOMM protocol).
- ``cross-identity``: sources are the images of an image folder, assigned to the clips in turn.
  There is no ground truth: AKD compares the result's landmarks with the driving frame's (motion
  transfer, biased by the differing face shapes), AED / CSIM compare the result with the source
  image's identity (identity preservation).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import UserInputError
from ..errors import InvalidInputError
from ..image_processing import load_image, resize_to
from . import metrics as M
from .clips import Clip, find_clips, find_images, read_clip
from .contenders import Contender
from .faces import FaceMeasurer, FaceTrack

__all__ = ["METRICS", "EvaluationResult", "EvaluationSettings", "VideoResult", "evaluate"]

logger = logging.getLogger(__name__)

# name -> (higher is better, needs ground truth, description)
METRICS: dict[str, tuple[bool, bool, str]] = {
    "l1": (False, True, "mean absolute error, images in [0, 1]"),
    "psnr": (True, True, "peak signal-to-noise ratio (dB)"),
    "ssim": (True, True, "structural similarity, 11x11 Gaussian window, sigma 1.5"),
    "lpips": (False, True, "LPIPS (VGG16) perceptual distance"),
    "akd": (False, False, "average distance of the 68 dlib landmarks (pixels at the face resolution)"),
    "mkr": (False, False, "fraction of frames where the reference has a face and the result has none"),
    "aed": (False, False, "Euclidean distance of dlib ResNet identity embeddings"),
    "csim": (True, False, "cosine similarity of dlib ResNet identity embeddings"),
    "fid": (False, False, "Frechet Inception distance of all results to all real (driving) frames"),
}
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
    """

    settings: EvaluationSettings
    overall: dict[str, dict[str, float]]
    videos: list[VideoResult]
    skipped: dict[str, str]
    not_computed: dict[str, str]
    contenders: dict[str, str]
    seconds: dict[str, float]
    frames: dict[str, int] = field(default_factory=dict)


class _Scores:
    """Per-frame values of one contender, pooled over clips."""

    def __init__(self):
        self.values: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, values) -> float:
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        self.values.setdefault(name, []).append(values)
        return _mean(values)

    def overall(self) -> dict[str, float]:
        return {name: _mean(np.concatenate(chunks)) for name, chunks in self.values.items()}


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


def _sources(settings: EvaluationSettings) -> list[Path]:
    if settings.mode != "cross-identity":
        return []
    return find_images(settings.images)


def evaluate(
    contenders: list[Contender],
    settings: EvaluationSettings,
    *,
    face_measurer: FaceMeasurer | None = None,
    lpips=None,
    fid=None,
    not_computed: dict[str, str] | None = None,
    strip_dir: str | Path | None = None,
) -> EvaluationResult:
    """Animate every clip with every contender and score the results.

    Args:
        contenders: the model first, then the baselines; names must be unique.
        settings: see :class:`EvaluationSettings`.
        face_measurer: computes AKD / MKR / AED / CSIM; ``None`` leaves them out (say why in ``not_computed``).
        lpips: a module ``(result, target) -> [T]`` tensor on ``[T, 3, S, S]`` in ``[0, 1]`` (see
            :func:`mcc_hf.evaluation.perceptual.load_lpips`), or ``None``.
        fid: an object with ``features(frames) -> [T, D]`` for FID over all frames, or ``None``.
        not_computed: ``{metric: reason}`` for metrics the caller could not set up.
        strip_dir: where to write a source | driving | results PNG per clip (``None``: no strips).
    """
    from .report import write_strip

    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise UserInputError(f"contender names must be unique, got {names}")
    not_computed = dict(not_computed or {})
    if settings.mode == "cross-identity":
        for metric in ("l1", "psnr", "ssim", "lpips"):
            not_computed[metric] = "no ground truth in cross-identity mode"
    clips = find_clips(settings.data, settings.max_videos)
    sources = _sources(settings)
    size = settings.resolution
    scores = {name: _Scores() for name in names}
    fid_features: dict[str, list[np.ndarray]] = {name: [] for name in names + ["__real__"]}
    seconds = {name: 0.0 for name in names}
    source_tracks: dict[Path, FaceTrack] = {}
    videos: list[VideoResult] = []
    skipped: dict[str, str] = {}

    for index, clip in enumerate(tqdm(clips, desc="evaluating", unit="video")):
        try:
            frames = resize_to(read_clip(clip.path, settings.max_frames), size)
        except InvalidInputError as e:
            logger.warning("skipping %s: %s", clip.path.name, e)
            skipped[clip.path.name] = str(e)
            continue
        if settings.mode == "reconstruction":
            if len(frames) <= max(settings.source_frame, 1):
                reason = f"only {len(frames)} frame(s); reconstruction needs more than {max(settings.source_frame, 1)}"
                logger.warning("skipping %s: %s", clip.path.name, reason)
                skipped[clip.path.name] = reason
                continue
            source = frames[settings.source_frame]
            source_name = f"{clip.path.name}[{settings.source_frame}]"
            scored = [t for t in range(len(frames)) if t != settings.source_frame]
        else:
            source_path = sources[index % len(sources)]
            source = resize_to(load_image(source_path)[None], size)[0]
            source_name = source_path.name
            scored = list(range(len(frames)))
        target = frames[scored]
        face_frames = scored[:: settings.face_stride]

        reference_track = source_track = None
        if face_measurer is not None:
            reference_track = face_measurer.measure(frames[face_frames])
            if settings.mode == "cross-identity":
                if source_name not in source_tracks:
                    source_tracks[source_name] = face_measurer.measure(source[None])
                source_track = source_tracks[source_name]
        if fid is not None:
            fid_features["__real__"].append(fid.features(target))

        per_video: dict[str, dict[str, float]] = {}
        results: dict[str, torch.Tensor] = {}
        for contender in contenders:
            start = time.perf_counter()
            result = contender.animate(source, frames).clamp(0, 1)
            seconds[contender.name] += time.perf_counter() - start
            results[contender.name] = result
            produced = result[scored]
            s = scores[contender.name]
            row: dict[str, float] = {}
            if settings.mode == "reconstruction":
                row["l1"] = s.add("l1", M.l1_distance(produced, target).numpy())
                row["psnr"] = s.add("psnr", M.psnr(produced, target).numpy())
                row["ssim"] = s.add("ssim", M.ssim(produced, target).numpy())
                if lpips is not None:
                    row["lpips"] = s.add("lpips", lpips(produced, target).double().cpu().numpy())
            if fid is not None:
                fid_features[contender.name].append(fid.features(produced))
            if face_measurer is not None:
                track = face_measurer.measure(result[face_frames])
                row["akd"] = s.add("akd", M.average_keypoint_distance(track.landmarks, reference_track.landmarks))
                row["mkr"] = s.add("mkr", M.missing_face_rate(track.landmarks, reference_track.landmarks))
                identity = reference_track.embeddings if source_track is None else source_track.embeddings[0]
                row["aed"] = s.add("aed", M.identity_distance(track.embeddings, identity))
                row["csim"] = s.add("csim", M.cosine_similarity(track.embeddings, identity))
            per_video[contender.name] = row

        strip = None
        if strip_dir is not None and settings.strip_frames > 0:
            picks = np.linspace(0, len(scored) - 1, min(settings.strip_frames, len(scored))).round().astype(int)
            strip = write_strip(
                Path(strip_dir) / f"{clip.name}.png",
                source,
                frames[[scored[p] for p in picks]],
                {name: results[name][[scored[p] for p in picks]] for name in names},
                driving_label="ground truth" if settings.mode == "reconstruction" else "driving",
            )
        videos.append(
            VideoResult(
                video=clip.path.name,
                identity=clip.identity,
                source=source_name,
                frames=len(frames),
                scored_frames=len(scored),
                metrics=per_video,
                strip=strip,
            )
        )

    if not videos:
        raise UserInputError(f"none of the {len(clips)} clip(s) in {settings.data} could be evaluated: {skipped}")
    overall = {name: scores[name].overall() for name in names}
    if fid is not None:
        from .perceptual import frechet_distance

        real = np.concatenate(fid_features["__real__"])
        for name in names:
            overall[name]["fid"] = frechet_distance(np.concatenate(fid_features[name]), real)
    frames_total = {"scored": sum(v.scored_frames for v in videos), "decoded": sum(v.frames for v in videos)}
    return EvaluationResult(
        settings=settings,
        overall=overall,
        videos=videos,
        skipped=skipped,
        not_computed=not_computed,
        contenders={c.name: c.description for c in contenders},
        seconds=seconds,
        frames=frames_total,
    )
