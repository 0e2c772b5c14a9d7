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

__all__ = ["AnimationResult", "Animator", "PreparedSource"]


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

    Inference runs in ``memory_format`` (channels-last by default: the convolutions run markedly
    faster on CPU and GPU, with the same results up to float rounding); the weights of the
    generator's per-frame modules are converted to it in place when the animator is created.
    Under ``torch.no_grad()`` :meth:`prepare_source` also precomputes the codebook keys and values
    of the generator's transformers, so a prepared source is tied to the weights it was prepared
    with: prepare it again after changing them.
    """

    def __init__(self, keypoint_detector: KeypointDetector, dense_motion: DenseMotionNetwork,
                 generator: CompensatoryGenerator, memory_format: torch.memory_format = torch.channels_last):
        self.keypoint_detector = keypoint_detector
        self.dense_motion = dense_motion
        self.generator = generator
        self.memory_format = memory_format
        # Store the per-frame generator modules' weights in the activations' layout, so that no
        # convolution re-lays-out its weights on every call. The source encoder (run once) and the
        # motion networks keep theirs.
        per_frame = (generator.decoder, generator.fusion, generator.motion_compensator, generator.appearance_compensator)
        for module in per_frame:
            if module is not None:
                module.to(memory_format=memory_format)

    def prepare_source(self, image: torch.Tensor) -> PreparedSource:
        """``[1, 3, H, W]`` in ``[-1, 1]`` -> :class:`PreparedSource` (source keypoints and features)."""
        # The encoder runs once per video in the input's layout; the per-frame work reads its features
        # in ``memory_format``.
        features = self.generator.encode_source(image, project_codes=not torch.is_grad_enabled())
        features = features.contiguous(self.memory_format)
        return PreparedSource(image=image, keypoints=self.keypoint_detector(image), features=features)

    def detect_keypoints(self, images: torch.Tensor) -> Keypoints:
        """``[B, 3, H, W]`` in ``[-1, 1]`` -> keypoints."""
        return self.keypoint_detector(images)

    @staticmethod
    def movement_scale(source: PreparedSource, reference: Keypoints, adapt_scale: bool) -> float:
        """Scale applied to relative motion: the keypoint-hull size ratio if ``adapt_scale``, else 1."""
        return adapt_movement_scale(source.keypoints, reference) if adapt_scale else 1.0

    @staticmethod
    def transfer_keypoints(source: PreparedSource, driving: Keypoints, reference: Keypoints,
                           movement_scale: float) -> Keypoints:
        """Relative motion: driving motion since ``reference`` applied to the source keypoints."""
        return normalize_keypoints(source.keypoints, driving, reference, movement_scale=movement_scale)

    def render(self, source: PreparedSource, keypoints: Keypoints) -> AnimationResult:
        """Render one batch of frames from ``keypoints`` (batch B) on the prepared source."""
        motion = self.dense_motion(source.image, keypoints, source.keypoints)
        output = self.generator(source.features, motion.deformation, motion.occlusion, motion.driving_heatmap)
        return AnimationResult(sample=output.sample, keypoints=keypoints, dense_motion=motion, generator_output=output)
