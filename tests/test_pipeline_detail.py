# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Detail transfer in the pipeline (``detail_transfer=``): when it is on, what it changes, and that every
entry point (``__call__``, ``animate_to_file``, ``stream``) composes the same frames; with a tiny preset."""

from __future__ import annotations


import numpy as np
import PIL.Image
import pytest
import torch

from mcc_hf.composition import FrameComposer
from mcc_hf.detail_transfer import transfer_detail
from mcc_hf.errors import UserInputError
from mcc_hf.face.crop import CropBox
from mcc_hf.image_processing import resize_to
from mcc_hf.video import read_frames

from conftest import needs_face_models
from test_video import make_video

@pytest.fixture(scope="module")
def inputs():
    """A 200x200 source with fine texture and 5 driving frames (already square face-sized crops)."""
    generator = torch.Generator().manual_seed(1)
    source = torch.rand(3, 200, 200, generator=generator)
    driving = torch.rand(5, 3, 96, 96, generator=generator)
    return source, driving


# --------------------------------------------------------------------------- when it is on


@pytest.mark.parametrize(
    "composer, expected",
    [
        (FrameComposer.resize((64, 64)), False),  # the model size: nothing to add
        (FrameComposer.resize((48, 48)), False),
        (FrameComposer.resize((65, 65)), True),
        (FrameComposer.resize((512, 512)), True),
        (FrameComposer.paste(torch.zeros(3, 360, 500), CropBox(150, 20, 64)), False),  # face no larger than the model
        (FrameComposer.paste(torch.zeros(3, 360, 500), CropBox(150, 20, 200)), True),  # a big photo, a small output:
        (FrameComposer.paste(torch.zeros(3, 120, 160), CropBox(40, 10, 50)), False),  # the face box decides
    ],
)
def test_automatic_decision_follows_the_face_size(pipe, composer, expected):
    assert pipe.uses_detail_transfer(composer) is expected
    assert pipe.uses_detail_transfer(composer, True) is True
    assert pipe.uses_detail_transfer(composer, False) is False


@pytest.mark.parametrize("output_size, detail_transfer, expected",
                         [(None, None, False), (128, None, True), (128, False, False), (None, True, True), (48, None, False)])
def test_prepare_source_keeps_the_face_at_the_output_size_once(pipe, inputs, output_size, detail_transfer, expected):
    source, _ = inputs
    with pipe._inference():
        photo = pipe.prepare_source(source, crop=False, output_size=output_size, detail_transfer=detail_transfer)
    side = output_size or pipe.sample_size
    if expected:
        assert photo.composer.detail_source.shape == (3, side, side)
        torch.testing.assert_close(photo.composer.detail_source, resize_to(source[None], side)[0])
    else:
        assert photo.composer.detail_source is None


def test_bad_option_is_named(pipe, inputs):
    source, driving = inputs
    for value in ("yes", 1, 0.5):
        with pytest.raises(UserInputError, match="detail_transfer"):
            pipe(source, driving, crop=False, detail_transfer=value)


# --------------------------------------------------------------------------- what it changes


def test_off_is_the_old_path_exactly(pipe, inputs):
    """False (and automatic at the model size) give exactly the frames the pipeline gave before: the model
    output, resized to the output size."""
    source, driving = inputs
    at_model_size = pipe(source, driving, crop=False, output_type="pt").frames
    old = resize_to(at_model_size, 128)
    off = pipe(source, driving, crop=False, output_size=128, detail_transfer=False, output_type="pt").frames
    assert torch.equal(off, old)
    automatic = pipe(source, driving, crop=False, output_type="pt").frames  # 64 = the model size: off
    assert torch.equal(automatic, at_model_size)


def test_on_is_transfer_detail_of_the_model_output(pipe, inputs):
    """True (and automatic above the model size) change the output: it is transfer_detail of the model's
    output with its final flow and occlusion and the source at the output size."""
    source, driving = inputs
    on = pipe(source, driving, crop=False, output_size=128, output_type="pt").frames
    forced = pipe(source, driving, crop=False, output_size=128, detail_transfer=True, output_type="pt").frames
    off = pipe(source, driving, crop=False, output_size=128, detail_transfer=False, output_type="pt").frames
    assert on.shape == (5, 3, 128, 128)
    torch.testing.assert_close(on, forced, atol=1e-5, rtol=0)
    assert (on - off).abs().mean() > 1e-3  # an untrained model disagrees with the source in most places

    animator = pipe.animator
    with pipe._inference():
        prepared = animator.prepare_source(pipe.preprocess(source[None]))
        keypoints = animator.detect_keypoints(pipe.preprocess(driving))
        from mcc_hf.animator import MotionTransfer

        result = animator.render(prepared, MotionTransfer(prepared)(keypoints))
    frames = ((result.sample.float().clamp(-1, 1) + 1) / 2)
    generated = result.generator_output
    expected = transfer_detail(frames, resize_to(source[None], 128)[0], generated.deformations[-1],
                               generated.occlusions[-1]).sample
    torch.testing.assert_close(on, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("output_size", [64, 100])
def test_forced_on_at_or_below_the_face_size(pipe, inputs, output_size):
    source, driving = inputs
    frames = pipe(source, driving[:2], crop=False, output_size=output_size, detail_transfer=True, output_type="pt").frames
    assert frames.shape == (2, 3, output_size, output_size)
    assert torch.isfinite(frames).all() and 0 <= frames.min() and frames.max() <= 1


def test_output_types_and_non_square_sources(pipe, inputs):
    _, driving = inputs
    source = torch.rand(3, 150, 220, generator=torch.Generator().manual_seed(3))
    frames = pipe(source, driving[:2], crop=False, output_size=90, output_type="np").frames
    assert frames.shape == (2, 90, 90, 3) and frames.dtype == np.float32
    images = pipe(source, driving[:2], crop=False, output_size=90, output_type="pil").frames
    assert images[0].size == (90, 90)


# --------------------------------------------------------------------------- every entry point


def test_stream_and_batches_equal_the_call(pipe, inputs):
    source, driving = inputs
    called = pipe(source, driving, crop=False, output_size=128, batch_size=1, output_type="pt").frames
    batched = pipe(source, driving, crop=False, output_size=128, batch_size=3, output_type="pt").frames
    streamed = torch.stack(list(pipe.stream(source, driving, crop=False, output_size=128)))
    torch.testing.assert_close(batched, called, atol=1e-5, rtol=0)
    torch.testing.assert_close(streamed, called, atol=1e-5, rtol=0)
    off = torch.stack(list(pipe.stream(source, driving, crop=False, output_size=128, detail_transfer=False)))
    torch.testing.assert_close(off, pipe(source, driving, crop=False, output_size=128, detail_transfer=False,
                                         output_type="pt").frames, atol=1e-5, rtol=0)


def test_live_session_timings_and_option(pipe, inputs):
    source, driving = inputs
    session = pipe.live(source, crop=False, output_size=128)
    assert session.plan.composer.detail_source is not None
    assert session(driving[0]).shape == (3, 128, 128)
    assert pipe.live(source, crop=False, output_size=128, detail_transfer=False).plan.composer.detail_source is None


def test_file_route_equals_the_call(pipe, inputs, tmp_path, monkeypatch):
    """animate_to_file (streamed batch by batch, uint8 composition) encodes the frames of __call__ (to 1/255)."""
    from mcc_hf.image_processing import to_uint8
    from mcc_hf.pipelines import pipeline_talking_head

    source, driving = inputs
    clip = make_video(tmp_path / "driving.mp4", [np.ascontiguousarray((f.permute(1, 2, 0) * 255).byte().numpy())
                                                 for f in driving], 25)
    decoded = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in read_frames(clip)])
    written = []
    write = pipeline_talking_head.VideoWriter.write
    monkeypatch.setattr(pipeline_talking_head.VideoWriter, "write", lambda self, frames: written.append(frames.copy())
                        or write(self, frames))
    result = pipe.animate_to_file(source, clip, tmp_path / "out.mp4", crop=False, output_size=128, keep_audio=False,
                                  batch_size=2)
    assert (result.width, result.height, result.num_frames) == (128, 128, 5)
    expected = to_uint8(pipe(source, decoded, crop=False, output_size=128, output_type="pt").frames)
    off = to_uint8(pipe(source, decoded, crop=False, output_size=128, detail_transfer=False, output_type="pt").frames)
    written = np.concatenate(written)
    assert np.abs(written.astype(int) - expected).max() <= 1
    assert np.abs(written.astype(int) - off).max() > 1


@needs_face_models
def test_crop_and_paste_back_turns_it_on(pipe, data_dir, tmp_path):
    """A portrait in a 500x360 photo: the face box at the output (about 200 px) is larger than the model's
    64, so the pasted face gets the photo's detail; the background stays the photo's either way."""
    face = PIL.Image.open(data_dir / "images" / "img01.png").convert("RGB").resize((300, 300))
    canvas = PIL.Image.new("RGB", (500, 360), (40, 90, 160))
    canvas.paste(face, (150, 40))
    source = tmp_path / "wide.png"
    canvas.save(source)
    clip = next(iter(sorted((data_dir / "test").glob("*.mp4"))))
    frames = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for _, f in zip(range(3), read_frames(clip))]
    with pipe._inference():
        photo = pipe.prepare_source(source)
    assert photo.composer.box.size > pipe.sample_size and photo.composer.detail_source is not None
    assert photo.composer.detail_source.shape == (3, photo.composer.box.size, photo.composer.box.size)
    on = pipe(source, frames, output_type="pt").frames
    off = pipe(source, frames, detail_transfer=False, output_type="pt").frames
    assert on.shape == off.shape == (3, 3, 360, 500)
    box = photo.composer.box
    assert (box.crop(on) - box.crop(off)).abs().mean() > 0.005
    torch.testing.assert_close(on[..., :, :box.left], off[..., :, :box.left], atol=0, rtol=0)


@pytest.mark.parametrize("flags, expected", [((), None), (("--detail-transfer",), True), (("--no-detail-transfer",), False)])
def test_cli_flags_reach_the_pipeline(pipe, inputs, tmp_path, monkeypatch, flags, expected):
    """``mcc-hf animate --detail-transfer / --no-detail-transfer`` (default: automatic, ``None``)."""
    from mcc_hf.cli import main
    from mcc_hf.pipelines.pipeline_talking_head import TalkingHeadPipeline

    source, driving = inputs
    PIL.Image.fromarray((source.permute(1, 2, 0) * 255).byte().numpy()).save(tmp_path / "face.png")
    clip = make_video(tmp_path / "driving.mp4", [np.ascontiguousarray((f.permute(1, 2, 0) * 255).byte().numpy())
                                                 for f in driving[:2]], 25)
    model = tmp_path / "model"
    pipe.save_pretrained(model)
    seen = []
    animate_to_file = TalkingHeadPipeline.animate_to_file
    monkeypatch.setattr(TalkingHeadPipeline, "animate_to_file",
                        lambda self, *a, **k: seen.append(k["detail_transfer"]) or animate_to_file(self, *a, **k))
    assert main(["animate", "--source", str(tmp_path / "face.png"), "--driving", str(clip), "--output",
                 str(tmp_path / "out.mp4"), "--model", str(model), "--no-crop", "--output-size", "96", *flags]) == 0
    assert seen == [expected]
