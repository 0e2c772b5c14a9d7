# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""PatchGAN discriminator (pix2pix / VQGAN ``NLayerDiscriminator`` design), used only in training."""

from __future__ import annotations

import torch
from torch import nn

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(ModelMixin, ConfigMixin):
    r"""Maps an image to a grid of real/fake logits, one per overlapping patch.

    A 4x4 stride-2 convolution (LeakyReLU 0.2), ``num_layers - 1`` more 4x4 stride-2 convolutions
    without bias, each with BatchNorm and LeakyReLU (widths doubling up to ``8 * base_channels``),
    one 4x4 stride-1 block, and a 4x4 stride-1 convolution to one channel. The released setting
    (``base_channels=64, num_layers=4``) gives a 14x14 logit map for a 256x256 input and has
    6,960,961 parameters. The flat ``main`` layout matches VQGAN checkpoints.

    Parameters:
        in_channels (`int`, defaults to 3): image channels.
        base_channels (`int`, defaults to 64): width of the first layer.
        num_layers (`int`, defaults to 4): number of stride-2 convolutions.
    """

    @register_to_config
    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 4):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, base_channels, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        multiplier = 1
        for n in range(1, num_layers + 1):
            previous, multiplier = multiplier, min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers += [
                nn.Conv2d(base_channels * previous, base_channels * multiplier, kernel_size=4, stride=stride,
                          padding=1, bias=False),
                nn.BatchNorm2d(base_channels * multiplier),
                nn.LeakyReLU(0.2),
            ]
        layers.append(nn.Conv2d(base_channels * multiplier, 1, kernel_size=4, stride=1, padding=1))
        self.main = nn.Sequential(*layers)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` in ``[-1, 1]`` -> ``[B, 1, h, w]`` logits."""
        return self.main(images)
