# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The FOMM hourglass (U-Net with BatchNorm) shared by the keypoint detector and the dense motion network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import upsample_conv3x3

__all__ = ["Hourglass"]


class DownBlock(nn.Module):
    """conv3x3 -> BatchNorm -> ReLU -> 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x)), inplace=True), kernel_size=2)


class UpBlock(nn.Module):
    """Nearest x2 upsample -> conv3x3 -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(upsample_conv3x3(x, self.conv)), inplace=True)


class HourglassEncoder(nn.Module):
    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        widths = [in_channels] + [min(max_features, block_expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock(widths[i], widths[i + 1]) for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = [x]
        for block in self.down_blocks:
            outputs.append(block(outputs[-1]))
        return outputs


class HourglassDecoder(nn.Module):
    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            width_in = min(max_features, block_expansion * 2 ** (i + 1)) * (1 if i == num_blocks - 1 else 2)
            blocks.append(UpBlock(width_in, min(max_features, block_expansion * 2**i)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_channels = block_expansion + in_channels

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[-1]
        for block, skip in zip(self.up_blocks, reversed(skips[:-1])):
            x = torch.cat([block(x), skip], dim=1)
        return x


class Hourglass(nn.Module):
    """Encoder-decoder with skip concatenations.

    Input ``[B, in_channels, H, W]`` (H and W divisible by ``2**num_blocks``) ->
    output ``[B, block_expansion + in_channels, H, W]`` (the last decoder feature concatenated with the input).
    """

    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = HourglassEncoder(block_expansion, in_channels, num_blocks, max_features)
        self.decoder = HourglassDecoder(block_expansion, in_channels, num_blocks, max_features)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
