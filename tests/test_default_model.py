# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The bundled default model: found by every documented name, small, and actually trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mcc_hf
from mcc_hf.loading import load_pipeline
from mcc_hf.presets import get_preset

ROOT = Path(__file__).resolve().parents[1]


def test_default_model_is_bundled_and_small():
    folder = Path(mcc_hf.DEFAULT_MODEL)
    assert (folder / "model_index.json").is_file()
    assert "license: apache-2.0" in (folder / "README.md").read_text()
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total <= 30 * 2**20, f"the bundled model takes {total / 2**20:.1f} MB (limit 30 MB)"


def test_default_model_matches_its_training_config():
    """The shipped weights were trained with the configuration kept in configs/default-model/."""
    preset = get_preset(str(ROOT / "configs" / "default-model" / "model.json"))
    for name in ("keypoint_detector", "dense_motion", "generator"):
        shipped = json.loads((Path(mcc_hf.DEFAULT_MODEL) / name / "config.json").read_text())
        for key, value in getattr(preset, name).items():
            assert shipped[key] == (list(value) if isinstance(value, tuple) else value), f"{name}.{key}"


@pytest.mark.parametrize("name", [None, mcc_hf.DEFAULT_MODEL_NAME, mcc_hf.DEFAULT_MODEL])
def test_default_model_loads_by_every_name(name):
    pipe = load_pipeline(name)
    assert pipe.sample_size == 64 and not pipe.generator.training


def test_default_model_is_trained():
    """Animating the demo face along its own rendered head motion gives the moving face back, closer
    than the still source does (the static baseline): a random or untrained model does not."""
    from mcc_hf.demo import load_demo_source, render_driving_clip

    pipe = mcc_hf.TalkingHeadPipeline.from_pretrained(mcc_hf.DEFAULT_MODEL)
    pipe.set_progress_bar_config(disable=True)
    clip = render_driving_clip(load_demo_source(), size=64, num_frames=4)
    frames = pipe(clip[0], clip, crop=False, output_type="np").frames
    assert np.isfinite(frames).all()
    target = clip.astype(np.float32) / 255
    l1 = float(np.abs(frames[1:] - target[1:]).mean())
    static = float(np.abs(target[:1] - target[1:]).mean())
    assert l1 < 0.8 * static, f"L1 {l1:.3f} against the moving frames, static source {static:.3f}"
