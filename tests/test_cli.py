# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The ``mcc-hf`` entry point and ``convert-official``: help, success, one-line errors, no partial output."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from mcc_hf.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcc_hf.cli", *args], capture_output=True, text=True)


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "convert-official" in result.stdout


def test_convert_official(official_checkpoints, tmp_path, capsys):
    generator, motion = map(str, official_checkpoints)
    out = tmp_path / "converted"
    assert main(["convert-official", "--generator", generator, "--motion-estimator", motion, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "30,118,854" in printed and "CC BY-NC 4.0" in printed
    assert (out / "model_index.json").is_file()

    # the output exists now: refused, and left as it was
    before = sorted(p.name for p in out.rglob("*"))
    assert main(["convert-official", "--generator", generator, "--motion-estimator", motion, "--output", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before


@pytest.mark.parametrize("case", ["missing", "wrong-key", "not-a-checkpoint", "wrong-config"])
def test_convert_errors_are_one_line(case, official_checkpoints, tmp_path):
    generator, motion = map(str, official_checkpoints)
    args = ["--generator", generator, "--motion-estimator", motion]
    if case == "missing":
        args[1] = str(tmp_path / "absent.pth")
        expected = "checkpoint not found"
    elif case == "wrong-key":
        torch.save({"params": {"x": torch.zeros(1)}}, tmp_path / "only_params.pth")
        args[1] = str(tmp_path / "only_params.pth")
        expected = "has no 'params_ema' entry"
    elif case == "not-a-checkpoint":
        (tmp_path / "notes.pth").write_text("hello")
        args[3] = str(tmp_path / "notes.pth")
        expected = "cannot read"
    else:
        args += ["--config", "tiny-64"]
        expected = "does not match the configuration"
    out = tmp_path / "out"
    result = run_cli("convert-official", *args, "--output", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcc-hf convert-official: error:") and expected in lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mcc-hf-convert-")]
