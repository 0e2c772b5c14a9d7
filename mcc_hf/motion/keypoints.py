# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Keypoints (values and local Jacobians) and FOMM-style relative motion transfer."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Keypoints", "convex_hull_area", "normalize_keypoints"]


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
        """Broadcast a batch of one to ``batch_size`` (no copy)."""
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise ValueError(f"cannot broadcast {self.batch_size} keypoint sets to a batch of {batch_size}")
        return Keypoints(
            value=self.value.expand(batch_size, -1, -1), jacobian=self.jacobian.expand(batch_size, -1, -1, -1)
        )

    @staticmethod
    def cat(items: list["Keypoints"]) -> "Keypoints":
        return Keypoints(
            value=torch.cat([k.value for k in items]), jacobian=torch.cat([k.jacobian for k in items])
        )


def inverse_2x2(matrices: torch.Tensor) -> torch.Tensor:
    """Inverse of ``[..., 2, 2]`` matrices, computed in at least float32 (``linalg.inv`` refuses
    float16/bfloat16) and returned in the input dtype."""
    if matrices.dtype in (torch.float16, torch.bfloat16):
        return torch.inverse(matrices.float()).to(matrices.dtype)
    return torch.inverse(matrices)


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

    The source and initial keypoints are broadcast over the driving batch.
    """
    if movement_scale is None:
        movement_scale = adapt_movement_scale(kp_source, kp_driving_initial) if adapt_scale else 1.0
    value = (kp_driving.value - kp_driving_initial.value) * movement_scale + kp_source.value
    relative_jacobian = torch.matmul(kp_driving.jacobian, inverse_2x2(kp_driving_initial.jacobian))
    jacobian = torch.matmul(relative_jacobian, kp_source.jacobian)
    return Keypoints(value=value, jacobian=jacobian)
