# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""What users send: phone media stored rotated, EXIF photos, audio in every container, variable frame
rates, several audio streams, huge or tiny images, an output path equal to an input, read-only
folders, SIGTERM in the middle of a run and a full disk. Every case checks what the user sees: an
upright face, audio present and in sync, a one-line message, the exit code, no leftover file."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import PIL.Image
import pytest

from mcc_hf.cli import main
from mcc_hf.errors import InvalidInputError, OutputError
from mcc_hf.image_processing import image_size, load_image
from mcc_hf.video import VideoWriter, probe_video, read_frames

from media import beep, beep_time, flash_frames, flash_time, write_video

CLIP = "id12#lp-d12#000.mp4"
PORTRAIT = "img01.png"
FPS = 25


@pytest.fixture(scope="module")
def face_frames(data_dir) -> list[np.ndarray]:
    """Eight frames of a real talking-head clip (256x256, upright)."""
    return [frame for _, frame in zip(range(8), read_frames(data_dir / "test" / CLIP))]


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["animate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str) -> str:
    lines = re.findall(r"mcc-hf animate: error: .*", err)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".")]


# Orientation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["display_matrix", "rotate_tag"])
def test_phone_video_stored_rotated_is_read_upright_and_animated(pipe, face_frames, tmp_path, how):
    """A portrait phone clip stores sideways frames and says how to turn them: read upright, face found."""
    sideways = [np.ascontiguousarray(np.rot90(frame, -1)) for frame in face_frames]  # stored turned clockwise
    if how == "display_matrix":
        clip = write_video(tmp_path / "phone.mp4", sideways, display_rotation=90)  # show turned back, counter-clockwise
    else:
        clip = write_video(tmp_path / "phone.mkv", sideways, rotate_tag=270)  # legacy tag, clockwise degrees
    info = probe_video(clip)
    assert info.rotation == 90 and (info.width, info.height) == (256, 256)
    upright = next(read_frames(clip))
    assert np.abs(upright.astype(int) - face_frames[0].astype(int)).mean() < 6  # codec noise only
    # Sideways, HOG finds no face: upright, the whole crop + paste-back run works.
    result = pipe.animate_to_file(face_frames[0], clip, tmp_path / "out.mp4", batch_size=4)
    assert (result.width, result.height) == (256, 256) and result.num_frames == len(face_frames)
    assert probe_video(tmp_path / "out.mp4").rotation == 0  # the output carries no rotation


def test_exif_oriented_phone_photo_is_upright(pipe, data_dir, face_frames, tmp_path):
    portrait = PIL.Image.open(data_dir / "images" / PORTRAIT).convert("RGB")
    stored = portrait.transpose(PIL.Image.Transpose.ROTATE_90)  # sensor data turned counter-clockwise ...
    exif = stored.getexif()
    exif[0x0112] = 6  # ... and EXIF orientation 6: "turn 90 degrees clockwise to show"
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    assert image_size(path) == (256, 256)
    loaded = load_image(path)
    expected = load_image(portrait)
    assert (loaded - expected).abs().mean() < 0.03
    clip = write_video(tmp_path / "clip.mp4", face_frames[:4])
    result = pipe.animate_to_file(path, clip, tmp_path / "out.mp4")  # crop: needs the upright face
    assert result.num_frames == 4


# Audio ---------------------------------------------------------------------------------------------
AUDIO_CASES = {
    "avi-mp3-to-mp4": ("clip.avi", dict(video_codec="mpeg4", audio_codec="libmp3lame", sample_rate=44100), ".mp4"),
    "webm-opus-to-mov": ("clip.webm", dict(video_codec="libvpx", audio_codec="libopus", sample_rate=48000), ".mov"),
    "mkv-flac-to-mp4": ("clip.mkv", dict(audio_codec="flac", sample_rate=44100), ".mp4"),
    "mp4-aac-to-mkv": ("clip.mp4", dict(audio_codec="aac", sample_rate=48000), ".mkv"),
}


def _sync_clip(folder: Path, name: str, *, times=None, **kwargs) -> tuple[Path, float]:
    """A clip whose picture turns white at the moment a beep starts; returns it and that moment."""
    frames = flash_frames(50, 30)
    times = times or [i / FPS for i in range(50)]
    flash = times[30]
    rate = kwargs.pop("sample_rate", 48000)
    path = write_video(folder / name, frames, fps=FPS, times=times, sample_rate=rate,
                       signal=beep(times[-1] + 0.2, flash, rate), **kwargs)
    return path, flash


