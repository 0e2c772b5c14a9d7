# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Model-level verbs on top of the three networks, with the source side computed once per video.

This is the middle layer between the pure modules (:mod:`mcc_hf.motion`, :mod:`mcc_hf.generator`)
and the pipeline, which owns file and image I/O. Every tensor here is on the model's device, in
the model's dtype and in the model range ``[-1, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .generator import CompensatoryGenerator, GeneratorOutput, SourceFeatures
from .motion.dense_motion import DenseMotionNetwork, DenseMotionOutput
from .motion.keypoint_detector import KeypointDetector
from .motion.keypoints import Keypoints, adapt_movement_scale, normalize_keypoints
from .motion.smoothing import KeypointSmoother

__all__ = ["AnimationResult", "Animator", "MotionTransfer", "PreparedSource"]


@dataclass
class PreparedSource:
    """What every frame of an animation reuses from the source image.

    Args:
        image: ``[1, 3, H, W]`` source image in ``[-1, 1]`` at the model size.
        keypoints: its keypoints.
        features: its generator features.
    """

    image: torch.Tensor
    keypoints: Keypoints
    features: SourceFeatures


@dataclass
class AnimationResult:
    """One rendered batch.

    Args:
        sample: ``[B, 3, H, W]`` frames in ``[-1, 1]`` (not clamped).
        keypoints: the driving keypoints the frames were rendered with (after any relative transfer).
        dense_motion: the dense-motion output (initial flow and occlusion).
        generator_output: the generator output (per-scale flows and occlusions).
    """

    sample: torch.Tensor
    keypoints: Keypoints
    dense_motion: DenseMotionOutput
    generator_output: GeneratorOutput


class Animator:
    """Renders driving keypoints onto a prepared source image.

    The animator keeps references to the three networks (it does not copy them). For speed,
    :meth:`set_memory_format` stores the per-frame generator modules' weights in the activations'
    layout (channels-last makes the CPU convolutions markedly faster, with the same results up to
    float rounding), and :meth:`prepare_source` can precompute the codebook keys and values of the
    generator's transformers (``cache_codes``): a source prepared that way is tied to the weights it
    was prepared with, so prepare it again after changing them.
    """

    def __init__(self, keypoint_detector: KeypointDetector, dense_motion: DenseMotionNetwork,
                 generator: CompensatoryGenerator):
        self.keypoint_detector = keypoint_detector
        self.dense_motion = dense_motion
        self.generator = generator
        self.memory_format = torch.contiguous_format

    @property
    def modules(self) -> tuple[KeypointDetector, DenseMotionNetwork, CompensatoryGenerator]:
        return self.keypoint_detector, self.dense_motion, self.generator

    def set_memory_format(self, memory_format: torch.memory_format) -> None:
        """Lay out the per-frame generator modules' weights and the prepared source features in
        ``memory_format`` (the source encoder, run once per video, and the motion networks keep theirs)."""
        if memory_format == self.memory_format:
            return
        generator = self.generator
        for module in (generator.decoder, generator.fusion, generator.motion_compensator, generator.appearance_compensator):
            if module is not None:
                module.to(memory_format=memory_format)
        self.memory_format = memory_format

    def prepare_source(self, image: torch.Tensor, *, cache_codes: bool = True) -> PreparedSource:
        """``[1, 3, H, W]`` in ``[-1, 1]`` -> :class:`PreparedSource` (source keypoints and features).

        Args:
            cache_codes: also project the codebooks into every transformer layer's keys and values once,
                instead of once per frame (inference; the result must be prepared again after a weight change).
        """
        features = self.generator.encode_source(image, project_codes=cache_codes)
        features = features.contiguous(self.memory_format)
        return PreparedSource(image=image, keypoints=self.keypoint_detector(image), features=features)

    def detect_keypoints(self, images: torch.Tensor) -> Keypoints:
        """``[B, 3, H, W]`` in ``[-1, 1]`` -> keypoints."""
        return self.keypoint_detector(images)

    def render(self, source: PreparedSource, keypoints: Keypoints) -> AnimationResult:
        """Render one batch of frames from ``keypoints`` (batch B) on the prepared source."""
        motion = self.dense_motion(source.image, keypoints, source.keypoints)
        output = self.generator(source.features, motion.deformation, motion.occlusion, motion.driving_heatmap)
        return AnimationResult(sample=output.sample, keypoints=keypoints, dense_motion=motion, generator_output=output)


class MotionTransfer:
    """Turns the keypoints of consecutive driving frames into the keypoints to render, in order.

    Driving keypoints are smoothed over time (if ``smoothing`` > 0). In relative mode (FOMM) the
    driving motion since a *reference* driving frame is applied to the source keypoints, scaled by the
    ratio of the source and reference keypoint-hull sizes (``adapt_scale``); the reference is the
    first frame seen unless one is set. In absolute mode the driving keypoints are used as they are.

    Args:
        source: the prepared source.
        relative: relative (``True``) or absolute motion.
        adapt_scale: in relative mode, scale the motion by the hull-size ratio.
        smoother: temporal smoothing of the driving keypoints (state carries over calls).
        reference: keypoints of the reference driving frame (default: the first frame passed).
    """

    def __init__(self, source: PreparedSource, *, relative: bool = True, adapt_scale: bool = True,
                 smoother: KeypointSmoother | None = None, reference: Keypoints | None = None):
        self.source = source
        self.relative = relative
        self.adapt_scale = adapt_scale
        self.smoother = smoother or KeypointSmoother(0.0)
        self.reference: Keypoints | None = None
        self.movement_scale = 1.0
        if reference is not None:
            self.set_reference(reference)

    def set_reference(self, reference: Keypoints | None) -> None:
        """Measure relative motion from ``reference`` (``[1, K, ...]`` keypoints); ``None``: from the next frame."""
        self.reference = reference
        self.movement_scale = 1.0
        if reference is not None and self.adapt_scale:
            self.movement_scale = adapt_movement_scale(self.source.keypoints, reference)

    def __call__(self, driving: Keypoints) -> Keypoints:
        """Keypoints of ``B`` consecutive driving frames -> the keypoints to render them with."""
        driving = self.smoother(driving)
        if not self.relative:
            return driving
        if self.reference is None:
            self.set_reference(driving[0:1])
        return normalize_keypoints(self.source.keypoints, driving, self.reference, movement_scale=self.movement_scale)
