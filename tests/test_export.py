# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""ONNX export (``mcc-hf export-onnx``) and the ONNX Runtime runner: parity with PyTorch on tiny-64."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import tiny_pipeline
from mcc_hf.cli import main
from mcc_hf.errors import ModelLoadingError

PARITY = 1e-4  # largest |difference| on [0, 1] frames


def test_runner_refuses_a_folder_that_is_no_export(tmp_path):
    pytest.importorskip("onnxruntime")
    from mcc_hf.export import OnnxTalkingHeadRunner

    with pytest.raises(ModelLoadingError, match="export_config.json"):
        OnnxTalkingHeadRunner(tmp_path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-64")
    tiny_pipeline("tiny-64", seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory):
    """The tiny model exported once with the command line (which also verifies it with ONNX Runtime)."""
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)
    out = tmp_path_factory.mktemp("exported") / "onnx"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["export-onnx", "--model", str(model_dir), "--output", str(out)])
    assert status == 0, printed.getvalue()
    assert "verified with ONNX Runtime" in printed.getvalue() and "(ok)" in printed.getvalue()
    return out


@pytest.fixture(scope="module")
def clip():
    g = torch.Generator().manual_seed(3)
    coarse = torch.rand(6, 3, 8, 8, generator=g)
    frames = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bicubic").clamp(0, 1)
    return frames[0], frames[1:]


@pytest.mark.slow
def test_export_folder_layout(exported):
    config = json.loads((exported / "export_config.json").read_text())
    assert config["sample_size"] == 64 and config["num_keypoints"] == 10
    for name in ("source.onnx", "keypoints.onnx", "frame.onnx"):
        assert (exported / name).is_file()
    import onnx

    frame = onnx.load(str(exported / "frame.onnx"))
    names = [i.name for i in frame.graph.input]
    assert names == config["frame_inputs"]
    batch_dim = frame.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value  # the batch is dynamic
    assert not list(exported.parent.glob(".*mcc-tmp*"))  # nothing left from the atomic write


@pytest.mark.slow
@pytest.mark.parametrize("relative", [True, False])
def test_onnx_runtime_matches_pytorch(exported, model_dir, clip, relative):
    from mcc_hf import TalkingHeadPipeline
    from mcc_hf.export import OnnxTalkingHeadRunner

    pipe = TalkingHeadPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    source, driving = clip
    expected = pipe(source, driving, output_type="pt", relative=relative, batch_size=2, crop=False).frames.numpy()
    runner = OnnxTalkingHeadRunner(exported, providers=["CPUExecutionProvider"])
    for batch_size in (3, 1):  # a dynamic batch: 3 + 2 frames, then 1 at a time
        got = np.concatenate(list(runner.animate(source.numpy(), driving.numpy(), relative=relative,
                                                 batch_size=batch_size)))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= PARITY


@pytest.mark.slow
def test_runner_building_blocks(exported, model_dir, clip):
    """prepare_source / detect_keypoints / movement_scale / render give what the animator gives."""
    from mcc_hf import TalkingHeadPipeline
    from mcc_hf.animator import MotionTransfer
    from mcc_hf.export import OnnxTalkingHeadRunner
    from mcc_hf.image_processing import to_model_range

    pipe = TalkingHeadPipeline.from_pretrained(model_dir)
    animator = pipe.animator
    source, driving = clip
    runner = OnnxTalkingHeadRunner(exported, providers=["CPUExecutionProvider"])
    prepared = runner.prepare_source(source.numpy())
    reference = runner.detect_keypoints(driving[:1].numpy())
    with torch.no_grad():
        expected_source = animator.prepare_source(to_model_range(source[None]))
        expected_reference = animator.detect_keypoints(to_model_range(driving[:1]))
    np.testing.assert_allclose(prepared.value, expected_source.keypoints.value.numpy(), atol=1e-5)
    np.testing.assert_allclose(reference[1], expected_reference.jacobian.numpy(), atol=1e-5)
    for got, want in zip(prepared.features, expected_source.features.scale_features):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4)
    expected_scale = MotionTransfer(expected_source, reference=expected_reference).movement_scale
    assert runner.movement_scale(prepared, reference) == pytest.approx(expected_scale, rel=1e-5)
    with pytest.raises(ValueError, match="reference"):
        runner.render(prepared, driving.numpy())
