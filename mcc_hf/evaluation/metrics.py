# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Frame-quality metrics (L1, PSNR, SSIM) and face metrics (AKD, AED, CSIM) as plain functions.

Image metrics take two batches ``[T, 3, H, W]`` of float images in ``[0, 1]`` of the same size and
return one value per frame ``[T]`` (float64), so callers can average per video and over videos.
Face metrics take per-frame landmarks ``[T, 68, 2]`` or embeddings ``[T, 128]`` with ``NaN`` rows for
frames where no face was found; those frames are left out of the averages.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "average_keypoint_distance",
    "cosine_similarity",
    "gaussian_window",
    "identity_distance",
    "l1_distance",
    "missing_face_rate",
    "psnr",
    "ssim",
    "ssim_components",
]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(
            f"expected two [T, C, H, W] batches of the same shape, got {list(prediction.shape)} and {list(target.shape)}"
        )
    return prediction.double(), target.double()


def l1_distance(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per frame, images in ``[0, 1]`` -> ``[T]`` in ``[0, 1]``."""
    prediction, target = _check_pair(prediction, target)
    return (prediction - target).abs().flatten(1).mean(1)


def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per frame in dB, ``10 log10(data_range^2 / MSE)``; ``inf`` for equal frames."""
    prediction, target = _check_pair(prediction, target)
    mse = (prediction - target).square().flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian ``[size]`` (float64) centred on the middle tap."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-(offsets**2) / (2 * sigma**2))
    return window / window.sum()


def _filter(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of ``[N, C, H, W]`` per channel."""
    channels = images.shape[1]
    horizontal = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    return F.conv2d(F.conv2d(images, horizontal, groups=channels), vertical, groups=channels)


def ssim_components(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and its contrast-structure part per frame, in the inputs' dtype (differentiable).

    11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, statistics over the 'valid' window
    positions, averaged over channels and positions. Returns ``(ssim, cs)``, each ``[T]`` in ``[-1, 1]``;
    ``cs`` leaves out the luminance term (multi-scale SSIM uses it at every level but the last).
    """
    window = gaussian_window().to(device=prediction.device, dtype=prediction.dtype)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_x = _filter(prediction, window)
    mu_y = _filter(target, window)
    var_x = _filter(prediction * prediction, window) - mu_x**2
    var_y = _filter(target * target, window) - mu_y**2
    cov = _filter(prediction * target, window) - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.flatten(1).mean(1), cs_map.flatten(1).mean(1)


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per frame (Wang et al. 2004), computed in float64 (see :func:`ssim_components`).

    Returns:
        ``[T]`` in ``[-1, 1]``; 1 for identical frames. Frames must be at least 11 pixels on each side.
    """
    prediction, target = _check_pair(prediction, target)
    if min(prediction.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {list(prediction.shape[-2:])}")
    return ssim_components(prediction, target, data_range)[0]


def _found(values: np.ndarray) -> np.ndarray:
    """Rows without NaN (a face was found) of ``[T, ...]``."""
    return ~np.isnan(values.reshape(len(values), -1)).any(axis=1)


def average_keypoint_distance(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame mean Euclidean distance between corresponding landmarks (AKD), in pixels.

    Args:
        prediction, target: ``[T, K, 2]`` landmark coordinates; a frame with no face is all ``NaN``.

    Returns:
        ``[T]`` distances, ``NaN`` where either frame has no face.
    """
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    if prediction.shape != target.shape or prediction.ndim != 3 or prediction.shape[-1] != 2:
        raise ValueError(f"expected two [T, K, 2] landmark arrays of the same shape, got {prediction.shape} and {target.shape}")
    return np.linalg.norm(prediction - target, axis=-1).mean(axis=-1)


def identity_distance(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame Euclidean distance between identity embeddings ``[T, D]`` (AED); ``NaN`` where a face is missing.

    ``target`` may be a single embedding ``[D]`` (the source identity), compared with every frame.
    """
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    return np.linalg.norm(prediction - np.broadcast_to(target, prediction.shape), axis=-1)


def cosine_similarity(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame cosine similarity of identity embeddings ``[T, D]`` (CSIM-style); ``target`` may be ``[D]``."""
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    target = np.broadcast_to(target, prediction.shape)
    norms = np.linalg.norm(prediction, axis=-1) * np.linalg.norm(target, axis=-1)
    return (prediction * target).sum(-1) / norms


def missing_face_rate(prediction: np.ndarray, target: np.ndarray) -> float:
    """Fraction of frames with a face in ``target`` but none in ``prediction`` (MKR); ``NaN`` if ``target`` has none."""
    has_target = _found(np.asarray(target, np.float64))
    if not has_target.any():
        return math.nan
    has_prediction = _found(np.asarray(prediction, np.float64))
    return float((has_target & ~has_prediction).sum() / has_target.sum())
