# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Keypoints (values and local Jacobians) and FOMM-style relative motion transfer."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .geometry import compute_dtype, identity_grid, matmul_2x2

__all__ = [
    "Keypoints",
    "adapt_movement_scale",
    "convex_hull_area",
    "inverse_2x2",
    "keypoints_from_heatmaps",
    "normalize_keypoints",
]


@dataclass
class Keypoints:
    """Unsupervised keypoints of a batch of images.

    Args:
        value: ``[B, K, 2]`` positions (x, y) in ``[-1, 1]`` (``align_corners=True`` sense).
        jacobian: ``[B, K, 2, 2]`` local affine transformation around each keypoint.
    """

    value: torch.Tensor
    jacobian: torch.Tensor

    def __getitem__(self, index) -> "Keypoints":
        """Select batch elements, e.g. ``kp[0:1]``."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Keypoints(value=self.value[index], jacobian=self.jacobian[index])

    def to(self, *args, **kwargs) -> "Keypoints":
        return Keypoints(value=self.value.to(*args, **kwargs), jacobian=self.jacobian.to(*args, **kwargs))

    @property
    def batch_size(self) -> int:
        return self.value.shape[0]

    def expand(self, batch_size: int) -> "Keypoints":
        """Broadcast a batch of one to ``batch_size`` (no copy).

        A batch of one is tested first, so a symbolic ``batch_size`` (``torch.export``, ONNX export
        with a dynamic batch) is never compared with a concrete one.
        """
        if self.batch_size == 1:
            return Keypoints(
                value=self.value.expand(batch_size, -1, -1), jacobian=self.jacobian.expand(batch_size, -1, -1, -1)
            )
        if self.batch_size == batch_size:
            return self
        raise ValueError(f"cannot broadcast {self.batch_size} keypoint sets to a batch of {batch_size}")

    @staticmethod
    def cat(items: list["Keypoints"]) -> "Keypoints":
        return Keypoints(
            value=torch.cat([k.value for k in items]), jacobian=torch.cat([k.jacobian for k in items])
        )


def inverse_2x2(matrices: torch.Tensor) -> torch.Tensor:
    """Inverses of ``[..., 2, 2]`` matrices in closed form: ``[[d, -b], [-c, a]] / (ad - bc)``.

    Computed element-wise in float32 (float64 stays float64) and returned in that dtype, whatever the
    input dtype and autocast state. Unlike ``torch.linalg.inv`` it neither synchronises with the
    device (no error check on the host) nor blocks ONNX export. A singular matrix gives non-finite
    entries, as dividing by a zero determinant does.
    """
    m = matrices.to(compute_dtype(matrices.dtype))
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    determinant = a * d - b * c
    inverse = torch.stack([torch.stack([d, -b], dim=-1), torch.stack([-c, a], dim=-1)], dim=-2)
    return inverse / determinant[..., None, None]


def keypoints_from_heatmaps(logits: torch.Tensor, jacobian_maps: torch.Tensor, temperature: float,
                            *, dtype: torch.dtype | None = None) -> Keypoints:
    """Keypoints as the expected coordinates of softmax heatmaps, Jacobians as heatmap-weighted averages.

    Computed in float32 (float64 stays float64) whatever the input dtype and autocast state.

    Args:
        logits: ``[B, K, h, w]`` heatmap logits.
        jacobian_maps: ``[B, K, 4, h, w]`` per-position Jacobian entries, row-major ``[[a, b], [c, d]]``.
        temperature: softmax temperature.
        dtype: dtype of the result (default: float32, or float64 for float64 logits).

    Returns:
        :class:`Keypoints` with ``value [B, K, 2]`` (x, y) in ``[-1, 1]`` and ``jacobian [B, K, 2, 2]``.
    """
    work = compute_dtype(logits.dtype)
    b, k, h, w = logits.shape
    heatmap = F.softmax(logits.to(work).reshape(b, k, h * w) / temperature, dim=2).reshape(b, k, h, w)
    grid = identity_grid(h, w, device=logits.device, dtype=work)
    value = (heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3))  # [B, K, 2]
    weighted = heatmap.unsqueeze(2) * jacobian_maps.to(work)
    jacobian = weighted.reshape(b, k, 4, h * w).sum(-1).reshape(b, k, 2, 2)
    keypoints = Keypoints(value=value, jacobian=jacobian)
    return keypoints if dtype is None else keypoints.to(dtype)


def convex_hull_area(points: torch.Tensor) -> float:
    """Area of the convex hull of 2-D points ``[N, 2]`` (Andrew's monotone chain, float64)."""
    pts = sorted({(float(x), float(y)) for x, y in points.detach().to("cpu", torch.float64).tolist()})
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    twice_area = sum(hull[i][0] * hull[(i + 1) % len(hull)][1] - hull[(i + 1) % len(hull)][0] * hull[i][1]
                     for i in range(len(hull)))
    return abs(twice_area) / 2.0


def adapt_movement_scale(kp_source: Keypoints, kp_driving_initial: Keypoints) -> float:
    """``sqrt(hull area of source keypoints) / sqrt(hull area of initial driving keypoints)`` (batch element 0)."""
    driving_area = convex_hull_area(kp_driving_initial.value[0])
    if driving_area <= 0:
        return 1.0
    return math.sqrt(convex_hull_area(kp_source.value[0])) / math.sqrt(driving_area)


def normalize_keypoints(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_driving_initial: Keypoints,
    *,
    adapt_scale: bool = True,
    movement_scale: float | None = None,
) -> Keypoints:
    """Relative motion transfer: apply the driving motion *since the initial driving frame* to the source.

    ``value = (kp_d - kp_d0) * s + kp_s`` and ``jacobian = (J_d J_d0^-1) J_s``, where ``s`` is the
    movement scale: ``movement_scale`` if given, else the convex-hull ratio of
    :func:`adapt_movement_scale` when ``adapt_scale`` is true, else 1.

    The source and initial keypoints are broadcast over the driving batch. Computed in float32
    (float64 stays float64) whatever the input dtype and autocast state; the result has the dtype of
    ``kp_driving``. With ``movement_scale`` given, nothing here reads tensors back to the host
    (the convex-hull ratio does: compute it once per video).
    """
    if movement_scale is None:
        movement_scale = adapt_movement_scale(kp_source, kp_driving_initial) if adapt_scale else 1.0
    work = compute_dtype(kp_driving.value.dtype)
    value = (kp_driving.value.to(work) - kp_driving_initial.value.to(work)) * movement_scale + kp_source.value.to(work)
    relative_jacobian = matmul_2x2(kp_driving.jacobian, inverse_2x2(kp_driving_initial.jacobian))
    jacobian = matmul_2x2(relative_jacobian, kp_source.jacobian)
    return Keypoints(value=value, jacobian=jacobian).to(kp_driving.value.dtype)
