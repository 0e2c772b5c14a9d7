# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Finding and decoding the evaluation clips and source images."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserInputError
from ..image_processing import IMAGE_EXTENSIONS
from ..video import VIDEO_EXTENSIONS

__all__ = ["Clip", "find_clips", "find_images", "read_clip"]



@dataclass(frozen=True)
class Clip:
    """A test clip. ``identity`` is the file-name part before the first ``#`` (``id#video#clip.mp4``)."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def identity(self) -> str:
        return self.path.stem.split("#", 1)[0]


def _listing(folder: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{what} folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise UserInputError(f"no {what} files ({', '.join(suffixes)}) in {folder}")
    return files


def find_clips(folder: str | os.PathLike, max_videos: int | None = None) -> list[Clip]:
    """The video files in ``folder`` (sorted by name), at most ``max_videos``."""
    clips = [Clip(path) for path in _listing(folder, VIDEO_EXTENSIONS, "video")]
    return clips[:max_videos] if max_videos is not None else clips


def find_images(folder: str | os.PathLike) -> list[Path]:
    """The image files in ``folder``, sorted by name."""
    return _listing(folder, IMAGE_EXTENSIONS, "image")


def read_clip(path: str | os.PathLike, max_frames: int | None = None) -> torch.Tensor:
    """Decode the first ``max_frames`` frames of a video (with :func:`mcc_hf.video.read_frames`).

    Returns:
        ``[T, 3, H, W]`` float32 in ``[0, 1]``.

    Raises:
        InvalidInputError: the file cannot be decoded or holds no video frames.
    """
    from ..video import read_frames

    frames = list(itertools.islice(read_frames(path), max_frames))
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)
