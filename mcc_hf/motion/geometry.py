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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..layers import memory_format_of

__all__ = [
    "displacement_scale",
    "grid_sample",
    "identity_grid",
    "keypoint_gaussians",
    "memory_format_of",
    "resize",
    "resize_flow",
    "warp",
]


def identity_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The identity sampling grid ``[H, W, 2]`` (x, y) in ``[-1, 1]``."""
    x = 2 * (torch.arange(width, device=device, dtype=dtype) / (width - 1)) - 1
    y = 2 * (torch.arange(height, device=device, dtype=dtype) / (height - 1)) - 1
    return torch.stack([x.view(1, -1).expand(height, width), y.view(-1, 1).expand(height, width)], dim=-1)


def keypoint_gaussians(keypoints: torch.Tensor, height: int, width: int, variance: float) -> torch.Tensor:
    """Isotropic Gaussians centred on keypoints.

    Args:
        keypoints: ``[B, K, 2]`` keypoint coordinates (x, y) in ``[-1, 1]``.
        variance: the Gaussian variance in normalised units.

    Returns:
        ``[B, K, H, W]`` maps ``exp(-|z - kp|^2 / (2 variance))`` with peak 1.
    """
    grid = identity_grid(height, width, device=keypoints.device, dtype=keypoints.dtype)
    squared = (grid.view(1, 1, height, width, 2) - keypoints.view(*keypoints.shape[:2], 1, 1, 2)).pow(2).sum(-1)
    return torch.exp(-0.5 * squared / variance)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B, C, H, W]`` with ``align_corners=True``; a no-op at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (``align_corners=True``) of a sampling grid ``[B, H, W, 2]`` to ``[B, *size, 2]``."""
    if tuple(flow.shape[1:3]) == tuple(size):
        return flow
    return resize(flow.permute(0, 3, 1, 2), size).permute(0, 2, 3, 1)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``features [B, C, H, W]`` with ``flow [B, h, w, 2]`` (resized to H x W first).

    Uses the generator's convention: bilinear ``grid_sample`` with ``align_corners=True``, zeros outside.
    The result has the memory format of ``features`` (channels-last stays channels-last).
    """
    flow = resize_flow(flow, tuple(features.shape[-2:]))
    warped = grid_sample(features, flow, align_corners=True)
    return warped.contiguous(memory_format=memory_format_of(features))


def grid_sample(features: torch.Tensor, grid: torch.Tensor, *, align_corners: bool) -> torch.Tensor:
    """Bilinear ``F.grid_sample`` with zero padding, in the dtype of ``features``.

    On CPU, half-precision inputs are sampled in float32: torch's CPU kernel returns non-finite
    values for bfloat16 (torch 2.13).
    """
    dtype = features.dtype
    if features.device.type == "cpu" and dtype in (torch.float16, torch.bfloat16):
        features = features.float()
    out = F.grid_sample(features, grid.to(features.dtype), mode="bilinear", padding_mode="zeros",
                        align_corners=align_corners)
    return out.to(dtype)


def displacement_scale(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Factors ``[(W - 1) / 2, (H - 1) / 2]`` that turn normalised displacements into pixels of an ``H x W`` grid."""
    return torch.tensor([(width - 1) / 2.0, (height - 1) / 2.0], device=device, dtype=dtype)
