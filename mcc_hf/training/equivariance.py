# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Random thin-plate-spline warps for the keypoint equivariance loss (FOMM, section 3.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..motion.geometry import identity_grid

__all__ = ["RandomTPS"]


class RandomTPS:
    """A random affine + TPS warp per batch element.

    ``T(p) = theta [p; 1] + sum_j w_j r_j^2 log(r_j + 1e-6)`` with ``theta = [I | 0] + N(0, sigma_affine^2)``,
    control points on a ``points x points`` grid in ``[-1, 1]``, weights ``w_j ~ N(0, sigma_tps^2)``
    and ``r_j`` the **L1** distance from ``p`` to control point ``j`` (the released variant).

    Points are ``(x, y)`` in ``[-1, 1]``.

    Args:
        batch_size: number of independent warps.
        sigma_affine, sigma_tps, points: the released values are 0.05, 0.005 and 5.
        generator: random source (for reproducible runs).
        device, dtype: where the parameters live.
    """

    def __init__(
        self,
        batch_size: int,
        sigma_affine: float = 0.05,
        sigma_tps: float = 0.005,
        points: int = 5,
        *,
        generator: torch.Generator | None = None,
        device=None,
        dtype=torch.float32,
    ):
        noise = torch.randn(batch_size, 2, 3, generator=generator) * sigma_affine
        self.theta = (noise + torch.eye(2, 3)).to(device=device, dtype=dtype)  # [B, 2, 3]
        self.control_points = identity_grid(points, points, dtype=dtype).reshape(-1, 2).to(device)  # [P, 2]
        weights = torch.randn(batch_size, points * points, generator=generator) * sigma_tps
        self.control_weights = weights.to(device=device, dtype=dtype)  # [B, P]
        self.batch_size = batch_size

    def warp_points(self, points: torch.Tensor) -> torch.Tensor:
        """``[B, N, 2]`` -> ``[B, N, 2]`` warped points."""
        theta = self.theta.to(points.dtype)
        affine = torch.einsum("bij,bnj->bni", theta[:, :, :2], points) + theta[:, :, 2].unsqueeze(1)
        distances = (points.unsqueeze(2) - self.control_points.to(points.dtype).view(1, 1, -1, 2)).abs().sum(-1)
        radial = distances**2 * torch.log(distances + 1e-6)  # [B, N, P]
        tps = (radial * self.control_weights.to(points.dtype).unsqueeze(1)).sum(-1, keepdim=True)
        return affine + tps

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """``[B, N, 2, 2]`` Jacobian of :meth:`warp_points` at ``points`` (from autograd, differentiable)."""
        if not points.requires_grad:
            points = points.detach().requires_grad_(True)
        warped = self.warp_points(points)
        grad_x = torch.autograd.grad(warped[..., 0].sum(), points, create_graph=True)[0]
        grad_y = torch.autograd.grad(warped[..., 1].sum(), points, create_graph=True)[0]
        return torch.stack([grad_x, grad_y], dim=-2)

    def warp_images(self, images: torch.Tensor) -> torch.Tensor:
        """Resample ``[B, C, H, W]`` images with the warp (reflection padding, ``align_corners=False``)."""
        b, _, h, w = images.shape
        grid = identity_grid(h, w, device=images.device, dtype=images.dtype).reshape(1, h * w, 2).expand(b, -1, -1)
        grid = self.warp_points(grid).reshape(b, h, w, 2)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
