# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf animate-batch``: jobs from a CSV file, one-line errors per job, a summary, accelerate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_pipeline
from mcc_hf.cli import main


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A folder with a tiny model, two face crops and a short driving clip (all 64x64)."""
    from mcc_hf.demo import render_driving_clip
    from mcc_hf.video import VideoWriter

    folder = tmp_path_factory.mktemp("batch")
    tiny_pipeline("tiny-64", seed=0).save_pretrained(folder / "model")
    frames = render_driving_clip(size=64, num_frames=4)
    (folder / "clips").mkdir()
    with VideoWriter(folder / "clips" / "talk.mp4", 25.0) as writer:
        writer.write(frames)
    import PIL.Image

    (folder / "faces").mkdir()
    PIL.Image.fromarray(frames[0]).save(folder / "faces" / "a.png")
    PIL.Image.fromarray(np.ascontiguousarray(frames[2][:, ::-1])).save(folder / "faces" / "b.png")
    return folder


def _write_jobs(folder: Path, rows: list[str]) -> Path:
    path = folder / "jobs.csv"
    path.write_text("source,driving,output\n" + "\n".join(rows) + "\n")
    return path


def test_jobs_are_animated_and_a_failed_job_does_not_stop_the_others(workspace, capsys):
    out = workspace / "out"
    shutil.rmtree(out, ignore_errors=True)
    jobs = _write_jobs(workspace, [
        "faces/a.png,clips/talk.mp4,out/a.mp4",
        "faces/missing.png,clips/talk.mp4,out/missing.mp4",
        "faces/b.png,clips/talk.mp4,out/b.mp4",
    ])
    status = main(["animate-batch", str(jobs), "--model", str(workspace / "model"), "--no-crop"])
    captured = capsys.readouterr()
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mp4"]
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "missing.png" in errors[0]
    assert "animate-batch: 3 jobs: 2 written, 0 skipped, 1 failed (job 2)" in captured.out

    from mcc_hf.video import probe_video

    assert probe_video(out / "a.mp4").num_frames == 4

    # again, skipping what exists: only the failing job is retried
    status = main(["animate-batch", str(jobs), "--model", str(workspace / "model"), "--no-crop", "--skip-existing"])
    assert status == 1
    assert "2 skipped, 1 failed" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    ("source,output\nfaces/a.png,out/x.mp4\n", "lacks the column(s) driving"),
    ("source,driving,output\n", "lists no job"),
    ("source,driving,output\nfaces/a.png,clips/talk.mp4,o.mp4\nfaces/b.png,clips/talk.mp4,o.mp4\n", "both write"),
    ("source,driving,output\nfaces/a.png,,o.mp4\n", "empty driving"),
])
def test_bad_jobs_files_are_one_line_errors(workspace, tmp_path, capsys, content, message):
    (tmp_path / "jobs.csv").write_text(content)
    assert main(["animate-batch", str(tmp_path / "jobs.csv"), "--model", str(workspace / "model")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_accelerate_launch_with_one_process(workspace):
    pytest.importorskip("accelerate")
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if accelerate is None:
        pytest.skip("the accelerate launcher is not installed beside this Python")
    out = workspace / "launched"
    shutil.rmtree(out, ignore_errors=True)
    jobs = _write_jobs(workspace, ["faces/a.png,clips/talk.mp4,launched/a.mp4",
                                   "faces/b.png,clips/talk.mp4,launched/b.mp4"])
    result = subprocess.run(
        [accelerate, "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--cpu", "-m", "mcc_hf.cli", "animate-batch", str(jobs),
         "--model", str(workspace / "model"), "--no-crop"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 jobs: 2 written, 0 skipped, 0 failed" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mp4"]


def test_new_commands_are_listed(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "animate-batch" in out and "export-onnx" in out
