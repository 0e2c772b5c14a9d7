# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The public TalkingHeadPipeline: save/load round trip, input and output types, errors, cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import torch

from mcc_hf import TalkingHeadPipeline
from mcc_hf.errors import ModelLoadingError, UserInputError
from mcc_hf.loading import load_pipeline

from conftest import tiny_pipeline


@pytest.fixture(scope="module")
def frames():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 64, 64, generator=generator), torch.rand(3, 64, 64, generator=generator)


def test_round_trip_is_bit_exact(pipe, frames, tmp_path):
    driving, source = frames
    pipe.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())["generator"] == ["mcc_hf.generator", "CompensatoryGenerator"]
    assert (tmp_path / "generator" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = TalkingHeadPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    expected = pipe(source, driving, crop=False, output_type="pt").frames
    actual = loaded(source, driving, crop=False, output_type="pt").frames
    assert torch.equal(expected, actual)
    for name in ("keypoint_detector", "dense_motion", "generator"):
        public = lambda m: {k: v for k, v in json.loads(m.to_json_string()).items() if not k.startswith("_")}  # noqa: E731
        assert public(getattr(loaded, name)) == public(getattr(pipe, name))
        assert not getattr(loaded, name).training


def test_output_types(pipe, frames):
    driving, source = frames
    pt = pipe(source, driving, crop=False, output_type="pt").frames
    assert pt.shape == (3, 3, 64, 64) and pt.dtype == torch.float32
    assert pt.min() >= 0 and pt.max() <= 1
    np_frames = pipe(source, driving, crop=False, output_type="np").frames
    assert np_frames.shape == (3, 64, 64, 3) and np_frames.dtype == np.float32
    np.testing.assert_allclose(np_frames, pt.permute(0, 2, 3, 1).numpy(), atol=1e-7)
    pil = pipe(source, driving, crop=False, output_type="pil").frames
    assert len(pil) == 3 and all(isinstance(f, PIL.Image.Image) and f.size == (64, 64) for f in pil)
    (tuple_frames,) = pipe(source, driving, crop=False, output_type="pt", return_dict=False)
    assert torch.equal(tuple_frames, pt)


def test_input_types_agree(pipe, frames):
    """PIL, uint8 / float numpy and tensors describe the same frames and give the same result."""
    driving, source = frames
    driving = (driving * 255).round() / 255  # representable in uint8
    source = (source * 255).round() / 255
    expected = pipe(source, driving, crop=False, output_type="pt").frames
    to_np = lambda t: (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    as_uint8 = [to_np(f) for f in driving]
    as_pil = [PIL.Image.fromarray(f) for f in as_uint8]
    as_float = [f.astype(np.float32) / 255 for f in as_uint8]
    for src, drv in (
        (PIL.Image.fromarray(to_np(source)), as_pil),
        (to_np(source), np.stack(as_uint8)),
        (to_np(source).astype(np.float32) / 255, as_float),
        (source, iter(list(driving))),
    ):
        actual = pipe(src, drv, crop=False, output_type="pt").frames
        assert (actual - expected).abs().max() < 1e-5


def test_larger_inputs_are_resized(pipe, frames):
    driving, source = frames
    big = torch.nn.functional.interpolate(driving, size=(96, 96), mode="bilinear", align_corners=False)
    out = pipe(source, big, crop=False, output_type="pt").frames
    assert out.shape == (3, 3, 64, 64)


def test_relative_and_absolute_differ(pipe, frames):
    driving, source = frames
    relative = pipe(source, driving, crop=False, output_type="pt", relative=True).frames
    absolute = pipe(source, driving, crop=False, output_type="pt", relative=False).frames
    assert not torch.allclose(relative, absolute)


def test_bad_inputs_are_named(pipe, frames, tmp_path):
    driving, source = frames
    with pytest.raises(UserInputError, match="no driving frames"):
        pipe(source, [], crop=False, output_type="pt")
    with pytest.raises(UserInputError):
        pipe(np.zeros((4, 4, 7), np.uint8), driving, crop=False, output_type="pt")
    with pytest.raises((UserInputError, FileNotFoundError)):
        pipe(str(tmp_path / "missing.png"), driving, crop=False, output_type="pt")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(UserInputError):
        pipe(str(tmp_path / "text.png"), driving, crop=False, output_type="pt")
    with pytest.raises(ValueError, match="batch_size"):
        pipe(source, driving, crop=False, batch_size=0)


def test_mismatched_components_are_refused():
    kp, dense, gen = tiny_pipeline("tiny-64").components.values()
    other = tiny_pipeline("tiny-128")
    with pytest.raises(ValueError):
        TalkingHeadPipeline(keypoint_detector=kp, dense_motion=dense, generator=other.generator)


def test_load_pipeline_errors(pipe, tmp_path):
    with pytest.raises(ModelLoadingError, match="not found"):
        load_pipeline(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadingError, match="model_index.json"):
        load_pipeline(str(tmp_path / "empty"))
    # weights that do not match the config: save tiny-64, then claim a wider generator in its config
    folder = tmp_path / "broken"
    pipe.save_pretrained(folder)
    config_path = folder / "generator" / "config.json"
    config = json.loads(config_path.read_text())
    config["block_out_channels"] = [c * 2 for c in config["block_out_channels"]]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelLoadingError, match="do not match"):
        load_pipeline(str(folder))


def test_load_pipeline_device_and_dtype(pipe, tmp_path):
    pipe.save_pretrained(tmp_path)
    loaded = load_pipeline(str(tmp_path), dtype=torch.float64)
    assert loaded.generator.dtype == torch.float64 and not loaded.generator.training


def test_import_is_cheap():
    code = "import sys, mcc_hf; print(sorted(m for m in ('torch', 'diffusers', 'gradio', 'av') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_pipeline_built_from_modules_in_training_mode_renders_like_an_eval_one(frames):
    """What every diffusers test and every validation during training does: build the pipeline from fresh
    components (in train mode). BatchNorm must use its running statistics: the frames do not depend on the
    batch size, equal an eval-mode pipeline's, and the modules are back in train mode afterwards."""
    from mcc_hf.presets import get_preset

    torch.manual_seed(0)
    components = get_preset("tiny-64").build()
    for module in components:
        module.train()
    training = TalkingHeadPipeline(*components)
    training.set_progress_bar_config(disable=True)
    driving, source = frames
    one = training(source, driving, crop=False, batch_size=1, output_type="pt").frames
    three = training(source, driving, crop=False, batch_size=3, output_type="pt").frames
    assert all(module.training for module in components)
    for module in components:
        module.eval()
    evaluated = training(source, driving, crop=False, batch_size=3, output_type="pt").frames
    torch.testing.assert_close(one, three, atol=1e-5, rtol=0)
    torch.testing.assert_close(three, evaluated, atol=0, rtol=0)
