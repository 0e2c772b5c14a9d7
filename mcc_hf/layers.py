# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Convolutional building blocks shared by the autoencoder and the compensation modules.

These are the VQGAN-style blocks the method builds on (GroupNorm + swish residual blocks,
single-head spatial self-attention, stride-2 convolution downsampling, nearest-neighbour
upsampling) plus the anti-aliased Gaussian downsampling used by the motion networks.
All blocks take and return NCHW tensors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AntiAliasDownsample",
    "Downsample",
    "ResnetBlock",
    "SpatialSelfAttention",
    "Upsample",
    "group_norm",
]


def group_norm(channels: int, num_groups: int) -> nn.GroupNorm:
    """GroupNorm with the VQGAN settings (eps 1e-6, affine)."""
    if channels % num_groups:
        raise ValueError(f"{channels} channels cannot be split into {num_groups} normalisation groups")
    return nn.GroupNorm(num_groups=num_groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """Pre-activation residual block: (GroupNorm, swish, conv3x3) twice, plus a 1x1 skip if the width changes.

    Input ``[B, in_channels, H, W]`` -> output ``[B, out_channels, H, W]``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, num_groups: int = 32):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.norm1 = group_norm(in_channels, num_groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm2 = group_norm(out_channels, num_groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.conv_out = nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inplace = not torch.is_grad_enabled()  # fewer full-size temporaries at inference
        h = self.conv1(F.silu(self.norm1(x), inplace=inplace))
        h = self.conv2(F.silu(self.norm2(h), inplace=inplace))
        skip = x if self.conv_out is None else self.conv_out(x)
        return h.add_(skip) if inplace else skip + h


class SpatialSelfAttention(nn.Module):
    """Single-head self-attention over all ``H*W`` positions with 1x1 q/k/v/output projections, residual.

    Input and output ``[B, C, H, W]``.
    """

    def __init__(self, channels: int, num_groups: int = 32):
        super().__init__()
        self.norm = group_norm(channels, num_groups)
        self.q = nn.Conv2d(channels, channels, kernel_size=1)
        self.k = nn.Conv2d(channels, channels, kernel_size=1)
        self.v = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # [B, C, H, W] -> [B, 1, H*W, C]: one head over every spatial position. The 1x1 projections act
        # on the position-major layout, a free view of a channels-last input.
        tokens = self.norm(x).permute(0, 2, 3, 1).reshape(b, 1, h * w, c)
        q, k, v = (F.linear(tokens, proj.weight.view(c, c), proj.bias) for proj in (self.q, self.k, self.v))
        attended = F.scaled_dot_product_attention(q, k, v)  # [B, 1, H*W, C]
        attended = F.linear(attended, self.proj_out.weight.view(c, c), self.proj_out.bias)
        return x + attended.view(b, h, w, c).permute(0, 3, 1, 2)


class Downsample(nn.Module):
    """Halve the resolution: pad one zero row/column at the bottom/right, then a stride-2 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour x2, then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class AntiAliasDownsample(nn.Module):
    """Band-limited downsampling by ``1 / scale_factor`` (FOMM style).

    A depthwise Gaussian blur with ``sigma = (1/scale - 1) / 2`` and an odd kernel of size
    ``2 * round(4 * sigma) + 1`` (zero padding), sampled at every ``1/scale``-th pixel starting at 0.
    The blur and the subsampling run as one strided convolution. The kernel is recomputed from
    the scale, so it is a non-persistent buffer.

    Input ``[B, C, H, W]`` -> output ``[B, C, H * scale, W * scale]``.
    """

    def __init__(self, channels: int, scale_factor: float):
        super().__init__()
        inverse = 1.0 / scale_factor
        if scale_factor >= 1 or abs(inverse - round(inverse)) > 1e-6:
            raise ValueError(f"scale_factor must be 1/n for an integer n > 1, got {scale_factor}")
        self.stride = int(round(inverse))
        sigma = (inverse - 1.0) / 2.0
        kernel_size = 2 * round(4 * sigma) + 1
        self.padding = kernel_size // 2
        self.channels = channels
        self.register_buffer("weight", self.gaussian_kernel(channels, sigma, kernel_size), persistent=False)

    @staticmethod
    def gaussian_kernel(channels: int, sigma: float, kernel_size: int) -> torch.Tensor:
        """Normalised 2-D Gaussian, ``[channels, 1, k, k]``, computed in float64 then cast to float32."""
        axis = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
        g = torch.exp(-(axis**2) / (2 * sigma**2))
        kernel = g[:, None] * g[None, :]
        kernel = kernel / kernel.sum()
        return kernel.to(torch.float32).expand(channels, 1, kernel_size, kernel_size).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(dtype=x.dtype)
        return F.conv2d(x, weight, stride=self.stride, padding=self.padding, groups=self.channels)


def is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def log2_int(n: int) -> int:
    if not is_power_of_two(n):
        raise ValueError(f"{n} is not a power of two")
    return int(math.log2(n))
