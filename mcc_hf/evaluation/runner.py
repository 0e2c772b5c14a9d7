# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Runs every contender (model and baselines) on the same test frames and collects the metrics.

Protocols:

- ``reconstruction``: the source is frame ``source_frame`` of each clip and the driving video is the
  clip itself, so the driving frames are the ground truth. The source frame is animated like the
  others but left out of the scores (the ``static`` baseline reproduces it exactly).
  L1 / PSNR / SSIM / LPIPS / DINO_SIM compare the result with the ground-truth frame; AKD compares
  their landmarks; AED / CSIM compare their identity embeddings (FOMM protocol).
- ``cross-identity``: sources are the images of an image folder, assigned to the clips in turn.
  There is no ground truth: AKD compares the result's landmarks with the driving frame's (motion
  transfer, biased by the differing face shapes), AED / CSIM / DINO_SIM compare the result with the
  source image (identity and appearance preservation).

FID and FD_DINO compare all results of a contender with all real (driving) frames at once.
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

from ..errors import InvalidInputError, UserInputError
from ..image_processing import load_image, resize_to
from . import metrics as M
from .clips import Clip, find_clips, find_images, read_clip
from .contenders import Contender
from .faces import FaceMeasurer
from .perceptual import frechet_distance
from .report import write_strip
from .results import METRICS, POOLED_METRICS, EvaluationResult, EvaluationSettings, VideoResult

__all__ = ["METRICS", "EvaluationResult", "EvaluationSettings", "MetricModels", "VideoResult", "evaluate"]

logger = logging.getLogger(__name__)

_REAL = "__real__"  # the pooled features of the real frames, beside the contenders'


@dataclass
class MetricModels:
    """The learned models behind the optional metrics; ``None`` leaves a metric out.

    Args:
        faces: AKD / MKR / AED / CSIM (:class:`~mcc_hf.evaluation.faces.FaceMeasurer`).
        lpips: ``(result, target) -> [T]`` on ``[T, 3, S, S]`` in ``[0, 1]`` (:func:`~mcc_hf.evaluation.perceptual.load_lpips`).
        fid: ``features(frames) -> [T, D]`` Inception features (:class:`~mcc_hf.evaluation.perceptual.FIDFeatures`).
        dino: ``features(frames) -> [T, D]`` for FD_DINO and DINO_SIM (:class:`~mcc_hf.evaluation.dino.DINOFeatures`).
    """

    faces: FaceMeasurer | None = None
    lpips: object | None = None
    fid: object | None = None
    dino: object | None = None


@dataclass
class _Sample:
    """One clip ready to animate, at the evaluation resolution (images ``[.., 3, S, S]`` in ``[0, 1]``)."""

    clip: Clip
    frames: torch.Tensor  # [T, 3, S, S] driving frames
    source: torch.Tensor  # [3, S, S]
    source_name: str
    scored: list[int]  # the frames that are scored (all but the source frame in reconstruction)
    face_frames: list[int]  # the scored frames whose faces are measured

    @property
    def target(self) -> torch.Tensor:
        """``[N, 3, S, S]`` the scored driving frames (the ground truth in reconstruction)."""
        return self.frames[self.scored]


@dataclass
class _References:
    """What the results of one clip are compared with; computed once per clip for all contenders.

    ``landmarks`` ``[F, 68, 2]`` of the driving frames; ``identity`` dlib embeddings ``[F, 128]`` of the
    driving frames (reconstruction) or ``[128]`` of the source image (cross-identity); ``appearance``
    DINO features ``[N, D]`` of the target frames or ``[D]`` of the source image; ``real`` the pooled
    metrics' features of the real frames, ``{metric: [N, D]}``.
    """

    landmarks: np.ndarray | None = None
    identity: np.ndarray | None = None
    appearance: np.ndarray | None = None
    real: dict[str, np.ndarray] = field(default_factory=dict)


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


class _Tally:
    """Per-frame values, pooled features and animation time of every contender, over all clips."""

    def __init__(self, names: list[str]):
        self.names = names
        self.values: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in names}
        self.pooled: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in names + [_REAL]}
        self.seconds = {name: 0.0 for name in names}

    def add(self, name: str, values: dict[str, np.ndarray], pooled: dict[str, np.ndarray]) -> dict[str, float]:
        """Record one clip's per-frame values and features of contender ``name``; returns the clip's means."""
        row = {}
        for metric, frame_values in values.items():
            frame_values = np.atleast_1d(np.asarray(frame_values, dtype=np.float64))
            self.values[name].setdefault(metric, []).append(frame_values)
            row[metric] = _mean(frame_values)
        for metric, features in pooled.items():
            self.pooled[name].setdefault(metric, []).append(features)
        return row

    def add_real(self, pooled: dict[str, np.ndarray]) -> None:
        """Record one clip's features of the real frames (the reference of the pooled metrics)."""
        for metric, features in pooled.items():
            self.pooled[_REAL].setdefault(metric, []).append(features)

    def overall(self) -> dict[str, dict[str, float]]:
        """``{contender: {metric: mean over all frames}}``."""
        return {name: {m: _mean(np.concatenate(chunks)) for m, chunks in self.values[name].items()} for name in self.names}

    def frechet(self, metric: str) -> dict[str, float]:
        """``{contender: Fréchet distance of its pooled ``metric`` features to the real frames'}``."""
        real = np.concatenate(self.pooled[_REAL][metric])
        return {name: frechet_distance(np.concatenate(self.pooled[name][metric]), real) for name in self.names}


