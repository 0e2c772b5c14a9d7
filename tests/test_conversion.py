# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The official-checkpoint converter: accepted formats, refusals with clear messages, output folder."""

from __future__ import annotations

import json
import os

import pytest
import torch

from mcc_hf.conversion import (
    CheckpointConversionError,
    convert_generator_state_dict,
    convert_motion_estimator_state_dict,
    convert_official_checkpoint,
    load_official_state_dict,
)
from mcc_hf.presets import get_preset


@pytest.fixture(scope="module")
def official_state_dicts(official_checkpoints):
    generator = torch.load(official_checkpoints[0], weights_only=True)["params_ema"]
    motion = torch.load(official_checkpoints[1], weights_only=True)["params"]
    return generator, motion


@pytest.fixture(scope="module")
def vox_modules():
    return get_preset("vox-256").build()


def test_load_official_state_dict_formats(tmp_path):
    weights = {"a.weight": torch.ones(2), "b.bias": torch.zeros(1)}
    torch.save({"params": weights, "params_ema": {k: v + 1 for k, v in weights.items()}}, tmp_path / "basicsr.pth")
    torch.save(weights, tmp_path / "plain.pth")
    assert torch.equal(load_official_state_dict(str(tmp_path / "basicsr.pth"), "params")["a.weight"], torch.ones(2))
    assert torch.equal(load_official_state_dict(str(tmp_path / "basicsr.pth"), "params_ema")["a.weight"], 2 * torch.ones(2))
    assert set(load_official_state_dict(str(tmp_path / "plain.pth"))) == set(weights)

    torch.save({"params": weights}, tmp_path / "no_ema.pth")
    with pytest.raises(CheckpointConversionError, match="params_ema"):
        load_official_state_dict(str(tmp_path / "no_ema.pth"), "params_ema")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_official_state_dict(str(tmp_path / "absent.pth"))
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointConversionError, match="cannot read"):
        load_official_state_dict(str(tmp_path / "garbage.pth"))


def test_refuses_arbitrary_pickles(tmp_path):
    """weights_only=True: a checkpoint that needs arbitrary code to unpickle is refused, not executed."""

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"params": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointConversionError, match="cannot read"):
        load_official_state_dict(str(tmp_path / "evil.pth"))


def test_generator_refuses_missing_unexpected_and_mismatched(official_state_dicts, vox_modules):
    official, _ = official_state_dicts
    generator = vox_modules[2]
    converted = convert_generator_state_dict(official, generator)
    assert set(converted) == set(generator.state_dict())

    key = next(k for k in official if k.endswith(".weight") and official[k].ndim == 4)
    missing = {k: v for k, v in official.items() if k != key}
    with pytest.raises(CheckpointConversionError, match=r"1 missing: .*" + key.replace(".", r"\.")):
        convert_generator_state_dict(missing, generator)

    unexpected = dict(official, **{"extra.layer.weight": torch.zeros(3)})
    with pytest.raises(CheckpointConversionError, match=r"1 unexpected: extra\.layer\.weight"):
        convert_generator_state_dict(unexpected, generator)

    shape = dict(official, **{key: torch.zeros(*official[key].shape[:-1], official[key].shape[-1] + 2)})
    with pytest.raises(CheckpointConversionError, match="shape mismatches"):
        convert_generator_state_dict(shape, generator)


def test_wrong_configuration_is_named(official_state_dicts):
    official, motion = official_state_dicts
    keypoint_detector, dense_motion, generator = get_preset("tiny-64").build()
    with pytest.raises(CheckpointConversionError, match="does not match the configuration"):
        convert_generator_state_dict(official, generator)
    with pytest.raises(CheckpointConversionError, match="motion estimator checkpoint does not match the configuration"):
        convert_motion_estimator_state_dict(motion, keypoint_detector, dense_motion)


def test_motion_estimator_refuses_unexpected(official_state_dicts, vox_modules):
    _, motion = official_state_dicts
    keypoint_detector, dense_motion, _ = vox_modules
    with pytest.raises(CheckpointConversionError, match="unexpected keys: discriminator.x"):
        convert_motion_estimator_state_dict(dict(motion, **{"discriminator.x": torch.zeros(1)}), keypoint_detector, dense_motion)


def test_output_folder_and_model_card(converted_dir):
    index = json.loads((converted_dir / "model_index.json").read_text())
    assert index["_class_name"] == "TalkingHeadPipeline"
    for name in ("keypoint_detector", "dense_motion", "generator"):
        assert (converted_dir / name / "config.json").is_file()
        assert list((converted_dir / name).glob("*.safetensors")), f"{name} has no safetensors weights"
    card = (converted_dir / "README.md").read_text()
    assert "license: cc-by-nc-4.0" in card and "CC BY-NC 4.0" in card
    assert not [p for p in converted_dir.parent.iterdir() if p.name.startswith(".mcc-hf-convert-")]


def test_failed_conversion_leaves_nothing(official_checkpoints, tmp_path):
    generator_path, motion_path = official_checkpoints
    out = tmp_path / "out"
    with pytest.raises(CheckpointConversionError):
        convert_official_checkpoint(str(generator_path), str(motion_path), str(out), config="tiny-64")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_overwritten(official_checkpoints, tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not empty"):
        convert_official_checkpoint(*map(str, official_checkpoints), str(tmp_path))
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_params_versus_params_ema(official_checkpoints, official_state_dicts, tmp_path):
    """``generator_key`` picks the BasicSR entry; a plain state dict converts the same way."""
    generator_path, motion_path = official_checkpoints
    official, _ = official_state_dicts
    shifted = {k: v + 1 if v.is_floating_point() else v for k, v in official.items()}
    torch.save({"params": shifted, "params_ema": official}, tmp_path / "net_g.pth")
    torch.save(official, tmp_path / "plain.pth")
    ema = convert_official_checkpoint(str(tmp_path / "net_g.pth"), str(motion_path), generator_key="params_ema")
    raw = convert_official_checkpoint(str(tmp_path / "net_g.pth"), str(motion_path), generator_key="params")
    plain = convert_official_checkpoint(str(tmp_path / "plain.pth"), str(motion_path))
    name, weight = next(iter(ema.generator.named_parameters()))
    assert torch.equal(dict(plain.generator.named_parameters())[name], weight)
    assert torch.allclose(dict(raw.generator.named_parameters())[name], weight + 1)