def _rewrite(source: Path, output: Path) -> VideoWriter:
    """What animate_to_file does with the driving video's timing and sound (frames passed through unchanged)."""
    info = probe_video(source)
    with VideoWriter(output, info.fps, audio_from=source) as writer:
        for frame in read_frames(source, constant_rate=info.fps):
            writer.write(frame)
    return writer


@pytest.mark.parametrize("case", sorted(AUDIO_CASES))
def test_audio_in_every_container_stays_in_sync(tmp_path, case):
    name, options, extension = AUDIO_CASES[case]
    source, _ = _sync_clip(tmp_path, name, **options)
    offset = flash_time(source) - beep_time(source)  # the source's own offset (codec priming included)
    output = tmp_path / f"out{extension}"
    writer = _rewrite(source, output)
    assert writer.has_audio
    with av.open(str(output)) as container:
        assert len(container.streams.audio) == 1
        assert container.streams.audio[0].codec_context.name in ("aac", "mp3", "opus", "flac")
    assert abs((flash_time(output) - beep_time(output)) - offset) <= 1 / FPS


def test_variable_frame_rate_stays_in_sync(tmp_path):
    """60 frames at 50 fps, then 20 at 12.5 fps: a constant-rate rewrite must not drift from the audio."""
    times = [i * 0.02 for i in range(30)] + [0.6 + i * 0.08 for i in range(20)]
    source, flash = _sync_clip(tmp_path, "vfr.mp4", times=times)
    assert abs(flash_time(source) - beep_time(source)) < 0.005
    output = tmp_path / "out.mp4"
    _rewrite(source, output)
    assert abs(flash_time(output) - beep_time(output)) <= 1 / float(probe_video(source).fps)
    # Read naively (one output frame per input frame) the flash would come far too late.
    naive = 30 / float(probe_video(source).fps)
    assert naive - flash > 0.3


def test_two_audio_streams_first_is_kept_and_said(tmp_path, caplog):
    source, _ = _sync_clip(tmp_path, "two.mp4", audio_streams=2)
    with caplog.at_level("INFO", logger="mcc_hf.video"):
        writer = _rewrite(source, tmp_path / "out.mp4")
    assert writer.has_audio
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert len(container.streams.audio) == 1
    assert any("2 audio streams" in record.getMessage() for record in caplog.records)


def test_animate_to_file_with_avi_mp3_driving(pipe, face_frames, tmp_path):
    clip = write_video(tmp_path / "clip.avi", face_frames[:4], video_codec="mpeg4", audio_codec="libmp3lame",
                       sample_rate=44100)
    result = pipe.animate_to_file(face_frames[0], clip, tmp_path / "out.mp4", crop=False)
    # (FFmpeg's MPEG-4 encoder skips a timestamp after the first frame: on the 25 fps grid it is shown twice.)
    on_grid = len(list(read_frames(clip, constant_rate=FPS)))
    assert result.has_audio and result.num_frames == on_grid and on_grid >= 4


# Images ----------------------------------------------------------------------------------------------
def test_decompression_bomb_is_one_line(capsys, model_dir, face_frames, tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    PIL.Image.new("L", (200, 200)).save(path)
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 10_000)  # 40,000 pixels is then a "bomb"
    with pytest.raises(InvalidInputError, match="too large to process safely"):
        load_image(path)
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    code, _, err = _cli(capsys, "--source", path, "--driving", clip, "--output", tmp_path / "out.mp4", "--model", model_dir)
    assert code == 2 and "too large to process safely" in _one_error_line(err)
    assert not (tmp_path / "out.mp4").exists()


def test_one_pixel_source_with_crop_is_one_line(capsys, model_dir, face_frames, tmp_path):
    path = tmp_path / "dot.png"
    PIL.Image.new("RGB", (1, 1), (200, 150, 120)).save(path)
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    code, _, err = _cli(capsys, "--source", path, "--driving", clip, "--output", tmp_path / "out.mp4", "--model", model_dir)
    assert code == 2 and "too small to find a face" in _one_error_line(err)


def test_huge_photo_output_is_capped(pipe, data_dir, face_frames, tmp_path):
    """A 3000x4000 photo: the default output is 1080 pixels tall, not 4000 (and H.264 can encode it)."""
    face = PIL.Image.open(data_dir / "images" / PORTRAIT).convert("RGB").resize((1400, 1400))
    photo = PIL.Image.new("RGB", (3000, 4000), (90, 120, 60))
    photo.paste(face, (800, 1000))
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=90)
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    result = pipe.animate_to_file(path, clip, tmp_path / "out.mp4")
    assert (result.height, result.width) == (1080, 810)


