# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Dense motion network: from sparse keypoint motions to a dense flow and an occlusion map (FOMM design)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from ..layers import AntiAliasDownsample, Float32Conv2d
from .geometry import (
    apply_2x2, blend_motions, compute_dtype, grid_sample, identity_grid, keypoint_gaussians, matmul_2x2,
)
from .hourglass import Hourglass, checkpoint_keeping_batch_norm_statistics
from .keypoints import Keypoints, inverse_2x2

__all__ = ["DenseMotionNetwork", "DenseMotionOutput"]


@dataclass
class DenseMotionOutput(BaseOutput):
    """
    All four are in the keypoints' dtype (float32 or wider). The model sets every field (the defaults
    only let the output be rebuilt from a mapping, as accelerate's device hooks do).

    Args:
        deformation: ``[B, h, w, 2]`` sampling grid from driving to source (the initial flow M^0).
        occlusion: ``[B, 1, h, w]`` occlusion map in ``(0, 1)`` (after the sigmoid).
        driving_heatmap: ``[B, K, h, w]`` Gaussians of the driving keypoints (peak 1), the
            driving-keypoint signal the generator receives.
        mask: ``[B, K + 1, h, w]`` softmax weights of the background and the K sparse motions.
    """

    deformation: torch.Tensor
    occlusion: torch.Tensor | None = None
    driving_heatmap: torch.Tensor | None = None
    mask: torch.Tensor | None = None


