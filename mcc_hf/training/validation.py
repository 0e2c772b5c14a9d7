# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Validation images written during training: one row per pair, ``source | driving | prediction``."""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import torch

from ..animator import Animator
from ..image_processing import from_model_range, to_uint8

__all__ = ["render_validation_grid", "save_validation_image"]


@torch.no_grad()
def render_validation_grid(animator: Animator, source: torch.Tensor, driving: torch.Tensor) -> np.ndarray:
    """Reconstruct ``driving`` from ``source`` (both ``[N, 3, H, W]`` in ``[-1, 1]``) with absolute keypoints.

    Returns an ``[N * H, 3 * W, 3]`` uint8 image.
    """
    rows = []
    for s, d in zip(source.split(1), driving.split(1)):
        prepared = animator.prepare_source(s)
        prediction = animator.render(prepared, animator.detect_keypoints(d)).sample
        row = torch.cat([from_model_range(s), from_model_range(d), from_model_range(prediction.float())], dim=-1)
        rows.append(row)
    grid = torch.cat(rows, dim=-2)  # [1, 3, N*H, 3*W]
    return to_uint8(grid.cpu())[0]


def save_validation_image(image: np.ndarray, folder: str, step: int) -> str:
    """Write ``image`` as ``folder/step-NNNNNN.png`` (through a temporary file); returns the path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"step-{step:06d}.png")
    tmp = path + ".tmp.png"
    PIL.Image.fromarray(image).save(tmp)
    os.replace(tmp, path)
    return path