def test_output_beyond_h264_is_refused_before_rendering(pipe, data_dir, face_frames, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    with pytest.raises(InvalidInputError, match="larger than H.264 can encode"):
        pipe.animate_to_file(data_dir / "images" / PORTRAIT, clip, tmp_path / "out.mp4", output_size=20000)
    assert os.listdir(tmp_path) == ["clip.mp4"]


# Files -----------------------------------------------------------------------------------------------
def test_output_equal_to_driving_is_refused_and_input_kept(capsys, model_dir, data_dir, face_frames, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    before = clip.read_bytes()
    code, _, err = _cli(capsys, "--source", data_dir / "images" / PORTRAIT, "--driving", clip, "--output", clip,
                        "--model", model_dir)
    assert code == 2 and "is the input file" in _one_error_line(err)
    os.symlink(clip, tmp_path / "link.mp4")
    code, _, err = _cli(capsys, "--source", data_dir / "images" / PORTRAIT, "--driving", clip,
                        "--output", tmp_path / "link.mp4", "--model", model_dir)
    assert code == 2 and "is the input file" in _one_error_line(err)
    assert clip.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0 and not os.environ.get("MCC_TEST_AS_ROOT_OK"), reason="root ignores folder permissions")
def test_read_only_output_folder_fails_before_the_model_loads(capsys, data_dir, face_frames, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, _, err = _cli(capsys, "--source", data_dir / "images" / PORTRAIT, "--driving", clip,
                            "--output", folder / "out.mp4", "--model", tmp_path / "no-model-needed")
        assert code == 2 and "permission denied" in _one_error_line(err)
    finally:
        folder.chmod(0o755)


def test_read_only_output_folder_as_root_is_reported_by_the_writer(pipe, data_dir, face_frames, tmp_path, monkeypatch):
    """Root may write anywhere, so the permission error is simulated where the file is created."""
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(InvalidInputError, match="permission denied"):
        pipe.animate_to_file(data_dir / "images" / PORTRAIT, clip, tmp_path / "out.mp4")


def test_disk_full_is_one_line_and_leaves_nothing(capsys, model_dir, data_dir, face_frames, tmp_path, monkeypatch):
    clip = write_video(tmp_path / "clip.mp4", face_frames[:4])
    real_mux = av.container.OutputContainer.mux
    calls = {"n": 0}

    def mux(self, packets):
        calls["n"] += 1
        if calls["n"] > 2:
            raise av.error.OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))
        return real_mux(self, packets)

    monkeypatch.setattr(av.container.OutputContainer, "mux", mux)
    with pytest.raises(OutputError, match="the disk is full"):
        VideoWriter(tmp_path / "direct.mp4", 25).__enter__().write(np.zeros((4, 64, 64, 3), np.uint8))
    code, _, err = _cli(capsys, "--source", data_dir / "images" / PORTRAIT, "--driving", clip,
                        "--output", tmp_path / "out.mp4", "--model", model_dir)
    assert code == 2 and "the disk is full" in _one_error_line(err)
    assert not (tmp_path / "out.mp4").exists() and not _leftovers(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_termination_mid_run_leaves_no_temporary_and_rerun_works(model_dir, data_dir, tmp_path, signum):
    clip = write_video(tmp_path / "clip.mp4", [frame for _, frame in zip(range(200), read_frames(data_dir / "test" / CLIP))])
    output = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "mcc_hf.cli", "animate", "--source", str(data_dir / "images" / PORTRAIT),
               "--driving", str(clip), "--output", str(output), "--model", str(model_dir), "--batch-size", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not _leftovers(tmp_path) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)  # wait for the temporary output file: rendering has started
    assert process.poll() is None, process.communicate()[1].decode()[-2000:]
    process.send_signal(signum)
    assert process.wait(timeout=120) == 128 + signum
    assert not output.exists() and not _leftovers(tmp_path)
    short = write_video(tmp_path / "short.mp4", [frame for _, frame in zip(range(3), read_frames(clip))])
    command[command.index("--driving") + 1] = str(short)
    done = subprocess.run(command, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert output.exists() and not _leftovers(tmp_path)


def test_stale_temporaries_of_a_killed_run_are_removed(pipe, data_dir, face_frames, tmp_path):
    stale = tmp_path / ".out.mp4.mcc-tmp-abc123.mp4"
    stale.write_bytes(b"half a video")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    clip = write_video(tmp_path / "clip.mp4", face_frames[:2])
    pipe.animate_to_file(data_dir / "images" / PORTRAIT, clip, tmp_path / "out.mp4")
    assert not stale.exists() and (tmp_path / "out.mp4").exists()
