# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Temporal smoothing of driving keypoints (values and Jacobians) with a One-Euro filter.

The One-Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cutoff rises with the
speed of the signal: still keypoints lose their jitter, fast motions (a head turn, an open mouth)
pass with little lag. One knob, ``strength`` in ``[0, 1]``, sets the cutoff for still keypoints;
0 turns the filter off.
"""

from __future__ import annotations

import math

import torch

from .keypoints import Keypoints

__all__ = ["KeypointSmoother", "OneEuroFilter"]

#: Cutoff (Hz) for still keypoints at strength 0+ and at strength 1; interpolated geometrically.
LIGHTEST_CUTOFF = 8.0
HEAVIEST_CUTOFF = 0.15
#: Cutoff increase (Hz) per unit/s of keypoint speed (keypoints live in [-1, 1]); cutoff of the speed estimate.
SPEED_COEFFICIENT = 10.0
SPEED_CUTOFF = 1.0


class OneEuroFilter:
    """One-Euro filter over a stream of tensors of one shape, element-wise.

    Args:
        min_cutoff: cutoff frequency (Hz) when the signal is still.
        beta: how fast the cutoff rises with speed (Hz per unit/s).
        rate: samples per second.
        speed_cutoff: cutoff (Hz) of the low-pass filter on the speed estimate.
    """

    def __init__(self, min_cutoff: float, beta: float, rate: float, speed_cutoff: float = SPEED_CUTOFF):
        self.min_cutoff, self.beta, self.rate, self.speed_cutoff = min_cutoff, beta, rate, speed_cutoff
        self._value: torch.Tensor | None = None
        self._speed: torch.Tensor | None = None

    def _alpha(self, cutoff: torch.Tensor | float):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Filter one sample; returns the smoothed sample (same shape and dtype)."""
        if self._value is None:
            self._value, self._speed = x.clone(), torch.zeros_like(x)
            return x.clone()
        speed = (x - self._value) * self.rate
        self._speed = self._speed + self._alpha(self.speed_cutoff) * (speed - self._speed)
        alpha = self._alpha(self.min_cutoff + self.beta * self._speed.abs())
        self._value = self._value + alpha * (x - self._value)
        return self._value.clone()


class KeypointSmoother:
    """Smooths driving keypoints over time; call it on consecutive batches of one video, in order.

    Args:
        strength: 0 (off: keypoints pass unchanged) to 1 (heaviest smoothing). Around 0.3-0.5 removes
            jitter without visible lag on talking-head videos.
        fps: frame rate of the driving video.
    """

    def __init__(self, strength: float, fps: float = 25.0):
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"smoothing strength must be in [0, 1], got {strength}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.strength = float(strength)
        cutoff = LIGHTEST_CUTOFF * (HEAVIEST_CUTOFF / LIGHTEST_CUTOFF) ** self.strength
        self._value_filter = OneEuroFilter(cutoff, SPEED_COEFFICIENT, fps)
        self._jacobian_filter = OneEuroFilter(cutoff, SPEED_COEFFICIENT, fps)

    @property
    def enabled(self) -> bool:
        return self.strength > 0

    def __call__(self, keypoints: Keypoints) -> Keypoints:
        """``keypoints`` of ``B`` consecutive frames -> smoothed keypoints (filter state carries over calls)."""
        if not self.enabled:
            return keypoints
        values = [self._value_filter(v) for v in keypoints.value.float()]
        jacobians = [self._jacobian_filter(j) for j in keypoints.jacobian.float()]
        dtype = keypoints.value.dtype
        return Keypoints(value=torch.stack(values).to(dtype), jacobian=torch.stack(jacobians).to(dtype))
