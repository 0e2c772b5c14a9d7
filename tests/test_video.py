# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Video file I/O: decode, encode at the source fps, audio copy / re-encode, atomic writes, bad files."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mcc_hf.errors import InvalidInputError
from mcc_hf.video import VideoWriter, probe_video, read_frames


def make_video(path: Path, frames: np.ndarray | list[np.ndarray], fps: Fraction | int = 25, *,
               audio_codec: str | None = "aac", sample_rate: int = 16000) -> Path:
    """Write RGB uint8 frames as H.264 with, optionally, a 440 Hz tone as long as the video."""
    fps = Fraction(fps)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        audio = None
        if audio_codec is not None:
            audio = container.add_stream(audio_codec, rate=sample_rate)
            audio.layout = "mono"
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts, frame.time_base = index, 1 / fps
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            samples = int(sample_rate * len(frames) / fps)
            tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / sample_rate)
            tone = tone.astype(np.float32) if audio_codec == "aac" else (tone * 32767).astype(np.int16)
            layout_format = "fltp" if audio_codec == "aac" else "s16"
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format=layout_format, layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = sample_rate, start, Fraction(1, sample_rate)
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))
    return path


def streams(path: Path) -> dict[str, dict]:
    """Per stream type: codec, duration in seconds and decoded frame/sample count."""
    found = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            rate = stream.average_rate if stream.type == "video" else stream.rate
            found[stream.type] = {"codec": stream.codec_context.name, "rate": rate}
        if container.streams.audio:
            found["audio"]["seconds"] = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    return found


def gradient_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    y, x = np.mgrid[0:height, 0:width]
    return [np.stack([(x * 4 + t * 8) % 256, (y * 5) % 256, np.full_like(x, t * 10 % 256)], -1).astype(np.uint8)
            for t in range(count)]


def test_round_trip_keeps_frames_size_and_fps(tmp_path):
    frames = gradient_frames(12)
    path = tmp_path / "out.mp4"
    with VideoWriter(path, Fraction(30000, 1001)) as writer:
        writer.write(np.stack(frames[:5]))
        for frame in frames[5:]:
            writer.write(frame)
    assert writer.num_frames == 12 and (writer.width, writer.height) == (64, 48) and not writer.has_audio
    info = probe_video(path)
    assert info.fps == Fraction(30000, 1001) and (info.width, info.height) == (64, 48) and not info.has_audio
    decoded = list(read_frames(path))
    assert len(decoded) == 12 and decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
    assert np.abs(decoded[7].astype(int) - frames[7]).mean() < 4  # lossy but close
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # not left private like the temporary file


def test_odd_sizes_lose_the_last_row_and_column(tmp_path):
    with VideoWriter(tmp_path / "odd.mp4", 25) as writer:
        writer.write(np.zeros((3, 33, 21, 3), np.uint8))
    assert (writer.width, writer.height) == (20, 32)
    assert (probe_video(tmp_path / "odd.mp4").width, probe_video(tmp_path / "odd.mp4").height) == (20, 32)


@pytest.mark.parametrize("codec, container, expected", [("aac", "mp4", "aac"), ("pcm_s16le", "mkv", "aac")])
def test_audio_is_copied_or_reencoded(tmp_path, codec, container, expected):
    source = make_video(tmp_path / f"in.{container}", gradient_frames(20), 20, audio_codec=codec)
    assert probe_video(source).audio_codec == codec
    out = tmp_path / "out.mp4"
    with VideoWriter(out, probe_video(source).fps, audio_from=source) as writer:
        for frame in read_frames(source):
            writer.write(frame)
    assert writer.has_audio
    found = streams(out)
    assert found["video"]["codec"] == "h264" and found["video"]["rate"] == 20
    assert found["audio"]["codec"] == expected
    assert found["audio"]["seconds"] == pytest.approx(1.0, abs=0.07)  # 20 frames at 20 fps


def test_writer_without_audio_source_audio(tmp_path):
    source = make_video(tmp_path / "silent.mp4", gradient_frames(4), audio_codec=None)
    with VideoWriter(tmp_path / "out.mp4", 25, audio_from=source) as writer:
        writer.write(np.stack(list(read_frames(source))))
    assert not writer.has_audio and "audio" not in streams(tmp_path / "out.mp4")


def test_failure_leaves_no_file_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 25) as writer:
            writer.write(np.zeros((2, 16, 16, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    with pytest.raises(InvalidInputError, match="no frames were written"):
        VideoWriter(tmp_path / "empty.mp4", 25).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize("name, message", [
    ("out.gif", "unsupported output file type '.gif'"),
    ("missing/out.mp4", "output folder does not exist"),
])
def test_bad_output_paths(tmp_path, name, message):
    with pytest.raises(InvalidInputError, match=message):
        VideoWriter(tmp_path / name, 25)


def _bad_videos(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = make_video(tmp_path / "good.mp4", gradient_frames(30, 64, 64))
    data = good.read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    garbled = bytearray(data)
    rng = np.random.default_rng(0)
    positions = np.arange(1500, len(data) - 3000, 7)
    garbled[1500 : len(data) - 3000 : 7] = rng.integers(0, 256, len(positions), dtype=np.uint8).tobytes()
    (tmp_path / "garbled.mp4").write_bytes(bytes(garbled))
    (tmp_path / "text.mp4").write_text("not a video\n" * 50)
    import PIL.Image

    PIL.Image.new("RGB", (32, 32)).save(tmp_path / "still.png")
    with av.open(str(tmp_path / "empty.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        container.start_encoding()
    (tmp_path / "folder.mp4").mkdir()
    return {
        "missing": (tmp_path / "nope.mp4", "video file not found"),
        "directory": (tmp_path / "folder.mp4", "is a directory"),
        "text": (tmp_path / "text.mp4", "not a readable video"),
        "image": (tmp_path / "still.png", "not a video: .* is an image"),
        "zero frames": (tmp_path / "empty.mp4", "the video has no frames"),
        "truncated": (tmp_path / "truncated.mp4", "not a readable video"),
        "garbled": (tmp_path / "garbled.mp4", "corrupt video data"),
    }


def test_bad_videos_raise_clear_errors(tmp_path):
    for name, (path, message) in _bad_videos(tmp_path).items():
        with pytest.raises(InvalidInputError, match=message):
            for _ in read_frames(path):
                pass