class DenseMotionNetwork(ModelMixin, ConfigMixin):
    r"""Estimates the dense flow from the driving frame to the source image.

    On the source downsampled by ``scale_factor`` (``h x w``), each keypoint k defines the affine
    motion ``z -> J_s,k J_d,k^-1 (z - kp_d,k) + kp_s,k``; with the identity (background) they form
    K + 1 sparse motions. The source warped by each of them (``grid_sample`` with
    ``align_corners=False``) and the driving-minus-source keypoint Gaussians go through an
    hourglass, whose output gives a softmax mask over the K + 1 motions (their weighted sum is the
    dense flow) and, through a sigmoid, the occlusion map.

    The sparse motions and the two heads (``mask``, ``occlusion``) compute in the keypoints' precision
    (float32 or wider; half-precision loading keeps the heads in float32, ``_keep_in_fp32_modules``);
    the hourglass runs in the source image's dtype.

    Parameters:
        num_keypoints (`int`, defaults to 15): number of keypoints K.
        in_channels (`int`, defaults to 3): image channels.
        block_expansion (`int`, defaults to 64): hourglass base width.
        max_features (`int`, defaults to 1024): hourglass width cap.
        num_blocks (`int`, defaults to 5): hourglass depth.
        scale_factor (`float`, defaults to 0.25): resolution of the motion field relative to the image.
        keypoint_variance (`float`, defaults to 0.01): variance of the keypoint Gaussians.
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["Hourglass"]
    _keep_in_fp32_modules = ["mask", "occlusion"]
    _group_offload_block_modules = ["hourglass", "encoder", "decoder"]

    @register_to_config
    def __init__(
        self,
        num_keypoints: int = 15,
        in_channels: int = 3,
        block_expansion: int = 64,
        max_features: int = 1024,
        num_blocks: int = 5,
        scale_factor: float = 0.25,
        keypoint_variance: float = 0.01,
    ):
        super().__init__()
        self.down = AntiAliasDownsample(in_channels, scale_factor) if scale_factor != 1 else nn.Identity()
        self.hourglass = Hourglass(
            block_expansion, (num_keypoints + 1) * (in_channels + 1), num_blocks, max_features
        )
        self.mask = Float32Conv2d(self.hourglass.out_channels, num_keypoints + 1, kernel_size=7, padding=3)
        self.occlusion = Float32Conv2d(self.hourglass.out_channels, 1, kernel_size=7, padding=3)

    def enable_gradient_checkpointing(self, gradient_checkpointing_func: Callable | None = None) -> None:
        """Recompute the hourglass blocks in the backward pass instead of storing their activations.

        The default function (:func:`~mcc_hf.motion.hourglass.checkpoint_keeping_batch_norm_statistics`)
        keeps the BatchNorm running statistics exactly as a step without checkpointing leaves them.
        """
        super().enable_gradient_checkpointing(gradient_checkpointing_func or checkpoint_keeping_batch_norm_statistics)

    def sparse_motions(self, kp_driving: Keypoints, kp_source: Keypoints, height: int, width: int) -> torch.Tensor:
        """The background (identity) and K keypoint motions as sampling grids ``[B, K + 1, h, w, 2]``
        (float32, or float64 for float64 keypoints, also under autocast)."""
        work = compute_dtype(kp_driving.value.dtype)
        grid = identity_grid(height, width, device=kp_driving.value.device, dtype=work)
        b, k = kp_driving.value.shape[:2]
        relative = grid.view(1, 1, height, width, 2) - kp_driving.value.view(b, k, 1, 1, 2)
        affine = matmul_2x2(kp_source.jacobian, inverse_2x2(kp_driving.jacobian))  # [B, K, 2, 2]
        relative = apply_2x2(affine.view(b, k, 1, 1, 2, 2), relative)
        driving_to_source = relative + kp_source.value.view(b, k, 1, 1, 2)
        background = grid.view(1, 1, height, width, 2).expand(b, 1, height, width, 2)
        return torch.cat([background, driving_to_source], dim=1)

    def forward(
        self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints, return_dict: bool = True
    ) -> DenseMotionOutput | tuple:
        """
        Args:
            source_image: ``[B, C, H, W]`` in ``[-1, 1]``; a batch of one is broadcast over the keypoints.
            kp_driving: driving keypoints (batch B).
            kp_source: source keypoints (batch B or 1).
            return_dict: return a :class:`DenseMotionOutput` instead of the tuple
                ``(deformation, occlusion, driving_heatmap, mask)``.

        Returns:
            :class:`DenseMotionOutput` on the ``h x w = H*scale x W*scale`` grid.
        """
        batch = kp_driving.batch_size
        kp_source = kp_source.expand(batch)
        source = self.down(source_image)
        source = source.expand(batch, -1, -1, -1) if source.shape[0] == 1 else source
        _, c, h, w = source.shape
        k = self.config.num_keypoints

        # Geometry is computed and returned in float32 (float64 for float64 keypoints), also under autocast.
        variance = self.config.keypoint_variance
        gaussian_driving = keypoint_gaussians(kp_driving.value, h, w, variance)
        gaussian_source = keypoint_gaussians(kp_source.value, h, w, variance)
        heatmaps = F.pad(gaussian_driving - gaussian_source, (0, 0, 0, 0, 1, 0))  # zero background channel first

        motions = self.sparse_motions(kp_driving, kp_source, h, w)  # [B, K+1, h, w, 2]
        deformed = grid_sample(
            source.unsqueeze(1).expand(batch, k + 1, c, h, w).reshape(batch * (k + 1), c, h, w),
            motions.reshape(batch * (k + 1), h, w, 2),
            align_corners=False,
        ).view(batch, k + 1, c, h, w)

        # Per motion: [heatmap, warped source channels] -> [B, (K+1)*(C+1), h, w], in the image's dtype.
        hourglass_input = torch.cat([heatmaps.unsqueeze(2).to(source.dtype), deformed], dim=2).view(batch, -1, h, w)
        features = self.hourglass(hourglass_input)

        mask = F.softmax(self.mask(features).to(motions.dtype), dim=1)  # [B, K+1, h, w], in the motions' float32 or float64
        deformation = blend_motions(mask, motions)
        occlusion = torch.sigmoid(self.occlusion(features).to(motions.dtype))
        output = DenseMotionOutput(
            deformation=deformation, occlusion=occlusion, driving_heatmap=gaussian_driving, mask=mask
        )
        return output if return_dict else output.to_tuple()
