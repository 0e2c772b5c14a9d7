# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Test media made on the fly (no binaries in git): videos in any container and codec, with variable
frame timing, several audio streams, rotation metadata, and a flash in the picture at the same time
as a beep in the sound, so that audio/video sync can be measured after processing."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def flash_frames(count: int, flash_at: int, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    """Dark frames, white from frame ``flash_at`` on."""
    frames = []
    for index in range(count):
        frame = np.full((*size, 3), 20 if index < flash_at else 235, np.uint8)
        frame[:4, : 4 + index % 8] = 128  # a little motion so encoders see changing frames
        frames.append(frame)
    return frames


def beep(seconds: float, beep_at: float, sample_rate: int) -> np.ndarray:
    """Silence with a 1 kHz tone from ``beep_at`` seconds on, float32 in [-0.5, 0.5]."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return np.where(t >= beep_at, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)


def _audio_frames(stream, signal: np.ndarray, sample_rate: int):
    """``signal`` (mono float) as frames in the encoder's first sample format."""
    fmt = stream.codec_context.codec.audio_formats[0]
    size = stream.codec_context.frame_size or 1024
    for start in range(0, len(signal), size):
        chunk = signal[start : start + size]
        if not fmt.name.startswith("flt"):
            chunk = (chunk * (2 ** (8 * fmt.bytes - 1) - 1)).astype(np.int16 if fmt.bytes == 2 else np.int32)
        frame = av.AudioFrame.from_ndarray(chunk[None], format=fmt.name, layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, start, Fraction(1, sample_rate)
        yield frame


def write_video(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int = 25,
    times: list[float] | None = None,
    video_codec: str = "libx264",
    audio_codec: str | None = "aac",
    audio_streams: int = 1,
    sample_rate: int = 48000,
    signal: np.ndarray | None = None,
    display_rotation: int | None = None,
    rotate_tag: int | None = None,
    container_format: str | None = None,
) -> Path:
    """Write ``frames`` (RGB uint8) as a video.

    Args:
        times: presentation time of each frame in seconds (a variable-rate video); default ``i / fps``.
        signal: mono audio samples for every audio stream (default: a 440 Hz tone as long as the video).
        display_rotation: store a display matrix turning the picture this many degrees counter-clockwise.
        rotate_tag: store a legacy ``rotate`` stream tag (clockwise degrees).
    """
    times = times if times is not None else [i / fps for i in range(len(frames))]
    duration = times[-1] + 1 / fps
    if signal is None:
        t = np.arange(int(duration * sample_rate)) / sample_rate
        signal = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w", format=container_format) as container:
        video = container.add_stream(video_codec, rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        variable = times != [i / fps for i in range(len(frames))]
        tick = Fraction(1, 1000) if variable else Fraction(1, fps)  # AVI needs the frame rate as its time base
        video.time_base = tick
        video.codec_context.time_base = tick  # the encoder counts in the same ticks (frames closer than 1/fps)
        if variable:
            video.options = {"bf": "0"}  # no B-frames: decode order = presentation order with irregular times
        if display_rotation is not None:
            video.set_display_rotation(display_rotation)
        if rotate_tag is not None:
            video.metadata["rotate"] = str(rotate_tag)
        audios = [container.add_stream(audio_codec, rate=sample_rate, layout="mono") for _ in range(audio_streams)] if audio_codec else []
        for array, time in zip(frames, times):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts, frame.time_base = int(round(time / tick)), tick
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for audio in audios:
            for frame in _audio_frames(audio, signal, sample_rate):
                container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
    return path


def flash_time(path: Path) -> float:
    """Presentation time (s, from the first frame) of the first bright frame."""
    with av.open(str(path)) as container:
        start = None
        for frame in container.decode(video=0):
            start = frame.time if start is None else start
            if frame.to_ndarray(format="rgb24").mean() > 128:
                return float(frame.time - start)
    raise AssertionError(f"no flash in {path}")


def beep_time(path: Path) -> float:
    """Time (s) of the first loud sample of the first audio stream, relative to the first video frame."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video_start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray()
            if samples.dtype.kind in "iu":
                samples = samples / np.iinfo(samples.dtype).max
            channels = 1 if frame.format.is_planar else frame.layout.nb_channels
            loud = np.nonzero(np.abs(samples[0]) > 0.2)[0]
            if len(loud):
                return float(frame.time) + int(loud[0]) // channels / frame.sample_rate - video_start
    raise AssertionError(f"no beep in {path}")
