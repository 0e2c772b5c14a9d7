# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Animating real videos: animate_to_file on a real clip (frames, size, fps, audio), face crop and
paste-back, batching / source-caching / file-route parity, find_best_frame, keypoint smoothing and
the ``mcc-hf animate`` command with bad inputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from mcc_hf.cli import main
from mcc_hf.face.crop import CropBox, face_crop_box, feather_mask, paste_back
from mcc_hf.face.landmarks import FaceBox
from mcc_hf.motion.keypoints import Keypoints
from mcc_hf.motion.smoothing import KeypointSmoother
from mcc_hf.errors import NoFaceFoundError
from mcc_hf.video import probe_video, read_frames

from conftest import needs_face_models
from test_video import make_video, streams

CLIP = "id12#lp-d12#000.mp4"  # 91 frames, 256x256, 25 fps
SHORT = 6  # frames of the short clip most tests use (the tiny model takes ~0.1-0.8 s a frame on a busy CPU)
PORTRAIT = "img01.png"  # a 256x256 portrait HOG finds a face in


@pytest.fixture(scope="module")
def clip_frames(data_dir) -> list[np.ndarray]:
    return list(read_frames(data_dir / "test" / CLIP))



@pytest.fixture(scope="module")
def short_clip(clip_frames, tmp_path_factory) -> Path:
    """The first 6 frames of the real clip, with audio."""
    return make_video(tmp_path_factory.mktemp("short") / "short.mp4", clip_frames[:SHORT], 25)


@pytest.fixture(scope="module")
def wide_source(data_dir, tmp_path_factory) -> Path:
    """A portrait pasted into a larger, non-square photo (500x360): the face is not centred."""
    face = PIL.Image.open(data_dir / "images" / PORTRAIT).convert("RGB").resize((300, 300))
    canvas = PIL.Image.new("RGB", (500, 360), (40, 90, 160))
    canvas.paste(face, (150, 40))
    path = tmp_path_factory.mktemp("source") / "wide.png"
    canvas.save(path)
    return path


# animate_to_file on a real clip --------------------------------------------------------------------
@pytest.mark.parametrize("length", [25, pytest.param(91, marks=pytest.mark.slow)])
def test_animate_real_clip_to_file(pipe, clip_frames, wide_source, tmp_path, length):
    """A real clip (its first second, or all 91 frames with -m slow) with an audio track, un-cropped photo."""
    real_clip = make_video(tmp_path / "talk.mp4", clip_frames[:length], 25)
    calls = []
    out = tmp_path / "talking.mp4"
    result = pipe.animate_to_file(wide_source, real_clip, out, batch_size=8, callback=lambda done, total: calls.append((done, total)))
    assert (result.num_frames, result.fps, result.has_audio) == (length, 25.0, True)
    assert (result.width, result.height) == (500, 360) and result.path == str(out)
    info = probe_video(out)
    assert (info.width, info.height, info.fps, info.audio_codec) == (500, 360, 25, "aac")
    frames = list(read_frames(out))
    assert len(frames) == length and frames[0].shape == (360, 500, 3)
    assert streams(out)["audio"]["seconds"] == pytest.approx(length / 25, abs=0.07)
    assert calls == [(min(done, length), length) for done in range(8, length + 8, 8)]
    # Paste-back: far from the face the output is the source photo, untouched by the model.
    source = np.asarray(PIL.Image.open(wide_source))
    assert np.abs(frames[-1][:, :100].astype(int) - source[:, :100]).mean() < 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4", "talking.mp4"]


def test_output_size_and_no_crop(pipe, short_clip, data_dir, tmp_path):
    portrait = data_dir / "images" / PORTRAIT
    no_crop = pipe.animate_to_file(portrait, short_clip, tmp_path / "a.mp4", crop=False, keep_audio=False)
    assert (no_crop.width, no_crop.height, no_crop.num_frames, no_crop.has_audio) == (64, 64, SHORT, False)
    resized = pipe.animate_to_file(portrait, short_clip, tmp_path / "b.mkv", crop=False, output_size=96)
    assert (resized.width, resized.height, resized.has_audio) == (96, 96, True)
    assert probe_video(tmp_path / "b.mkv").num_frames in (None, SHORT)
    assert len(list(read_frames(tmp_path / "b.mkv"))) == SHORT


def test_pipeline_call_with_crop_pastes_into_the_source(pipe, short_clip, wide_source):
    frames = pipe(wide_source, short_clip, crop=True, output_size=180, output_type="np").frames
    assert frames.shape == (SHORT, 180, 250, 3)


