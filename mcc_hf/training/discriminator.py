# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""PatchGAN discriminator (pix2pix / VQGAN ``NLayerDiscriminator`` design, optionally multi-scale as in
pix2pixHD), used only in training."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

__all__ = ["DiscriminatorOutput", "PatchDiscriminator"]


@dataclass
class DiscriminatorOutput(BaseOutput):
    """
    Args:
        logits: one ``[B, 1, h, w]`` map of real/fake logits per scale, finest scale first.
        features: per scale, the activations after every LeakyReLU (``[B, C_i, h_i, w_i]``), for feature matching.
    """

    logits: tuple[torch.Tensor, ...]
    features: tuple[tuple[torch.Tensor, ...], ...]


def _patch_layers(in_channels: int, base_channels: int, num_layers: int) -> list[nn.Module]:
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
    return layers


class PatchDiscriminator(ModelMixin, ConfigMixin):
    r"""Maps an image to grids of real/fake logits, one per overlapping patch, at one or more scales.

    At each scale: a 4x4 stride-2 convolution (LeakyReLU 0.2), ``num_layers - 1`` more 4x4 stride-2
    convolutions without bias, each with BatchNorm and LeakyReLU (widths doubling up to
    ``8 * base_channels``), one 4x4 stride-1 block, and a 4x4 stride-1 convolution to one channel.
    Scale ``s`` sees the image average-pooled ``s`` times by 2 (pix2pixHD's multi-scale discriminator);
    each scale has its own weights. The released setting (``base_channels=64, num_layers=4,
    num_scales=1``) gives a 14x14 logit map for a 256x256 input and has 6,960,961 parameters.

    Parameters:
        in_channels (`int`, defaults to 3): image channels.
        base_channels (`int`, defaults to 64): width of the first layer.
        num_layers (`int`, defaults to 4): number of stride-2 convolutions.
        num_scales (`int`, defaults to 1): number of image scales (1 as released; pix2pixHD uses 3).
    """

    @register_to_config
    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 4, num_scales: int = 1):
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"num_scales must be at least 1, got {num_scales}")
        self.scales = nn.ModuleList(
            nn.Sequential(*_patch_layers(in_channels, base_channels, num_layers)) for _ in range(num_scales)
        )
        self.apply(self._init_weights)

    @property
    def min_input_size(self) -> int:
        """Smallest image side every scale can process (each scale needs ``3 * 2**num_layers`` pixels)."""
        return 3 * 2 ** self.config.num_layers * 2 ** (self.config.num_scales - 1)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor, return_dict: bool = True) -> DiscriminatorOutput | tuple:
        """``[B, C, H, W]`` in ``[-1, 1]`` -> :class:`DiscriminatorOutput` (logits and features per scale)."""
        logits, features = [], []
        for index, layers in enumerate(self.scales):
            if index:
                images = F.avg_pool2d(images, 3, stride=2, padding=1, count_include_pad=False)
            activations, x = [], images
            for layer in layers:
                x = layer(x)
                if isinstance(layer, nn.LeakyReLU):
                    activations.append(x)
            logits.append(x)
            features.append(tuple(activations))
        if not return_dict:
            return tuple(logits), tuple(features)
        return DiscriminatorOutput(logits=tuple(logits), features=tuple(features))
