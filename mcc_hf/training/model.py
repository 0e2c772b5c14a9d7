# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The trainable talking-head model: keypoint detector, dense motion and generator in one module.

Wrapping the three networks in one ``nn.Module`` lets ``accelerator.prepare`` put a single DDP
wrapper around everything that receives gradients, and keeps the per-step forward (including the
equivariance and codebook terms that need the networks' internals) in one ``forward``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..compensation.codebook import CodebookMatch
from ..generator import CompensatoryGenerator, GeneratorOutput
from ..motion.dense_motion import DenseMotionNetwork
from ..motion.keypoint_detector import KeypointDetector
from ..motion.keypoints import Keypoints
from .equivariance import RandomTPS
from .losses import equivariance_losses, keypoint_distance, motion_reconstruction_loss, vq_loss

__all__ = ["TalkingHeadTrainingModel", "TrainingForwardOutput"]


@dataclass
class TrainingForwardOutput:
    """
    Args:
        prediction: ``[B, 3, H, W]`` generated driving frame (model range, not clamped).
        low_res_prediction: ``[B, 3, H, W]`` the decode of the compensated coarsest feature alone.
        kp_source, kp_driving: keypoints of the two frames.
        generator_output: the full generator output.
        appearance_matches: the driving frame's appearance-codebook matches per scale (when the appearance
            codebook loss is on; the motion matches are in ``generator_output``).
        terms: unweighted model-internal loss terms (``motion_codebook``, ``motion_reconstruction``,
            ``appearance_codebook``, ``equivariance_value``, ``equivariance_jacobian``) that are enabled.
        logs: values logged but not optimised (``keypoint_distance``).
    """

    prediction: torch.Tensor
    low_res_prediction: torch.Tensor
    kp_source: Keypoints
    kp_driving: Keypoints
    generator_output: GeneratorOutput
    appearance_matches: list[CodebookMatch] = field(default_factory=list)
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


class TalkingHeadTrainingModel(nn.Module):
    """Runs one training forward pass on a (source, driving) pair.

    Args:
        keypoint_detector, dense_motion, generator: the three pipeline components (trained jointly).
        use_motion_codebook_loss, use_appearance_codebook_loss, use_motion_reconstruction_loss,
        use_equivariance: which model-internal terms to compute.
        codebook_beta: commitment weight of the VQ losses (0.25).
    """

    def __init__(
        self,
        keypoint_detector: KeypointDetector,
        dense_motion: DenseMotionNetwork,
        generator: CompensatoryGenerator,
        *,
        use_motion_codebook_loss: bool = True,
        use_motion_reconstruction_loss: bool = True,
        use_appearance_codebook_loss: bool = True,
        use_equivariance: bool = True,
        codebook_beta: float = 0.25,
    ):
        super().__init__()
        self.keypoint_detector = keypoint_detector
        self.dense_motion = dense_motion
        self.generator = generator
        self.use_motion_codebook_loss = use_motion_codebook_loss
        self.use_motion_reconstruction_loss = use_motion_reconstruction_loss
        self.use_appearance_codebook_loss = use_appearance_codebook_loss
        self.use_equivariance = use_equivariance
        self.codebook_beta = codebook_beta

    def freeze_motion_networks(self) -> None:
        """Fix the keypoint detector and the dense-motion network: no gradients, and eval mode (their
        BatchNorm statistics fixed) from now on, also after :meth:`train`."""
        for module in (self.keypoint_detector, self.dense_motion):
            module.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "TalkingHeadTrainingModel":
        super().train(mode)
        for module in (self.keypoint_detector, self.dense_motion):
            if not any(parameter.requires_grad for parameter in module.parameters()):
                module.eval()
        return self

    @property
    def last_decoder_weight(self) -> torch.Tensor:
        """The weight of the generator's output convolution (where the adaptive GAN weight is measured)."""
        return self.generator.decoder.blocks[-1].weight

    def forward(
        self, source: torch.Tensor, driving: torch.Tensor, transform: RandomTPS | None = None
    ) -> TrainingForwardOutput:
        """
        Args:
            source, driving: ``[B, 3, H, W]`` frames of one video in ``[-1, 1]``.
            transform: the random warp of the equivariance loss (needed when it is enabled).
        """
        kp_source = self.keypoint_detector(source)
        kp_driving = self.keypoint_detector(driving)
        motion = self.dense_motion(source, kp_driving, kp_source)
        output = self.generator(source, motion.deformation, motion.occlusion, motion.driving_heatmap)

        terms: dict[str, torch.Tensor] = {}
        if self.use_motion_codebook_loss and output.motion_matches:
            terms["motion_codebook"] = sum(vq_loss(m, self.codebook_beta) for m in output.motion_matches)
        if self.use_motion_reconstruction_loss and output.motion_reconstructions:
            # The reconstruction at scale k targets the flow that entered it, M^(k-1).
            terms["motion_reconstruction"] = motion_reconstruction_loss(
                output.motion_reconstructions, output.deformations[: len(output.motion_reconstructions)]
            )
        appearance_matches = self.generator.match_appearance(driving) if self.use_appearance_codebook_loss else []
        if appearance_matches:
            terms["appearance_codebook"] = sum(vq_loss(m, self.codebook_beta) for m in appearance_matches)
        if self.use_equivariance:
            if transform is None:
                raise ValueError("the equivariance loss needs a RandomTPS transform")
            kp_transformed = self.keypoint_detector(transform.warp_images(driving))
            terms["equivariance_value"], terms["equivariance_jacobian"] = equivariance_losses(
                kp_driving, kp_transformed, transform
            )
        logs = {"keypoint_distance": keypoint_distance(kp_source.value) + keypoint_distance(kp_driving.value)}
        return TrainingForwardOutput(
            prediction=output.sample,
            low_res_prediction=output.low_res_sample,
            kp_source=kp_source,
            kp_driving=kp_driving,
            generator_output=output,
            appearance_matches=appearance_matches,
            terms=terms,
            logs=logs,
        )
