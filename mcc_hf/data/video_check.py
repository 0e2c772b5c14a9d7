# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""A quick check of every training video before training starts, so a corrupt clip is found at once
instead of when training first samples it.

A video file passes when its header can be read (:func:`mcc_hf.video.probe_video`), it declares a
frame size and at least two frames, its first frame decodes, and it reaches a late frame (90 % of
the way through): after a seek to the keyframe before that frame, the keyframe decodes and the file
holds the packets up to the late frame. A folder of frames passes when it holds at least two images
and its first and last image load, with the same size. Only the header and one or two frames are
decoded, not whole clips: corruption between those frames is left to the dataset, which replaces a
sample it cannot decode (:class:`~mcc_hf.data.VideoPairDataset`).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..image_processing import load_image
from ..video import probe_video, reaches_frame, read_frames
from .video_dataset import VideoSource

__all__ = ["UnreadableVideo", "VideoCheckResult", "check_video", "check_videos"]

logger = logging.getLogger(__name__)

#: Frames a training video needs: a source and a driving frame are drawn from it.
MIN_FRAMES = 2
# Where the late frame lies, as a fraction of the declared frame count (containers may over-report
# the count by a frame or two, so the very last frame is not required).
_LATE_FRACTION = 0.9


@dataclass(frozen=True)
class UnreadableVideo:
    """A video the check rejected: ``reason`` is one line naming the file and the problem."""

    path: str
    reason: str


@dataclass
class VideoCheckResult:
    """What :func:`check_videos` found.

    Args:
        readable: the videos that passed, in their original order.
        unreadable: the others, with the reason for each.
        seconds: how long the check took.
    """

    readable: list[VideoSource]
    unreadable: list[UnreadableVideo] = field(default_factory=list)
    seconds: float = 0.0


def check_video(video: VideoSource) -> str | None:
    """Check one training video; returns ``None`` when it can be used, else one line naming the file and the problem."""
    try:
        if video.is_frame_folder:
            _check_frame_folder(video)
        else:
            _check_video_file(video.path)
    except InvalidInputError as e:
        return str(e)
    except OSError as e:  # the file vanished or cannot be read at all
        return f"cannot read {video.path}: {e}"
    return None


def check_videos(videos: Sequence[VideoSource], num_threads: int | None = None, progress: bool = False) -> VideoCheckResult:
    """Check every video with :func:`check_video`, ``num_threads`` at a time (default: up to 8, one per CPU)."""
    start = time.perf_counter()
    num_threads = num_threads or max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(num_threads) as pool:
        reasons = list(tqdm(pool.map(check_video, videos), total=len(videos), desc="checking videos",
                            unit="video", disable=not progress))
    result = VideoCheckResult(readable=[v for v, r in zip(videos, reasons) if r is None])
    result.unreadable = [UnreadableVideo(v.path, r) for v, r in zip(videos, reasons) if r is not None]
    result.seconds = time.perf_counter() - start
    return result


def _check_frame_folder(video: VideoSource) -> None:
    files = video.frame_files()
    if len(files) < MIN_FRAMES:
        raise InvalidInputError(f"{video.path} holds {_count(len(files), 'frame image')}; a training video needs at least {MIN_FRAMES}")
    first, last = load_image(files[0]), load_image(files[-1])
    if first.shape != last.shape:
        raise InvalidInputError(
            f"the frames of {video.path} differ in size: {first.shape[2]}x{first.shape[1]} ({os.path.basename(files[0])}) "
            f"and {last.shape[2]}x{last.shape[1]} ({os.path.basename(files[-1])})"
        )


def _check_video_file(path: str) -> None:
    info = probe_video(path)
    if info.width < 1 or info.height < 1:
        raise InvalidInputError(f"{path} declares no frame size ({info.width}x{info.height})")
    frames = read_frames(path)
    try:
        next(frames)
    finally:
        frames.close()
    # Without a declared count, counting decodes the whole clip (as the dataset does), which also checks every frame.
    num_frames = info.num_frames or sum(1 for _ in read_frames(path))
    if num_frames < MIN_FRAMES:
        raise InvalidInputError(f"{path} has {_count(num_frames, 'frame')}; a training video needs at least {MIN_FRAMES}")
    late = max(1, int(_LATE_FRACTION * (num_frames - 1)))
    if info.num_frames and not (reaches_frame(path, late, info.fps) or _decode_up_to(path, late)):
        raise InvalidInputError(f"{path} ends before its frame {late} of the {num_frames} it declares (the file is cut short)")


def _decode_up_to(path: str, index: int) -> bool:
    """Decode from the start up to frame ``index``; whether the video has it (corrupt data raises)."""
    frames = read_frames(path)
    try:
        return any(i >= index for i, _ in enumerate(frames))
    finally:
        frames.close()


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
