# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Unsupervised keypoint detector with local Jacobians (FOMM design)."""

from __future__ import annotations

import torch
from torch import nn

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ..layers import AntiAliasDownsample
from .hourglass import Hourglass
from .keypoints import Keypoints, keypoints_from_heatmaps

__all__ = ["KeypointDetector"]


class KeypointDetector(ModelMixin, ConfigMixin):
    r"""Predicts ``num_keypoints`` keypoints and a 2x2 Jacobian per keypoint from an image.

    The image is downsampled by ``scale_factor`` with an anti-aliasing filter, passed through an
    hourglass, and a 7x7 convolution *without padding* produces one heatmap per keypoint
    (so a 64x64 input gives 58x58 heatmaps, as in the released model). A softmax over all
    positions of ``logits / temperature`` turns each map into a distribution; the keypoint is its
    expected coordinate and the Jacobian is the heatmap-weighted average of four predicted maps
    (read row-major as ``[[a, b], [c, d]]``).

    Parameters:
        num_keypoints (`int`, defaults to 15): number of keypoints K.
        in_channels (`int`, defaults to 3): image channels.
        block_expansion (`int`, defaults to 32): hourglass base width.
        max_features (`int`, defaults to 1024): hourglass width cap.
        num_blocks (`int`, defaults to 5): hourglass depth; the downsampled size must be divisible by ``2**num_blocks``.
        temperature (`float`, defaults to 0.1): softmax temperature of the heatmaps.
        scale_factor (`float`, defaults to 0.25): input downsampling factor (``1/n``; 1 disables it).
    """

    @register_to_config
    def __init__(
        self,
        num_keypoints: int = 15,
        in_channels: int = 3,
        block_expansion: int = 32,
        max_features: int = 1024,
        num_blocks: int = 5,
        temperature: float = 0.1,
        scale_factor: float = 0.25,
    ):
        super().__init__()
        self.down = AntiAliasDownsample(in_channels, scale_factor) if scale_factor != 1 else nn.Identity()
        self.predictor = Hourglass(block_expansion, in_channels, num_blocks, max_features)
        self.kp = nn.Conv2d(self.predictor.out_channels, num_keypoints, kernel_size=7)
        self.jacobian = nn.Conv2d(self.predictor.out_channels, 4 * num_keypoints, kernel_size=7)
        # Start every Jacobian at the identity.
        nn.init.zeros_(self.jacobian.weight)
        with torch.no_grad():
            self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(num_keypoints))

    def forward(self, image: torch.Tensor) -> Keypoints:
        """
        Args:
            image: ``[B, C, H, W]`` images normalised to ``[-1, 1]``.

        Returns:
            :class:`Keypoints` with ``value [B, K, 2]`` and ``jacobian [B, K, 2, 2]``.
        """
        features = self.predictor(self.down(image))
        logits = self.kp(features)  # [B, K, h, w]
        b, k, h, w = logits.shape
        jacobian_maps = self.jacobian(features).reshape(b, k, 4, h, w)
        # Softmax, expectation and Jacobian averaging in float32 (also under autocast), returned in the model's dtype.
        return keypoints_from_heatmaps(logits, jacobian_maps, self.config.temperature, dtype=self.kp.weight.dtype)
