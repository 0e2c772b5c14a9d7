# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Frame-by-frame animation: ``stream()`` has no look-ahead and matches ``__call__``; ``live()`` recalibrates,
reports stage timings and survives a face-less frame; ``mcc-hf live`` writes what it animates."""

from __future__ import annotations

import os
import re
import threading

import numpy as np
import pytest
import torch

from mcc_hf.cli import main
from mcc_hf.errors import NoFaceFoundError
from mcc_hf.video import probe_video, read_frames

CLIP = "id12#lp-d12#000.mp4"
PORTRAIT = "img01.png"


@pytest.fixture(scope="module")
def frames():
    generator = torch.Generator().manual_seed(3)
    return torch.rand(6, 3, 64, 64, generator=generator), torch.rand(3, 64, 64, generator=generator)


def test_stream_yields_before_the_input_ends(pipe, frames):
    """A camera-like iterator that blocks after its first frame: the first output frame still arrives."""
    driving, source = frames
    released = threading.Event()
    asked = []

    def camera():
        for index, frame in enumerate(driving):
            asked.append(index)
            if index == 1 and not released.wait(timeout=60):
                raise AssertionError("stream() asked for a second frame before yielding the first")
            yield frame

    stream = pipe.stream(source, camera(), crop=False)
    first = next(stream)
    assert asked == [0] and first.shape == (3, 64, 64)
    released.set()
    rest = list(stream)
    assert len(rest) == len(driving) - 1


@pytest.mark.parametrize("relative", [True, False])
def test_stream_matches_the_batched_call(pipe, frames, relative):
    driving, source = frames
    batched = pipe(source, driving, crop=False, relative=relative, smoothing=0.4, batch_size=4, output_type="pt").frames
    streamed = torch.stack(list(pipe.stream(source, iter(driving), crop=False, relative=relative, smoothing=0.4)))
    assert (streamed - batched).abs().max().item() <= 1e-5


def test_recalibrate_restarts_the_motion_from_the_next_frame(pipe, frames):
    driving, source = frames
    session = pipe.live(source, crop=False)
    for frame in driving[:3]:
        session(frame)
    session.set_reference(None)
    recalibrated = torch.stack([session(frame) for frame in driving[3:]])
    fresh = torch.stack(list(pipe.stream(source, iter(driving[3:]), crop=False)))
    assert (recalibrated - fresh).abs().max().item() <= 1e-5
    explicit = pipe.live(source, crop=False, reference_frame=driving[3])
    assert (explicit(driving[3]) - fresh[0]).abs().max().item() <= 1e-5
    assert set(session.timings) == {"prepare", "keypoints", "render", "compose"}
    assert all(seconds >= 0 for seconds in session.timings.values())


def test_live_with_crop_finds_the_face_once_and_refuses_a_faceless_frame(pipe, data_dir):
    clip = [frame for _, frame in zip(range(4), read_frames(data_dir / "test" / CLIP))]
    session = pipe.live(data_dir / "images" / PORTRAIT, output_type="np")
    first = session(clip[0])
    assert first.shape == (256, 256, 3) and session.plan.driving_box is not None
    box = session.plan.driving_box
    session(clip[1])
    assert session.plan.driving_box == box  # kept, not searched again
    session.set_reference(None)
    with pytest.raises(NoFaceFoundError, match="no face found in the driving frame"):
        session(np.full((256, 256, 3), 128, np.uint8))
    assert session(clip[2]).shape == (256, 256, 3)  # the stream goes on with the next good frame


def test_live_command_writes_the_stream(capsys, pipe, data_dir, tmp_path):
    model = tmp_path / "model"
    pipe.save_pretrained(model)
    code = main(["live", "--source", str(data_dir / "images" / PORTRAIT), "--driving", str(data_dir / "test" / CLIP),
                 "--output", str(tmp_path / "live.mp4"), "--model", str(model), "--max-frames", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"5 frames in .* fps\); latency per frame: median .* ms \(prepare .* compose .* ms\)", out)
    info = probe_video(tmp_path / "live.mp4")
    assert info.num_frames == 5 and (info.width, info.height) == (256, 256)


@pytest.mark.parametrize("driving", ["camera", "file"])
def test_ctrl_c_ends_a_camera_session_with_its_recording_but_a_file_run_leaves_nothing(
        capsys, monkeypatch, pipe, data_dir, tmp_path, driving):
    from mcc_hf.cli import live as live_command

    frames = list(read_frames(data_dir / "test" / CLIP))[:4]

    def interrupted(_):  # what a camera loop sees when the user presses Ctrl-C after three frames
        yield from frames[:3]
        raise KeyboardInterrupt

    monkeypatch.setattr(live_command, "_camera_frames", interrupted)
    import mcc_hf.video
    monkeypatch.setattr(mcc_hf.video, "read_frames", interrupted)
    model, output = tmp_path / "model", tmp_path / "live.mp4"
    pipe.save_pretrained(model)
    source = ["--camera", "0"] if driving == "camera" else ["--driving", str(data_dir / "test" / CLIP)]
    arguments = ["live", "--source", str(data_dir / "images" / PORTRAIT), *source, "--output", str(output),
                 "--model", str(model), "--fps", "25"]
    if driving == "camera":
        assert main(arguments) == 0
        assert probe_video(output).num_frames == 3
    else:
        assert main(arguments) == 130  # interrupted
        assert not output.exists()
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_live_command_explains_missing_options(capsys, data_dir):
    code = main(["live", "--source", str(data_dir / "images" / PORTRAIT), "--driving", str(data_dir / "test" / CLIP)])
    assert code == 2 and "--output FILE, --show and/or --virtual-camera" in capsys.readouterr().err