# Parity through the new code paths --------------------------------------------------------------------
@pytest.mark.parametrize("crop", [False, True])
def test_batching_and_file_route_do_not_change_results(pipe, short_clip, data_dir, tmp_path, crop):
    """batch_size 1 vs 3 and a file path vs the decoded frame list agree within 1e-5 on the [0, 1] output."""
    source = data_dir / "images" / PORTRAIT
    clip = make_video(tmp_path / "four.mp4", list(read_frames(short_clip))[:4], 25)
    decoded = list(read_frames(clip))
    reference = pipe(source, clip, crop=crop, batch_size=1, output_type="pt").frames
    for driving, batch_size in ((clip, 3), (decoded, 1), (iter(decoded), 3)):
        frames = pipe(source, driving, crop=crop, batch_size=batch_size, output_type="pt").frames
        assert frames.shape == reference.shape == (4, 3, 256 if crop else 64, 256 if crop else 64)
        assert (frames - reference).abs().max().item() <= 1e-5


def test_source_is_encoded_once_per_call(pipe, short_clip, data_dir, monkeypatch):
    calls = []
    encode_source = pipe.generator.encode_source
    monkeypatch.setattr(pipe.generator, "encode_source",
                        lambda image, **kwargs: calls.append(image.shape) or encode_source(image, **kwargs))
    pipe(data_dir / "images" / PORTRAIT, short_clip, batch_size=4, output_type="pt")
    assert calls == [torch.Size([1, 3, 64, 64])]


def test_results_are_inference_tensors(pipe, short_clip, data_dir):
    frames = pipe(data_dir / "images" / PORTRAIT, short_clip, output_type="pt").frames
    assert frames.is_inference() and not frames.requires_grad


@needs_face_models
def test_find_best_frame_uses_the_matching_frame(pipe, clip_frames, data_dir):
    """With a driving frame as the source, the best frame is that frame (landmark distance 0)."""
    driving = clip_frames[:SHORT]
    source = driving[4]
    best = pipe(source, driving, crop=False, find_best_frame=True, output_type="pt").frames
    explicit = pipe(source, driving, crop=False, reference_frame=driving[4], output_type="pt").frames
    first = pipe(source, driving, crop=False, output_type="pt").frames
    assert torch.equal(best, explicit)
    assert not torch.equal(best, first)


def test_no_face_in_the_source(pipe, short_clip):
    noise = (np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)
    with pytest.raises(NoFaceFoundError, match="no face found in the source image; pass crop=False"):
        pipe(noise, short_clip, crop=True)