class _Scorer:
    """Measures the references of a clip and scores each contender's result against them."""

    def __init__(self, settings: EvaluationSettings, models: MetricModels):
        self.settings = settings
        self.models = models
        self._sources: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}

    def references(self, sample: _Sample) -> _References:
        faces, fid, dino = self.models.faces, self.models.fid, self.models.dino
        references = _References()
        if faces is not None:
            track = faces.measure(sample.frames[sample.face_frames])
            references.landmarks, references.identity = track.landmarks, track.embeddings
        if fid is not None:
            references.real["fid"] = fid.features(sample.target)
        if dino is not None:
            references.real["fd_dino"] = references.appearance = dino.features(sample.target)
        if self.settings.mode == "cross-identity":
            references.identity, references.appearance = self._source_references(sample)
        return references

    def _source_references(self, sample: _Sample) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Identity embedding ``[128]`` and DINO features ``[D]`` of the source image, measured once per image."""
        if sample.source_name not in self._sources:
            faces, dino = self.models.faces, self.models.dino
            identity = faces.measure(sample.source[None]).embeddings[0] if faces is not None else None
            appearance = dino.features(sample.source[None])[0] if dino is not None else None
            self._sources[sample.source_name] = (identity, appearance)
        return self._sources[sample.source_name]

    def score(self, result: torch.Tensor, sample: _Sample, references: _References):
        """Per-frame values ``{metric: [N]}`` and pooled features ``{metric: [N, D]}`` of one result ``[T, 3, S, S]``."""
        produced = result[sample.scored]
        values: dict[str, np.ndarray] = {}
        pooled: dict[str, np.ndarray] = {}
        if self.settings.mode == "reconstruction":
            values.update(self._frame_metrics(produced, sample.target))
        if self.models.faces is not None:
            values.update(self._face_metrics(result[sample.face_frames], references))
        if self.models.fid is not None:
            pooled["fid"] = self.models.fid.features(produced)
        if self.models.dino is not None:
            pooled["fd_dino"] = features = self.models.dino.features(produced)
            values["dino_sim"] = M.cosine_similarity(features, references.appearance)
        return values, pooled

    def _frame_metrics(self, produced: torch.Tensor, target: torch.Tensor) -> dict[str, np.ndarray]:
        values = {
            "l1": M.l1_distance(produced, target).numpy(),
            "psnr": M.psnr(produced, target).numpy(),
            "ssim": M.ssim(produced, target).numpy(),
        }
        if self.models.lpips is not None:
            values["lpips"] = self.models.lpips(produced, target).double().cpu().numpy()
        return values

    def _face_metrics(self, frames: torch.Tensor, references: _References) -> dict[str, np.ndarray]:
        track = self.models.faces.measure(frames)
        return {
            "akd": M.average_keypoint_distance(track.landmarks, references.landmarks),
            "mkr": M.missing_face_rate(track.landmarks, references.landmarks),
            "aed": M.identity_distance(track.embeddings, references.identity),
            "csim": M.cosine_similarity(track.embeddings, references.identity),
        }


def evaluate(
    contenders: list[Contender],
    settings: EvaluationSettings,
    *,
    face_measurer: FaceMeasurer | None = None,
    lpips=None,
    fid=None,
    dino=None,
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
        dino: an object with ``features(frames) -> [T, D]`` for FD_DINO and DINO_SIM (see
            :class:`mcc_hf.evaluation.dino.DINOFeatures`), or ``None``.
        not_computed: ``{metric: reason}`` for metrics the caller could not set up.
        strip_dir: where to write a source | driving | results PNG per clip (``None``: no strips).
    """
    names = _unique_names(contenders)
    clips = find_clips(settings.data, settings.max_videos)
    sources = find_images(settings.images) if settings.mode == "cross-identity" else []
    scorer = _Scorer(settings, MetricModels(faces=face_measurer, lpips=lpips, fid=fid, dino=dino))
    tally = _Tally(names)
    videos: list[VideoResult] = []
    skipped: dict[str, str] = {}
    for index, clip in enumerate(tqdm(clips, desc="evaluating", unit="video")):
        try:
            sample = _load_sample(clip, index, settings, sources)
        except InvalidInputError as e:
            logger.warning("skipping %s: %s", clip.path.name, e)
            skipped[clip.path.name] = str(e)
            continue
        videos.append(_evaluate_clip(sample, contenders, scorer, tally, strip_dir, settings))
    if not videos:
        raise UserInputError(f"none of the {len(clips)} clip(s) in {settings.data} could be evaluated: {skipped}")
    return _result(settings, contenders, tally, videos, skipped, _not_computed(settings, not_computed))


