# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Pairs of frames from talking-head videos, in the FOMM/VoxCeleb layout.

A dataset root holds ``train/`` and ``test/`` folders (or is itself such a folder). Each video is
either a folder of PNG/JPG frames (sorted by name) or a video file decoded with PyAV. A video's
identity is its name up to the first ``#`` (``id10001#abc#00001.mp4`` -> ``id10001``); a name
without ``#`` is its own identity.

Every item is one identity (``id_sampling=True``, the released recipe) or one video: a video of
the identity is chosen at random, two frame indices are drawn uniformly with replacement and sorted
(source before driving), then both frames are flipped horizontally with p = 0.5 and swapped (time
flip) with p = 0.5. Optional colour and hue jitter change both frames alike.

Randomness depends only on ``(seed, epoch, index)``, so an epoch is reproducible whatever the
number of loader workers or processes, which makes resumed training follow the same data. A sample
whose frames cannot be decoded (a clip corrupt half-way through) is logged and replaced by a sample
of another item, drawn from ``(seed, epoch, index, attempt)``: the replacement is reproducible too.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..errors import InvalidInputError, UserInputError
from ..image_processing import IMAGE_EXTENSIONS, load_image, resize_to, to_model_range
from ..video import VIDEO_EXTENSIONS, probe_video, read_frames

__all__ = ["VideoPairDataset", "VideoSource", "find_videos", "identity_of", "read_video_frames"]

logger = logging.getLogger(__name__)

#: How many other samples an item tries when its own cannot be decoded, before the dataset gives up.
MAX_REPLACEMENTS = 10


def identity_of(name: str) -> str:
    """The identity of a video named ``name``: the part before the first ``#`` (else the name without extension)."""
    base = os.path.basename(os.path.normpath(name))
    if "#" in base:
        return base.split("#", 1)[0]
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in VIDEO_EXTENSIONS else base


def _frame_files(folder: str) -> list[str]:
    return sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS)
    )


