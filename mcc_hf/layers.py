# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Convolutional building blocks shared by the autoencoder and the compensation modules.

These are the VQGAN-style blocks the method builds on (GroupNorm + swish residual blocks,
single-head spatial self-attention, stride-2 convolution downsampling, nearest-neighbour
upsampling) plus the anti-aliased Gaussian downsampling used by the motion networks.
All blocks take and return NCHW tensors.

Every layer reads its weights only inside its own ``forward``, so the hooks diffusers and accelerate
attach around a module's ``forward`` (layerwise casting, group offloading, CPU offload) see every
weight use.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from diffusers.models.attention import AttentionModuleMixin
from diffusers.models.attention_dispatch import dispatch_attention_fn

__all__ = [
    "AntiAliasDownsample",
    "Downsample",
    "Float32Conv2d",
    "ResnetBlock",
    "SpatialSelfAttention",
    "SpatialSelfAttnProcessor",
    "Upsample",
    "UpsampleConv2d",
    "group_norm",
    "memory_format_of",
    "nearest_upsample_conv3x3",
]

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


def _phase_taps(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Fold the 3 taps of ``weight`` along ``dim`` into the 2 taps each upsampling phase sees (new leading dim).

    Nearest-neighbour x2 upsampling repeats every input row, so the three kernel rows of output row
    ``2y`` read input rows ``(y-1, y, y)`` and those of row ``2y + 1`` read ``(y, y, y+1)``: phase 0 sees
    ``(k0, k1 + k2)``, phase 1 sees ``(k0 + k1, k2)``.
    """
    k0, k1, k2 = weight.unbind(dim)
    return torch.stack([torch.stack([k0, k1 + k2], dim), torch.stack([k0 + k1, k2], dim)])


def nearest_upsample_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)`` computed on the
    input grid, for a 3x3 ``weight [C_out, C_in, 3, 3]``.

    Each of the four output phases ``(a, b)`` (output pixel ``(2y + a, 2x + b)``) is a 2x2 convolution
    of ``x`` whose taps are sums of the 3x3 taps; one 2x2 convolution with ``4 * C_out`` output channels
    computes all four, and they are interleaved into the output. The result equals the
    upsample-then-convolve one up to float rounding, with 4/9 of the multiply-adds and no upsampled copy
    of the input. The folded weights are recomputed on every call (a few element-wise sums of the
    weight, negligible next to the convolution), so they always follow the weights as given.

    Input ``[B, C_in, H, W]`` -> output ``[B, C_out, 2H, 2W]``, in the input's memory format.
    """
    b, _, h, w = x.shape
    c_out = weight.shape[0]
    # [2 (a), 2 (b), C_out, C_in, 2, 2]: phase (a, b)'s 2x2 kernel.
    phase_weight = _phase_taps(_phase_taps(weight, 2), 4).transpose(0, 1)
    phase_bias = None if bias is None else bias.repeat(4)
    # With padding 1, position (p, q) of the 2x2 convolution reads input rows p-1, p and columns q-1, q.
    phases = F.conv2d(x, phase_weight.reshape(4 * c_out, -1, 2, 2), phase_bias, padding=1)  # [B, 4*C_out, H+1, W+1]
    phases = phases.view(b, 2, 2, c_out, h + 1, w + 1)
    out = torch.empty(
        b, c_out, 2 * h, 2 * w, dtype=phases.dtype, device=phases.device, memory_format=memory_format_of(x)
    )
    for a in range(2):
        for c in range(2):
            out[:, :, a::2, c::2] = phases[:, a, c, :, a : a + h, c : c + w]
    return out


class UpsampleConv2d(nn.Conv2d):
    """Nearest-neighbour x2 upsampling followed by a 3x3 convolution (stride 1, padding 1), as one module.

    It is an ``nn.Conv2d`` with the usual ``weight [C_out, C_in, 3, 3]`` and ``bias`` (the checkpoint
    layout) that only its own :meth:`forward` reads, so hooks that load, offload or cast a layer's
    weights around its ``forward`` (diffusers' layerwise casting and group offloading, accelerate's
    CPU offload) see them as they see any convolution's.

    On CPU, inputs of at least 16x16 pixels take :func:`nearest_upsample_conv3x3` (4/9 of the
    multiply-adds; measurably faster, see ``docs/performance.md``). Smaller inputs, where folding the
    weights costs more than it saves, and other devices (GPU convolution libraries run the plain
    upsample-then-convolve form at full speed) upsample and convolve. Both give the same result up to
    float rounding.

    Input ``[B, C_in, H, W]`` -> output ``[B, C_out, 2H, 2W]``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.shape[-2] * x.shape[-1] >= _MIN_PHASE_PIXELS:
            return nearest_upsample_conv3x3(x, self.weight, self.bias)
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Float32Conv2d(nn.Conv2d):
    """An ``nn.Conv2d`` that computes in float32 or wider.

    Used for the heads whose outputs are geometry (keypoint heatmaps and Jacobians, the dense-motion
    mask and occlusion, the flow-refinement head). Half-precision models keep these layers in float32
    (the components' ``_keep_in_fp32_modules``); this layer casts its input and its weights to
    ``promote_types(input dtype, float32)`` and returns that dtype. In a float32 or float64 model nothing
    is cast, and a float64 model whose heads were loaded in float32 computes them in float64.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch.promote_types(x.dtype, torch.float32)
        bias = None if self.bias is None else self.bias.to(dtype)
        return self._conv_forward(x.to(dtype), self.weight.to(dtype), bias)


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


class SpatialSelfAttnProcessor:
    """Default processor of :class:`SpatialSelfAttention`.

    The projections run through the module's own 1x1 convolutions and the attention through
    diffusers' ``dispatch_attention_fn``, so ``set_attention_backend`` (on the module or on the model
    that holds it) chooses the kernel.
    """

    _attention_backend = None
    _parallel_config = None

    def __call__(self, attn: "SpatialSelfAttention", hidden_states: torch.Tensor) -> torch.Tensor:
        b, c, h, w = hidden_states.shape
        normed = attn.norm(hidden_states)
        # [B, C, H, W] -> [B, H*W, 1 head, C]: one head over every spatial position (a free view of a
        # channels-last tensor).
        q, k, v = (proj(normed).permute(0, 2, 3, 1).reshape(b, h * w, 1, c) for proj in (attn.q, attn.k, attn.v))
        attended = dispatch_attention_fn(q, k, v, backend=self._attention_backend, parallel_config=self._parallel_config)
        # [B, H*W, 1, C] -> [B, C, H, W] (a channels-last view), then the output projection.
        attended = attended.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return hidden_states + attn.proj_out(attended)


class SpatialSelfAttention(nn.Module, AttentionModuleMixin):
    """Single-head self-attention over all ``H*W`` positions with 1x1 q/k/v/output projections, residual.

    The computation lives in the processor (:class:`SpatialSelfAttnProcessor` by default), diffusers'
    attention-module convention: ``set_attention_backend`` selects the attention kernel.

    Input and output ``[B, C, H, W]``.
    """

    _default_processor_cls = SpatialSelfAttnProcessor
    _available_processors = [SpatialSelfAttnProcessor]
    _supports_qkv_fusion = False

    def __init__(self, channels: int, num_groups: int = 32, processor: SpatialSelfAttnProcessor | None = None):
        super().__init__()
        self.norm = group_norm(channels, num_groups)
        self.q = nn.Conv2d(channels, channels, kernel_size=1)
        self.k = nn.Conv2d(channels, channels, kernel_size=1)
        self.v = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)
        self.set_processor(processor if processor is not None else self._default_processor_cls())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.processor(self, x)


class Downsample(nn.Module):
    """Halve the resolution: pad one zero row/column at the bottom/right, then a stride-2 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour x2, then a 3x3 convolution (one :class:`UpsampleConv2d`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = UpsampleConv2d(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


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
