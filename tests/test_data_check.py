# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Unreadable training videos: the check before step 1 (one line per bad video, skipped or --strict_data),
and samples the dataset replaces when a video fails half-way. All media are generated here."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from mcc_hf.data import VideoPairDataset, check_video, check_videos, find_videos
from mcc_hf.errors import InvalidInputError
from mcc_hf.video import read_frames

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32
NUM_FRAMES = 30
torch.set_num_threads(1)


def _frame(index: int, seed: int, size: int = SIZE) -> np.ndarray:
    """Noise (hard to compress, so every frame has many bytes) over a brightness ramp in time."""
    rng = np.random.default_rng([seed, index])
    return (rng.integers(0, 96, (size, size, 3)) + 5 * index).astype(np.uint8)


def _write_mp4(path: Path, num_frames: int = NUM_FRAMES, seed: int = 0, keyint: int = 5, faststart: bool = False,
               size: int = SIZE) -> Path:
    """An H.264 clip with a keyframe every ``keyint`` frames (moov atom at the end unless ``faststart``)."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0", "threads": "1"}
        for i in range(num_frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(_frame(i, seed, size), format="rgb24")))
        container.mux(stream.encode())
    return path


def _overwrite(path: Path, start: float, end: float) -> Path:
    """Replace the bytes between fractions ``start`` and ``end`` of the file with fixed noise."""
    data = bytearray(path.read_bytes())
    a, b = int(len(data) * start), int(len(data) * end)
    data[a:b] = np.random.default_rng(7).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def _truncate(path: Path, fraction: float) -> Path:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])
    return path


def _write_frame_folder(folder: Path, num_frames: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True)
    for i in range(num_frames):
        PIL.Image.fromarray(_frame(i, seed)).save(folder / f"{i:04d}.png")
    return folder


MID_CORRUPT = "m#mid#000.mp4"
UNREADABLE = {
    "e#random#000.mp4": "not a readable video",  # random bytes named .mp4
    "f#cut#000.mp4": "not a readable video",  # truncated: the moov atom at the end is gone
    "g#cut#000.mp4": "cut short",  # moov atom first, frame data cut after 40 %: header and first frame fine
    "h#one#000.mp4": "has 1 frame;",
    "i#one#000": "holds 1 frame image;",
}


def _mixed_train_folder(root: Path) -> Path:
    """``root/train`` with four good videos of three identities, the unreadable ones of ``UNREADABLE``, and
    ``MID_CORRUPT``, whose header, first and late frames decode but whose middle is noise."""
    train = root / "train"
    train.mkdir(parents=True)
    for seed, name in enumerate(["a#x#000.mp4", "a#x#001.mp4", "b#x#000.mp4"]):
        _write_mp4(train / name, seed=seed)
    _write_frame_folder(train / "c#frames#000", 4, seed=5)
    (train / "e#random#000.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    _truncate(_write_mp4(train / "f#cut#000.mp4", seed=6), 0.6)
    _truncate(_write_mp4(train / "g#cut#000.mp4", seed=7, faststart=True), 0.4)
    _write_mp4(train / "h#one#000.mp4", num_frames=1, seed=8)
    _write_frame_folder(train / "i#one#000", 1, seed=9)
    _overwrite(_write_mp4(train / MID_CORRUPT, seed=10), 0.3, 0.5)
    return root


@pytest.fixture()
def mixed_root(tmp_path) -> Path:
    return _mixed_train_folder(tmp_path / "data")


# ----------------------------------------------------------------------------------------------- the check

def test_check_names_each_unreadable_video_in_one_line(mixed_root):
    videos = find_videos(str(mixed_root), "train")
    result = check_videos(videos, num_threads=2)
    found = {os.path.basename(bad.path): bad.reason for bad in result.unreadable}
    assert set(found) == set(UNREADABLE)
    for name, reason in found.items():
        assert "\n" not in reason and name in reason and UNREADABLE[name] in reason, reason
    assert [os.path.basename(v.path) for v in result.readable] == [
        "a#x#000.mp4", "a#x#001.mp4", "b#x#000.mp4", "c#frames#000", MID_CORRUPT
    ]
    assert result.seconds > 0


def test_check_decodes_a_few_frames_so_corruption_in_between_is_left_to_the_dataset(mixed_root):
    middle = mixed_root / "train" / MID_CORRUPT
    assert check_video(find_videos(str(middle.parent))[-1]) is None
    with pytest.raises(InvalidInputError, match="corrupt video data"):
        for _ in read_frames(middle):
            pass


def test_check_without_seeking_support_decodes_from_the_start(tmp_path):
    """PyAV seeks in a GIF without error but then decodes nothing: the check falls back to decoding in order."""
    import av

    path = tmp_path / "g#gif#000.gif"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("gif", rate=10)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "rgb8"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(_frame(i, 0), format="rgb24").reformat(format="rgb8")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    (video,) = find_videos(str(tmp_path))
    assert check_video(video) is None
    _write_frame_folder(tmp_path / "sizes", 2)
    PIL.Image.fromarray(_frame(1, 0, size=SIZE * 2)).save(tmp_path / "sizes" / "0001.png")
    assert "differ in size" in check_video(find_videos(str(tmp_path))[-1])


def test_check_of_the_shared_mini_dataset(data_dir):
    result = check_videos(find_videos(str(data_dir), "train"))
    print(f"checked {len(result.readable) + len(result.unreadable)} videos of {data_dir / 'train'} "
          f"in {result.seconds:.2f} s")
    assert not result.unreadable, [bad.reason for bad in result.unreadable]


# ----------------------------------------------------------------------------------------------- replacement

def _all_items(dataset: VideoPairDataset, epochs=(0, 1), order=None) -> dict[tuple[int, int], dict]:
    items = {}
    for epoch in epochs:
        dataset.set_epoch(epoch)
        for index in order or range(len(dataset)):
            items[epoch, index] = dataset[index]
    return items


def test_samples_of_a_video_failing_half_way_are_replaced_reproducibly(mixed_root, caplog):
    readable = check_videos(find_videos(str(mixed_root), "train")).readable
    kwargs = dict(id_sampling=False, repeats=3, seed=0, videos=readable)
    dataset = VideoPairDataset(str(mixed_root), SIZE, **kwargs)
    with caplog.at_level(logging.WARNING, logger="mcc_hf.data"):
        items = _all_items(dataset)
    warnings = [r.getMessage() for r in caplog.records if "replacing a training sample" in r.getMessage()]
    assert warnings and all(MID_CORRUPT in w and "corrupt video data" in w for w in warnings)
    assert len(set(warnings)) == len(warnings)  # each message once at warning level
    # A fresh dataset, read in another order, gives the same items, replacements included.
    again = _all_items(VideoPairDataset(str(mixed_root), SIZE, **kwargs), order=range(len(dataset) - 1, -1, -1))
    for key, item in items.items():
        torch.testing.assert_close(again[key], item, rtol=0, atol=0)
    # Items that do not meet the corrupt part are those of the same videos with a clean copy of the clip.
    clean = mixed_root / "train_clean"  # sorts where train/ + the name does: the item order stays
    clean.mkdir()
    _write_mp4(clean / MID_CORRUPT, seed=10)
    videos = [v if not v.path.endswith(MID_CORRUPT) else type(v)(str(clean / MID_CORRUPT), v.identity) for v in readable]
    reference = _all_items(VideoPairDataset(str(mixed_root), SIZE, **{**kwargs, "videos": videos}))
    same = sum(torch.equal(reference[k]["source"], item["source"]) for k, item in items.items())
    assert 0 < len(items) - same <= len(items) // 2  # a minority of items were replaced


def test_a_dataset_of_videos_that_all_fail_stops_naming_one(mixed_root):
    (bad,) = [v for v in find_videos(str(mixed_root), "train") if v.path.endswith("e#random#000.mp4")]
    with pytest.raises(InvalidInputError, match="replacement samples all failed.*e#random#000.mp4"):
        VideoPairDataset(str(mixed_root), SIZE, videos=[bad])[0]


# ----------------------------------------------------------------------------------------------- train.py

def _train_script(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT), env=env)


def test_strict_data_stops_before_training_naming_the_unreadable_videos(mixed_root, tmp_path):
    args = ["--model_config", "tiny-64", "--perceptual_weight", "0", "--report_to", "none",
            "--train_data_dir", str(mixed_root), "--output_dir", str(tmp_path / "out"), "--strict_data"]
    result = _train_script(args)
    assert result.returncode == 2, result.stderr[-3000:]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: 5 of the 10 training videos") and "--strict_data" in error
    assert all(name in error for name in UNREADABLE) and MID_CORRUPT not in error
    assert "Traceback" not in result.stderr
    logged = [line for line in result.stderr.splitlines() if "unreadable training video:" in line]
    assert len(logged) == len(UNREADABLE)
    assert not (tmp_path / "out" / "checkpoint-1").exists()


def test_a_folder_without_one_readable_video_stops_with_a_clear_error(tmp_path):
    train = tmp_path / "data" / "train"
    train.mkdir(parents=True)
    (train / "x#random#000.mp4").write_bytes(b"\0" * 100)
    _write_mp4(train / "y#one#000.mp4", num_frames=1)
    result = _train_script(["--model_config", "tiny-64", "--perceptual_weight", "0", "--report_to", "none",
                            "--train_data_dir", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: none of the 2 videos in ")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_training_skips_unreadable_videos_replaces_failing_samples_and_resumes_identically(tmp_path):
    from test_training import _launch, _pipeline_weights, _tiny_run_args

    root = _mixed_train_folder(tmp_path / "data")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    extra = ["--no-id_sampling", "--dataset_repeats", "2"]
    result = _launch(_tiny_run_args(root, straight, 4) + extra)
    log = result.stdout + result.stderr
    skipped = [line for line in log.splitlines() if "unreadable training video:" in line]
    assert len(skipped) == len(UNREADABLE) and all(any(n in line for line in skipped) for n in UNREADABLE)
    assert "checked 10 training videos" in log and "5 readable, 5 left out" in log
    assert f"replacing a training sample: corrupt video data in {root / 'train' / MID_CORRUPT}" in log
    assert (straight / "model_index.json").is_file()
    _launch(_tiny_run_args(root, resumed, 2) + extra)
    _launch(_tiny_run_args(root, resumed, 4) + extra + ["--resume_from_checkpoint", "latest"])
    a, b = _pipeline_weights(straight), _pipeline_weights(resumed)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