def read_video_frames(path: str, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode the frames ``indices`` of a video file (with :func:`mcc_hf.video.read_frames`).

    Returns ``{index: HxWx3 uint8 RGB array}``. Decoding stops after the largest index; an index
    past the real end of the stream (containers sometimes over-report) gets the last frame.

    Raises:
        InvalidInputError: naming the file, when it cannot be opened, holds no frame or its data is corrupt.
    """
    wanted = sorted(set(int(i) for i in indices))
    frames: dict[int, np.ndarray] = {}
    last = None
    decoder = read_frames(path)
    try:
        for i, last in enumerate(decoder):
            if i in wanted:
                frames[i] = last
            if i >= wanted[-1]:
                break
    finally:
        decoder.close()
    return {i: frames.get(i, last) for i in wanted}


def _count_video_frames(path: str) -> int:
    """The frame count the container declares, else the number of frames decoded."""
    return probe_video(path).num_frames or sum(1 for _ in read_frames(path))


@dataclass(frozen=True)
class VideoSource:
    """One training video: a folder of frames or a video file."""

    path: str
    identity: str

    @property
    def is_frame_folder(self) -> bool:
        return os.path.isdir(self.path)

    def frame_files(self) -> list[str]:
        """The image files of a frame folder, sorted by name."""
        return _frame_files(self.path)

    def num_frames(self) -> int:
        if self.is_frame_folder:
            return len(self.frame_files())
        return _count_video_frames(self.path)

    def read(self, indices: Sequence[int]) -> list[torch.Tensor]:
        """The frames at ``indices`` as ``[3, H, W]`` float tensors in ``[0, 1]``.

        Raises:
            InvalidInputError: naming the file, when a frame cannot be read.
        """
        if self.is_frame_folder:
            files = self.frame_files()
            if max(indices) >= len(files):
                raise InvalidInputError(f"{self.path} now holds {len(files)} frames, fewer than when it was counted")
            return [load_image(files[i]) for i in indices]
        decoded = read_video_frames(self.path, indices)
        return [load_image(decoded[int(i)]) for i in indices]


def find_videos(root: str, split: str | None = None) -> list[VideoSource]:
    """List the videos under ``root/split`` (or ``root`` when it has no such folder), sorted by name."""
    if not os.path.isdir(root):
        raise UserInputError(f"dataset folder not found: {root}")
    folder = os.path.join(root, split) if split and os.path.isdir(os.path.join(root, split)) else root
    videos = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            if _frame_files(path):
                videos.append(VideoSource(path, identity_of(name)))
        elif name.lower().endswith(VIDEO_EXTENSIONS):
            videos.append(VideoSource(path, identity_of(name)))
    if not videos:
        raise UserInputError(
            f"no videos found in {folder}: expected video files ({', '.join(VIDEO_EXTENSIONS)}) or folders of "
            f"{'/'.join(e.lstrip('.').upper() for e in IMAGE_EXTENSIONS[:2])} frames, named 'identity#clip...'"
        )
    return videos


# RGB -> YIQ (NTSC); Y is luma, I and Q span the chroma plane that hue jitter rotates.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_RGB_FROM_YIQ = np.linalg.inv(_YIQ)


class VideoPairDataset(torch.utils.data.Dataset):
    """(source, driving) frame pairs from talking-head videos.

    Args:
        root: dataset folder (with ``train/``/``test/`` or directly holding videos).
        resolution: side of the square frames returned (resized when the video differs).
        split: sub-folder to read (``"train"`` or ``"test"``); ignored when ``root`` has no such folder.
        id_sampling: one item per identity (released recipe) instead of one per video.
        repeats: how many times the item list is repeated per epoch (the release uses 100).
        horizontal_flip: flip both frames horizontally with p = 0.5.
        time_flip: swap source and driving with p = 0.5.
        color_jitter: strength ``s`` of a brightness/contrast/saturation jitter with factors in
            ``[1 - s, 1 + s]``, the same for both frames (0 disables it, as in the release).
        hue_jitter: largest hue rotation, as a fraction of a full turn in ``[0, 0.5]``: the chroma
            plane of YIQ is rotated by an angle drawn uniformly from ``[-h, h] * 360°``, the same for
            both frames (0 disables it). With few identities it keeps the generator from memorising
            skin and background colours instead of copying them from the source.
        seed: base of the per-item random streams.
        videos: the videos to draw from instead of all those under ``root`` (e.g. the readable ones
            :func:`~mcc_hf.data.check_videos` returned).

    Items are dicts with ``"source"`` and ``"driving"``: ``[3, resolution, resolution]`` float32 in ``[-1, 1]``.
    """

    def __init__(
        self,
        root: str,
        resolution: int,
        split: str | None = "train",
        id_sampling: bool = True,
        repeats: int = 1,
        horizontal_flip: bool = True,
        time_flip: bool = True,
        color_jitter: float = 0.0,
        hue_jitter: float = 0.0,
        seed: int = 0,
        videos: Sequence[VideoSource] | None = None,
    ):
        if repeats < 1:
            raise UserInputError(f"repeats must be at least 1, got {repeats}")
        if not 0 <= color_jitter < 1:
            raise UserInputError(f"color_jitter must be in [0, 1), got {color_jitter}")
        if not 0 <= hue_jitter <= 0.5:
            raise UserInputError(f"hue_jitter must be in [0, 0.5], got {hue_jitter}")
        self.videos = list(videos) if videos is not None else find_videos(root, split)
        if not self.videos:
            raise UserInputError(f"no videos to train on in {root}")
        self.resolution = resolution
        self.id_sampling = id_sampling
        self.repeats = repeats
        self.horizontal_flip = horizontal_flip
        self.time_flip = time_flip
        self.color_jitter = color_jitter
        self.hue_jitter = hue_jitter
        self.seed = seed
        self.epoch = 0
        groups: dict[str, list[VideoSource]] = {}
        for video in self.videos:
            groups.setdefault(video.identity if id_sampling else video.path, []).append(video)
        self.items: list[list[VideoSource]] = [groups[key] for key in sorted(groups)]
        self._frame_counts: dict[str, int] = {}
        self._reported: set[str] = set()

    def __len__(self) -> int:
        return len(self.items) * self.repeats

    def set_epoch(self, epoch: int) -> None:
        """Select the item order and random draws of ``epoch`` (call before iterating)."""
        self.epoch = int(epoch)

    def _item(self, index: int) -> list[VideoSource]:
        block, position = divmod(index, len(self.items))
        order = np.random.default_rng([self.seed, self.epoch, block]).permutation(len(self.items))
        return self.items[order[position]]

    def _frame_count(self, video: VideoSource) -> int:
        if video.path not in self._frame_counts:
            count = video.num_frames()
            if count < 1:
                raise InvalidInputError(f"video {video.path} has no frames")
            self._frame_counts[video.path] = count
        return self._frame_counts[video.path]

    def _jitter(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Brightness, contrast and saturation jitter of ``[N, 3, H, W]`` in ``[0, 1]`` (same factors for all N)."""
        low, high = 1 - self.color_jitter, 1 + self.color_jitter
        brightness, contrast, saturation = rng.uniform(low, high, size=3)
        frames = frames * brightness
        mean = frames.mean(dim=(1, 2, 3), keepdim=True)
        frames = (frames - mean) * contrast + mean
        gray = (0.299 * frames[:, 0:1] + 0.587 * frames[:, 1:2] + 0.114 * frames[:, 2:3])
        frames = (frames - gray) * saturation + gray
        return frames.clamp(0, 1)

    def _rotate_hue(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Rotate the hue of ``[N, 3, H, W]`` in ``[0, 1]`` (one angle for all N), keeping luma (YIQ)."""
        angle = 2 * np.pi * rng.uniform(-self.hue_jitter, self.hue_jitter)
        cos, sin = np.cos(angle), np.sin(angle)
        rotation = np.array([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
        matrix = _RGB_FROM_YIQ @ rotation @ _YIQ
        mixed = torch.einsum("ij,njhw->nihw", torch.as_tensor(matrix, dtype=frames.dtype), frames)
        return mixed.clamp(0, 1)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        candidates = self._item(index)
        for attempt in range(MAX_REPLACEMENTS + 1):
            try:
                return self._pair(candidates, rng)
            except InvalidInputError as error:
                self._report(error)
                failure = error
            # A replacement depends only on (seed, epoch, index, attempt): resumed runs draw the same one.
            rng = np.random.default_rng([self.seed, self.epoch, index, 2, attempt])
            candidates = self.items[rng.integers(len(self.items))]
        raise InvalidInputError(
            f"item {index} and its {MAX_REPLACEMENTS} replacement samples all failed to decode; the last error: {failure}"
        )

    def _pair(self, candidates: list[VideoSource], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Draw a video of ``candidates``, two of its frames and their augmentation from ``rng``."""
        video = candidates[rng.integers(len(candidates))]
        indices = np.sort(rng.integers(0, self._frame_count(video), size=2))
        frames = torch.stack(video.read([int(i) for i in indices]))  # [2, 3, H, W] in [0, 1]
        frames = resize_to(frames, self.resolution)
        if self.horizontal_flip and rng.random() < 0.5:
            frames = frames.flip(-1)
        if self.time_flip and rng.random() < 0.5:
            frames = frames.flip(0)
        if self.color_jitter > 0:
            frames = self._jitter(frames, rng)
        if self.hue_jitter > 0:
            frames = self._rotate_hue(frames, rng)
        frames = to_model_range(frames)
        return {"source": frames[0].contiguous(), "driving": frames[1].contiguous()}

    def _report(self, error: InvalidInputError) -> None:
        """Log a sample that could not be read: a warning the first time for each message, then at debug level."""
        message = str(error)
        level = logging.DEBUG if message in self._reported else logging.WARNING
        self._reported.add(message)
        logger.log(level, "replacing a training sample: %s", message)
