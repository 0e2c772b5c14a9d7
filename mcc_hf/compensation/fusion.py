# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Fusion of a compensated source feature into the decoder: spatial feature transform, then addition."""

from __future__ import annotations

import torch
from torch import nn

from ..layers import ResnetBlock

__all__ = ["FeatureFusion"]


class FeatureFusion(nn.Module):
    """Fuses a compensated feature ``F`` into the decoder feature ``x`` (both ``[B, C, s, s]``).

    ``h = ResBlock(cat(F, x))``; ``x = x + (x * scale(h) + shift(h))`` (SFT, with scale and shift
    each ``conv3x3 -> LeakyReLU(0.2) -> conv3x3``); then ``x = x + conv3x3(F)``.
    """

    def __init__(self, channels: int, num_groups: int):
        super().__init__()
        self.condition = ResnetBlock(2 * channels, channels, num_groups)
        self.scale = self._modulation(channels)
        self.shift = self._modulation(channels)
        self.add = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    @staticmethod
    def _modulation(channels: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        )

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        condition = self.condition(torch.cat([feature, x], dim=1))
        if torch.is_grad_enabled():
            x = x + (x * self.scale(condition) + self.shift(condition))
            return x + self.add(feature)
        # Inference: the same arithmetic in place (bit-identical, no full-size temporaries).
        x = self.scale(condition).mul_(x).add_(self.shift(condition)).add_(x)
        return x.add_(self.add(feature))