def test_no_face_in_the_driving_video(pipe, data_dir, tmp_path):
    noise = [(np.random.default_rng(i).random((64, 64, 3)) * 255).astype(np.uint8) for i in range(3)]
    with pytest.raises(NoFaceFoundError, match="no face found in the driving video"):
        pipe.animate_to_file(data_dir / "images" / PORTRAIT, make_video(tmp_path / "n.mp4", noise), tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


# Keypoint smoothing ---------------------------------------------------------------------------------
def _keypoints(values: torch.Tensor) -> Keypoints:
    frames = values.shape[0]
    jacobians = torch.eye(2).expand(frames, 1, 2, 2) + values[:, :, :, None] * 0.1
    return Keypoints(value=values, jacobian=jacobians)


def test_smoothing_off_is_identity():
    keypoints = _keypoints(torch.randn(5, 1, 2))
    smoothed = KeypointSmoother(0.0)(keypoints)
    assert smoothed is keypoints


def test_smoothing_reduces_jitter_and_follows_motion():
    generator = torch.Generator().manual_seed(0)
    still = 0.2 + 0.01 * torch.randn(100, 1, 2, generator=generator)
    jitter = {}
    for strength in (0.0, 0.3, 0.7):
        smoothed = KeypointSmoother(strength)(_keypoints(still))
        jitter[strength] = smoothed.value[20:].std().item()
        assert smoothed.jacobian[20:].std() <= _keypoints(still).jacobian[20:].std() + 1e-9
    assert jitter[0.7] < jitter[0.3] < jitter[0.0] * 0.7
    step = torch.cat([torch.zeros(25, 1, 2), torch.full((25, 1, 2), 0.5)])
    moved = KeypointSmoother(0.5)(_keypoints(step)).value
    assert (moved[-1] - 0.5).abs().max() < 0.01  # a fast move is followed within a second


def test_smoothing_state_carries_over_batches():
    keypoints = _keypoints(torch.randn(12, 3, 2))
    whole = KeypointSmoother(0.5, fps=30)(keypoints)
    smoother = KeypointSmoother(0.5, fps=30)
    parts = Keypoints.cat([smoother(keypoints[i : i + 5]) for i in range(0, 12, 5)])
    assert torch.allclose(whole.value, parts.value) and torch.allclose(whole.jacobian, parts.jacobian)


# Crop geometry ----------------------------------------------------------------------------------------
def test_crop_box_is_square_inside_the_image_and_ignores_outliers():
    faces = [FaceBox(100, 100, 200, 200), FaceBox(104, 98, 206, 200), FaceBox(96, 102, 198, 204), FaceBox(600, 20, 640, 60)]
    box = face_crop_box(faces, (480, 640))
    assert box.size == 202  # 2 median face widths (101 px) beat 1.6 x the union (176 px)
    assert 0 <= box.left and box.right <= 640 and 0 <= box.top and box.bottom <= 480
    center_x = box.left + box.size / 2
    assert abs(center_x - 150) <= 2 and box.top + box.size / 2 < 150  # centred on the face, moved up
    edge = face_crop_box([FaceBox(0, 0, 100, 100)], (300, 150))
    assert (edge.left, edge.top, edge.size) == (0, 0, 150)
    assert face_crop_box([], (10, 10)) is None


def test_feathered_paste_back():
    box = CropBox(left=0, top=10, size=20)
    mask = feather_mask(box, (40, 40), feather=0.25)
    assert mask.shape == (1, 20, 20)
    assert mask[0, 10, 0] == 1  # on the image border: no feathering
    assert mask[0, 0, 10] < 0.1 and mask[0, -1, 10] < 0.1 and mask[0, 10, -1] < 0.1  # inside: fades out
    assert mask[0, 10, 10] == 1
    background = torch.zeros(3, 40, 40)
    frames = paste_back(background, torch.ones(2, 3, 8, 8), box, mask)
    assert frames.shape == (2, 3, 40, 40)
    assert frames[:, :, 20, 5].eq(1).all() and frames[:, :, 5, 5].eq(0).all() and frames[:, :, 20, 30].eq(0).all()
    assert background.eq(0).all()


# The command line -----------------------------------------------------------------------------------
def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["animate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_cli_accepts_grayscale_rgba_and_16_bit_sources(capsys, model_dir, short_clip, data_dir, tmp_path, mode):
    portrait = PIL.Image.open(data_dir / "images" / PORTRAIT)
    image = portrait.convert("L") if mode != "RGBA" else portrait.convert("RGBA")
    if mode == "I;16":
        image = PIL.Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    image.save(tmp_path / "source.png")
    assert PIL.Image.open(tmp_path / "source.png").mode == mode
    code, out, err = _cli(capsys, "--source", tmp_path / "source.png", "--driving", short_clip,
                          "--output", tmp_path / "out.mp4", "--model", model_dir, "--batch-size", 5)
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'out.mp4'}: {SHORT} frames, 256x256, 25 fps, with the driving audio"


def test_cli_bad_inputs(capsys, model_dir, short_clip, data_dir, tmp_path):
    from test_video import _bad_videos

    portrait = data_dir / "images" / PORTRAIT
    (tmp_path / "not_image.png").write_text("hello")
    noise = tmp_path / "noise.png"
    PIL.Image.fromarray((np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)).save(noise)
    mismatched = tmp_path / "mismatched"
    shutil.copytree(model_dir, mismatched)
    config = json.loads((mismatched / "generator" / "config.json").read_text())
    config["block_out_channels"][-1] *= 2
    (mismatched / "generator" / "config.json").write_text(json.dumps(config))

    cases = [
        (("--source", tmp_path / "missing.png", "--driving", short_clip), "image file not found"),
        (("--source", tmp_path / "not_image.png", "--driving", short_clip), "not a readable image"),
        (("--source", noise, "--driving", short_clip), "no face found in the source image; pass crop=False / --no-crop"),
        (("--source", portrait, "--driving", short_clip, "--model", mismatched), "do not match its configuration"),
        (("--source", portrait, "--driving", short_clip, "--batch-size", 0), "--batch-size must be at least 1"),
        (("--source", portrait, "--driving", short_clip, "--smoothing", 2), "--smoothing must be between 0 and 1"),
    ]
    (tmp_path / "videos").mkdir()
    cases += [(("--source", portrait, "--driving", path), message) for path, message in _bad_videos(tmp_path / "videos").values()]
    for args, message in cases:
        if "--model" not in args:
            args = (*args, "--model", model_dir)
        code, out, err = _cli(capsys, *args, "--output", tmp_path / "out.mp4")
        lines = re.findall(r"mcc-hf animate: error: .*", err)  # after any progress-bar text on the line
        assert code == 2 and len(lines) == 1 and re.search(message, lines[0]), (args, err)
        assert "Traceback" not in err
        assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".out.mp4*"))
