# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf demo`` and its bundled inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mcc_hf.cli import main
from mcc_hf.demo import load_demo_source, render_driving_clip


def test_bundled_source_and_driving_clip():
    source = load_demo_source()
    assert source.size == (512, 512) and source.mode == "RGB"
    clip = render_driving_clip(source, size=64, num_frames=8)
    assert clip.shape == (8, 64, 64, 3) and clip.dtype == np.uint8
    assert np.abs(clip[0].astype(int) - clip[2].astype(int)).mean() > 1, "the camera does not move"
    assert np.array_equal(clip, render_driving_clip(source, size=64, num_frames=8)), "not deterministic"


@pytest.mark.slow
def test_demo_command(tmp_path, capsys):
    from conftest import tiny_pipeline

    from mcc_hf.video import probe_video

    model = tmp_path / "model"
    tiny_pipeline("tiny-64").save_pretrained(model)
    out = tmp_path / "demo"
    assert main(["demo", "--model", str(model), "--output-dir", str(out), "--frames", "6", "--no-crop"]) == 0
    printed = capsys.readouterr().out
    for name in ("driving.mp4", "result.mp4", "preview.png"):
        assert (out / name).is_file() and str(out / name) in printed
    info = probe_video(out / "result.mp4")
    assert info.num_frames == 6 and float(info.fps) == 25


def test_demo_rejects_bad_frame_count(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path), "--frames", "1"]) == 2
    assert "--frames must be at least 2" in capsys.readouterr().err