def _unique_names(contenders: list[Contender]) -> list[str]:
    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise UserInputError(f"contender names must be unique, got {names}")
    return names


def _load_sample(clip: Clip, index: int, settings: EvaluationSettings, sources: list[Path]) -> _Sample:
    """Decode and resize a clip and pick its source and scored frames.

    Raises:
        InvalidInputError: the clip cannot be decoded, or is too short for reconstruction (it is skipped).
    """
    size = settings.resolution
    frames = resize_to(read_clip(clip.path, settings.max_frames), size)
    if settings.mode == "reconstruction":
        needed = max(settings.source_frame, 1)
        if len(frames) <= needed:
            raise InvalidInputError(f"only {len(frames)} frame(s); reconstruction needs more than {needed}")
        source = frames[settings.source_frame]
        source_name = f"{clip.path.name}[{settings.source_frame}]"
        scored = [t for t in range(len(frames)) if t != settings.source_frame]
    else:
        source_path = sources[index % len(sources)]
        source = resize_to(load_image(source_path)[None], size)[0]
        source_name = source_path.name
        scored = list(range(len(frames)))
    return _Sample(clip, frames, source, source_name, scored, face_frames=scored[:: settings.face_stride])


def _evaluate_clip(sample: _Sample, contenders: list[Contender], scorer: _Scorer, tally: _Tally,
                   strip_dir: str | Path | None, settings: EvaluationSettings) -> VideoResult:
    """Animate one clip with every contender, score the results and write its strip."""
    references = scorer.references(sample)
    tally.add_real(references.real)
    results: dict[str, torch.Tensor] = {}
    rows: dict[str, dict[str, float]] = {}
    for contender in contenders:
        start = time.perf_counter()
        results[contender.name] = contender.animate(sample.source, sample.frames).clamp(0, 1)
        tally.seconds[contender.name] += time.perf_counter() - start
        rows[contender.name] = tally.add(contender.name, *scorer.score(results[contender.name], sample, references))
    strip = None
    if strip_dir is not None and settings.strip_frames > 0:
        strip = _write_strip(Path(strip_dir), sample, results, settings)
    return VideoResult(
        video=sample.clip.path.name,
        identity=sample.clip.identity,
        source=sample.source_name,
        frames=len(sample.frames),
        scored_frames=len(sample.scored),
        metrics=rows,
        strip=strip,
    )


def _write_strip(strip_dir: Path, sample: _Sample, results: dict[str, torch.Tensor], settings: EvaluationSettings) -> str:
    """``strip_frames`` evenly spaced scored frames: source | ground truth (or driving) | each result."""
    picks = np.linspace(0, len(sample.scored) - 1, min(settings.strip_frames, len(sample.scored))).round().astype(int)
    shown = [sample.scored[p] for p in picks]
    return write_strip(
        strip_dir / f"{sample.clip.name}.png",
        sample.source,
        sample.frames[shown],
        {name: result[shown] for name, result in results.items()},
        driving_label="ground truth" if settings.mode == "reconstruction" else "driving",
    )


def _not_computed(settings: EvaluationSettings, given: dict[str, str] | None) -> dict[str, str]:
    """The caller's ``{metric: reason}``, plus the ground-truth metrics in cross-identity mode."""
    not_computed = dict(given or {})
    if settings.mode == "cross-identity":
        for metric, info in METRICS.items():
            if info.needs_ground_truth:
                not_computed[metric] = "no ground truth in cross-identity mode"
    return not_computed


def _result(settings: EvaluationSettings, contenders: list[Contender], tally: _Tally, videos: list[VideoResult],
            skipped: dict[str, str], not_computed: dict[str, str]) -> EvaluationResult:
    """Overall means, the pooled (Fréchet) metrics and the counts, as an :class:`EvaluationResult`."""
    overall = tally.overall()
    scored = sum(v.scored_frames for v in videos)
    for metric in POOLED_METRICS:
        if metric not in tally.pooled[_REAL]:
            continue
        if scored < 2:
            not_computed[metric] = f"a Fréchet distance needs at least 2 scored frames, got {scored}"
            continue
        for name, distance in tally.frechet(metric).items():
            overall[name][metric] = distance
    return EvaluationResult(
        settings=settings,
        overall=overall,
        videos=videos,
        skipped=skipped,
        not_computed=not_computed,
        contenders={c.name: c.description for c in contenders},
        seconds=tally.seconds,
        frames={"scored": scored, "decoded": sum(v.frames for v in videos)},
    )
