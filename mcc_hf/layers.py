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
    "memory_format_of",
    "upsample_conv3x3",
]

# Nearest-neighbour x2 upsampling repeats every input row twice, so the three rows of a 3x3 kernel
# see only two distinct input rows: output row 2y reads rows (y-1, y, y) and row 2y+1 reads (y, y, y+1).
# Row r of _PHASE_TAPS[a] sums the kernel rows that land on the r-th of those two input rows.
_PHASE_TAPS = ((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0))
_MIN_PHASE_PIXELS = 16 * 16


def group_norm(channels: int, num_groups: int) -> nn.GroupNorm:
    """GroupNorm with the VQGAN settings (eps 1e-6, affine)."""
    if channels % num_groups:
        raise ValueError(f"{channels} channels cannot be split into {num_groups} normalisation groups")
    return nn.GroupNorm(num_groups=num_groups, num_channels=channels, eps=1e-6, affine=True)


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for a channels-last 4-D tensor (that is not also plain contiguous), else contiguous."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def upsample_conv3x3(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(F.interpolate(x, scale_factor=2, mode="nearest"))`` for a 3x3, stride-1, padding-1 ``conv``,
    computed on the input grid.

    Each of the four output phases ``(a, b)`` (output pixel ``(2y + a, 2x + b)``) is a 2x2 convolution
    of ``x`` whose taps are sums of the 3x3 taps; one 2x2 convolution with ``4 * C_out`` output channels
    computes all four, and they are interleaved into the output. The result equals the
    upsample-then-convolve one up to float rounding, with 4/9 of the multiply-adds and no upsampled copy
    of the input. Inputs under 16x16 pixels take the plain route: there, folding the (often large)
    weights on every call costs more than it saves.

    Input ``[B, C_in, H, W]`` -> output ``[B, C_out, 2H, 2W]``, in the input's memory format.
    """
    b, _, h, w = x.shape
    if h * w < _MIN_PHASE_PIXELS:
        return conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    taps = x.new_tensor(_PHASE_TAPS, dtype=conv.weight.dtype)  # [2 phases, 2 rows, 3 kernel rows]
    # [2 (a), 2 (b), C_out, C_in, 2, 2]: phase (a, b)'s 2x2 kernel.
    weight = torch.einsum("air,ocrs,bjs->abocij", taps, conv.weight, taps)
    c_out = weight.shape[2]
    bias = None if conv.bias is None else conv.bias.repeat(4)
    # With padding 1, position (p, q) of the 2x2 convolution reads input rows p-1, p and columns q-1, q.
    phases = F.conv2d(x, weight.reshape(4 * c_out, -1, 2, 2), bias, padding=1)  # [B, 4*C_out, H+1, W+1]
    phases = phases.view(b, 2, 2, c_out, h + 1, w + 1)
    out = torch.empty(
        b, c_out, 2 * h, 2 * w, dtype=phases.dtype, device=phases.device, memory_format=memory_format_of(x)
    )
    for a in range(2):
        for c in range(2):
            out[:, :, a::2, c::2] = phases[:, a, c, :, a : a + h, c : c + w]
    return out


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
    """Double the resolution: nearest-neighbour x2, then a 3x3 convolution (computed by
    :func:`upsample_conv3x3`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample_conv3x3(x, self.conv)


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
