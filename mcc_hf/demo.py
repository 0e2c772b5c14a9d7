# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Inputs the project provides itself, so the main command needs nothing from the user.

The source is a public-domain photograph (astronaut Eileen Collins, NASA; shipped by scikit-image
as ``astronaut``). The driving clip is rendered from the same photograph by moving a camera window
smoothly over the face (nodding, turning in the image plane, leaning in and out), which gives
head motion with real facial texture and no third-party video.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

__all__ = ["DEMO_FACE_BOX", "load_demo_source", "render_driving_clip"]

#: Square face window (left, top, side) in the 512x512 astronaut photograph, framed like VoxCeleb
#: crops (the whole head with some hair and neck), found once with :class:`~mcc_hf.face.landmarks.FaceAnalyzer`.
DEMO_FACE_BOX = (122, 22, 200)


def load_demo_source() -> PIL.Image.Image:
    """The bundled 512x512 RGB source photograph."""
    with resources.files("mcc_hf.assets").joinpath("astronaut.jpg").open("rb") as f:
        return PIL.Image.open(f).convert("RGB")


def _camera_path(num_frames: int) -> list[tuple[float, float, float, float]]:
    """Per frame (angle in degrees, shift x, shift y as fractions of the window, zoom): one smooth loop."""
    path = []
    for i in range(num_frames):
        phase = 2 * math.pi * i / num_frames
        angle = 7.0 * math.sin(phase)
        shift_x = 0.05 * math.sin(2 * phase)
        shift_y = 0.04 * math.sin(phase + math.pi / 3)
        zoom = 1.0 + 0.05 * math.sin(3 * phase)
        path.append((angle, shift_x, shift_y, zoom))
    return path


def render_driving_clip(image: PIL.Image.Image | None = None, *, size: int = 256, num_frames: int = 50,
                        face_box: tuple[int, int, int] = DEMO_FACE_BOX) -> np.ndarray:
    """Render a head-motion clip from a still photograph.

    Args:
        image: the photograph (default: :func:`load_demo_source`).
        size: side of the output frames.
        num_frames: length of the clip (one full, seamless motion loop).
        face_box: ``(left, top, side)`` of the square face window in ``image`` pixels.

    Returns:
        ``[num_frames, size, size, 3]`` uint8 RGB frames.
    """
    image = load_demo_source() if image is None else image.convert("RGB")
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    height, width = pixels.shape[-2:]
    left, top, side = face_box
    center = torch.tensor([(left + side / 2) / width * 2 - 1, (top + side / 2) / height * 2 - 1])
    half = torch.tensor([side / width, side / height])  # half the window in normalised coordinates

    thetas = []
    for angle, shift_x, shift_y, zoom in _camera_path(num_frames):
        a = math.radians(angle)
        rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        linear = rotation * (half / zoom)[:, None]
        offset = center + torch.tensor([shift_x, shift_y]) * 2 * half
        thetas.append(torch.cat([linear, offset[:, None]], dim=1))
    grid = F.affine_grid(torch.stack(thetas), [num_frames, 3, size, size], align_corners=False)
    frames = F.grid_sample(pixels.expand(num_frames, -1, -1, -1), grid, mode="bilinear",
                           padding_mode="reflection", align_corners=False)
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
