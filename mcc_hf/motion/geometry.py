# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Coordinate grids, keypoint Gaussians and the warping helpers shared by the motion networks.

Conventions (FOMM):

* A *deformation* (flow) is a sampling grid ``[B, H, W, 2]`` for ``F.grid_sample``; channel 0 is x
  (width axis), channel 1 is y, both normalised to ``[-1, 1]``.
* The identity grid puts the first and last pixel centres exactly at -1 and +1:
  ``x_j = 2 j / (W - 1) - 1``.
* Inside the generator every warp uses ``align_corners=True`` with zero padding and every resize
  of a flow, occlusion map or heatmap is bilinear with ``align_corners=True``. The dense motion
  network warps its downsampled source with PyTorch's default ``align_corners=False``.

Precision: every function here computes in float32 (float64 stays float64), whatever the dtype
of its inputs and whether autocast is on, and returns the dtype the caller asks for (by default
the dtype it computed in; :func:`grid_sample` and :func:`warp` return the features' dtype). So a
model run under :func:`mcc_hf.precision.inference_autocast` keeps its coordinates, sampling grids
and flows in float32 while its convolutions run in half precision: nothing here calls an operator
that autocast lowers (``matmul``, ``einsum``, convolutions); 2x2 products are written out.

Nothing here copies data from the host or synchronises with the device, so the per-frame code that
uses these helpers can be captured by CUDA graphs and exported to ONNX.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..layers import memory_format_of

__all__ = [
    "apply_2x2",
    "blend_motions",
    "compute_dtype",
    "displacement_scale",
    "grid_sample",
    "identity_grid",
    "keypoint_gaussians",
    "matmul_2x2",
    "memory_format_of",
    "resize",
    "resize_flow",
    "warp",
]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype geometry is computed in for inputs of ``dtype``: float32, or float64 for float64 inputs."""
    return torch.promote_types(dtype, torch.float32)


def _widen(x: torch.Tensor) -> torch.Tensor:
    return x.to(compute_dtype(x.dtype))


def identity_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The identity sampling grid ``[H, W, 2]`` (x, y) in ``[-1, 1]``, computed in float32 (or float64)
    and returned in ``dtype``."""
    work = compute_dtype(dtype)
    x = 2 * (torch.arange(width, device=device, dtype=work) / (width - 1)) - 1
    y = 2 * (torch.arange(height, device=device, dtype=work) / (height - 1)) - 1
    grid = torch.stack([x.view(1, -1).expand(height, width), y.view(-1, 1).expand(height, width)], dim=-1)
    return grid.to(dtype)


def keypoint_gaussians(
    keypoints: torch.Tensor, height: int, width: int, variance: float, *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Isotropic Gaussians centred on keypoints.

    Args:
        keypoints: ``[B, K, 2]`` keypoint coordinates (x, y) in ``[-1, 1]``.
        variance: the Gaussian variance in normalised units.
        dtype: dtype of the result (default: float32, or float64 for float64 keypoints).

    Returns:
        ``[B, K, H, W]`` maps ``exp(-|z - kp|^2 / (2 variance))`` with peak 1.
    """
    keypoints = _widen(keypoints)
    grid = identity_grid(height, width, device=keypoints.device, dtype=keypoints.dtype)
    squared = (grid.view(1, 1, height, width, 2) - keypoints.view(*keypoints.shape[:2], 1, 1, 2)).pow(2).sum(-1)
    gaussians = torch.exp(-0.5 * squared / variance)
    return gaussians if dtype is None else gaussians.to(dtype)


def matmul_2x2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Products ``a @ b`` of ``[..., 2, 2]`` matrices (broadcasting), computed element-wise in float32
    (float64 stays float64), so autocast leaves them alone."""
    a, b = _widen(a), _widen(b)
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)


def apply_2x2(matrices: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``matrices @ points`` for ``[..., 2, 2]`` matrices and ``[..., 2]`` points (broadcasting), computed
    element-wise in float32 (float64 stays float64)."""
    matrices, points = _widen(matrices), _widen(points)
    return (matrices * points.unsqueeze(-2)).sum(-1)


def blend_motions(weights: torch.Tensor, motions: torch.Tensor) -> torch.Tensor:
    """Per-pixel weighted sum of sampling grids: ``[B, M, h, w]`` weights and ``[B, M, h, w, 2]`` grids ->
    ``[B, h, w, 2]``, in float32 (float64 stays float64)."""
    weights, motions = _widen(weights), _widen(motions)
    return (weights.unsqueeze(-1) * motions).sum(1)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B, C, H, W]`` with ``align_corners=True``; a no-op at the same size.

    (Features, occlusion maps and heatmaps: computed in the dtype of ``x``.)
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (``align_corners=True``) of a sampling grid ``[B, H, W, 2]`` to ``[B, *size, 2]``,
    in float32 (float64 stays float64)."""
    flow = _widen(flow)
    if tuple(flow.shape[1:3]) == tuple(size):
        return flow
    return resize(flow.permute(0, 3, 1, 2), size).permute(0, 2, 3, 1)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``features [B, C, H, W]`` with ``flow [B, h, w, 2]`` (resized to H x W first).

    Uses the generator's convention: bilinear ``grid_sample`` with ``align_corners=True``, zeros outside.
    The result has the dtype and the memory format of ``features`` (channels-last stays channels-last).
    """
    flow = resize_flow(flow, tuple(features.shape[-2:]))
    warped = grid_sample(features, flow, align_corners=True)
    return warped.contiguous(memory_format=memory_format_of(features))


def grid_sample(features: torch.Tensor, grid: torch.Tensor, *, align_corners: bool) -> torch.Tensor:
    """Bilinear ``F.grid_sample`` with zero padding, sampled in float32 (float64 stays float64) and
    returned in the dtype of ``features``.

    The sampling positions must not be rounded to half precision (a bfloat16 grid is off by up to
    half a pixel at 256 pixels), so half-precision features are sampled in float32. (On CPU, torch
    2.13's bfloat16 ``grid_sample`` kernel also returns non-finite values.)
    """
    work = torch.promote_types(compute_dtype(features.dtype), grid.dtype)
    out = F.grid_sample(features.to(work), grid.to(work), mode="bilinear", padding_mode="zeros",
                        align_corners=align_corners)
    return out.to(features.dtype)


def displacement_scale(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Factors ``[(W - 1) / 2, (H - 1) / 2]`` that turn normalised displacements into pixels of an ``H x W`` grid.

    Built on the device from Python numbers (no host-to-device copy).
    """
    work = compute_dtype(dtype)
    x = torch.full((1,), (width - 1) / 2.0, device=device, dtype=work)
    y = torch.full((1,), (height - 1) / 2.0, device=device, dtype=work)
    return torch.cat([x, y]).to(dtype)
