# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Training datasets: layouts, identity sampling, frame pairs, augmentation, determinism, errors."""

from __future__ import annotations

import csv

import numpy as np
import PIL.Image
import pytest
import torch

from mcc_hf.data import VideoPairDataset, find_videos, identity_of, read_video_frames
from mcc_hf.errors import UserInputError
from mcc_hf.errors import InvalidInputError

SIZE = 16
NUM_FRAMES = 6


def _frame(index: int) -> np.ndarray:
    """Frame ``index``: uniform brightness 40*index in the left half, 255 in the right half."""
    array = np.full((SIZE, SIZE, 3), 40 * index, dtype=np.uint8)
    array[:, SIZE // 2:] = 255
    return array


def _write_frame_folder(folder, num_frames=NUM_FRAMES):
    folder.mkdir(parents=True)
    for i in range(num_frames):
        PIL.Image.fromarray(_frame(i)).save(folder / f"{i:04d}.png")


def _write_mp4(path, num_frames=NUM_FRAMES):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for i in range(num_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture()
def dataset_root(tmp_path):
    """train/: identity a (two frame folders), identity b (one mp4), identity c (one frame folder); test/: one video."""
    root = tmp_path / "data"
    _write_frame_folder(root / "train" / "a#clip1#000")
    _write_frame_folder(root / "train" / "a#clip2#000")
    (root / "train").mkdir(exist_ok=True)
    _write_mp4(root / "train" / "b#clip#000.mp4")
    _write_frame_folder(root / "train" / "c")
    _write_frame_folder(root / "test" / "d#x#000")
    (root / "train" / "notes.txt").write_text("ignored")
    return root


def test_identity_is_the_name_before_the_first_hash():
    assert identity_of("id10001#abc#00001.mp4") == "id10001"
    assert identity_of("/data/train/id02#lp-d6#001.mp4") == "id02"
    assert identity_of("id03#frames") == "id03"
    assert identity_of("lonely.mp4") == "lonely"
    assert identity_of("folder_without_hash") == "folder_without_hash"


def test_find_videos_reads_both_layouts_and_the_split(dataset_root):
    videos = find_videos(str(dataset_root), "train")
    assert [v.identity for v in videos] == ["a", "a", "b", "c"]
    assert [v.is_frame_folder for v in videos] == [True, True, False, True]
    assert [v.num_frames() for v in videos] == [NUM_FRAMES] * 4
    assert [v.identity for v in find_videos(str(dataset_root), "test")] == ["d"]
    # A folder without train/ is read directly.
    assert len(find_videos(str(dataset_root / "train"), "train")) == 4


def test_mp4_frames_decode_through_pyav(dataset_root):
    frames = read_video_frames(str(dataset_root / "train" / "b#clip#000.mp4"), [4, 1, 99])
    assert sorted(frames) == [1, 4, 99]
    assert frames[1].shape == (SIZE, SIZE, 3) and frames[1].dtype == np.uint8
    assert abs(float(frames[4][:, : SIZE // 2].mean()) - 160) < 12
    assert abs(float(frames[1][:, : SIZE // 2].mean()) - 40) < 12
    np.testing.assert_array_equal(frames[99], read_video_frames(str(dataset_root / "train" / "b#clip#000.mp4"), [5])[5])


def test_items_are_identities_times_repeats(dataset_root):
    assert len(VideoPairDataset(str(dataset_root), SIZE, repeats=3)) == 3 * 3
    assert len(VideoPairDataset(str(dataset_root), SIZE, id_sampling=False, repeats=2)) == 4 * 2
    assert len(VideoPairDataset(str(dataset_root), SIZE, split="test")) == 1


def _frame_index(image: torch.Tensor) -> int:
    """Recover the frame index from the left half of an unflipped ``[3, H, W]`` model-range image."""
    value = (image[:, :, : SIZE // 2].mean() + 1) / 2 * 255
    return int(round(float(value) / 40))


def test_pairs_are_sorted_in_time_without_time_flip(dataset_root):
    ds = VideoPairDataset(str(dataset_root), SIZE, id_sampling=False, repeats=10, horizontal_flip=False, time_flip=False)
    pairs = []
    for i in range(len(ds)):
        item = ds[i]
        assert item["source"].shape == (3, SIZE, SIZE) and item["source"].dtype == torch.float32
        assert -1 <= float(item["source"].min()) and float(item["driving"].max()) <= 1
        pairs.append((_frame_index(item["source"]), _frame_index(item["driving"])))
    assert all(s <= d for s, d in pairs)
    assert len(set(pairs)) > 5  # frames are drawn at random


def test_time_and_horizontal_flips_happen(dataset_root):
    ds = VideoPairDataset(str(dataset_root), SIZE, id_sampling=False, repeats=10, horizontal_flip=True, time_flip=True)
    reversed_pairs, flipped = 0, 0
    for i in range(len(ds)):
        item = ds[i]
        source, driving = item["source"], item["driving"]
        right_is_white = bool(source[:, :, -1].mean() > 0.99)
        flipped += not right_is_white
        if not right_is_white:
            source, driving = source.flip(-1), driving.flip(-1)
        reversed_pairs += _frame_index(source) > _frame_index(driving)
        assert torch.equal(item["source"][:, :, -1] > 0.99, item["driving"][:, :, -1] > 0.99)  # flipped together
    assert 0 < flipped < len(ds)
    assert 0 < reversed_pairs < len(ds)


def test_draws_depend_only_on_seed_epoch_and_index(dataset_root):
    ds = VideoPairDataset(str(dataset_root), SIZE, repeats=4, seed=3)
    other = VideoPairDataset(str(dataset_root), SIZE, repeats=4, seed=3)
    for i in (5, 0, 11):
        torch.testing.assert_close(ds[i], other[i], rtol=0, atol=0)
    first = [ds[i]["driving"] for i in range(len(ds))]
    ds.set_epoch(1)
    second = [ds[i]["driving"] for i in range(len(ds))]
    assert any(not torch.equal(a, b) for a, b in zip(first, second))


def test_resize_and_colour_jitter(dataset_root):
    plain = VideoPairDataset(str(dataset_root), 8, repeats=2, seed=1)
    jittered = VideoPairDataset(str(dataset_root), 8, repeats=2, seed=1, color_jitter=0.4)
    a, b = plain[2], jittered[2]
    assert a["source"].shape == (3, 8, 8)
    assert not torch.equal(a["source"], b["source"])
    assert float(b["source"].min()) >= -1 and float(b["source"].max()) <= 1


def test_errors_name_the_problem(tmp_path, dataset_root):
    with pytest.raises(UserInputError, match="not found"):
        VideoPairDataset(str(tmp_path / "missing"), SIZE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no videos found"):
        VideoPairDataset(str(tmp_path / "empty"), SIZE)
    with pytest.raises(UserInputError, match="repeats"):
        VideoPairDataset(str(dataset_root), SIZE, repeats=0)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x#y.mp4").write_bytes(b"not a video")
    with pytest.raises(InvalidInputError, match="x#y.mp4"):
        VideoPairDataset(str(broken), SIZE)[0]


def _manifest_identities(data_dir, split: str) -> set[str]:
    """Identities of ``split`` as the dataset's manifest lists them (the dataset grows over time)."""
    with open(data_dir / "manifest.csv", newline="", encoding="utf-8") as f:
        return {row["identity"] for row in csv.DictReader(f) if row["split"] == split}


def test_shared_mini_dataset(data_dir):
    train = VideoPairDataset(str(data_dir), 64, split="train", repeats=1)
    expected = _manifest_identities(data_dir, "train")
    assert expected and len(train) == len(expected)  # one item per identity of the train split
    assert {v.identity for v in find_videos(str(data_dir), "train")} == expected
    item = train[0]
    assert item["source"].shape == (3, 64, 64) and item["driving"].shape == (3, 64, 64)
    assert len(VideoPairDataset(str(data_dir), 64, split="test")) == len(_manifest_identities(data_dir, "test"))


def test_hue_jitter_rotates_chroma_and_keeps_grey(dataset_root):
    plain = VideoPairDataset(str(dataset_root), 8, repeats=2, seed=1, horizontal_flip=False, time_flip=False)
    rotated = VideoPairDataset(
        str(dataset_root), 8, repeats=2, seed=1, horizontal_flip=False, time_flip=False, hue_jitter=0.5
    )
    a, b = plain[2], rotated[2]
    assert not torch.equal(a["source"], b["source"])
    assert float(b["source"].min()) >= -1 and float(b["source"].max()) <= 1
    # A grey image has no chroma: the rotation leaves it unchanged.
    grey = torch.full((2, 3, 4, 4), 0.5)
    rng = np.random.default_rng(0)
    torch.testing.assert_close(rotated._rotate_hue(grey, rng), grey, atol=1e-6, rtol=0)
    # Luma is kept (up to clamping, which mid-range colours do not reach).
    colour = torch.tensor([0.6, 0.4, 0.5]).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    out = rotated._rotate_hue(colour, np.random.default_rng(3))
    luma = lambda x: 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # noqa: E731
    torch.testing.assert_close(luma(out), luma(colour), atol=1e-5, rtol=0)
    assert not torch.allclose(out, colour, atol=1e-3)
    # Both frames of a pair get the same rotation.
    torch.testing.assert_close(out[0], out[1])
    with pytest.raises(UserInputError, match="hue_jitter"):
        VideoPairDataset(str(dataset_root), 8, hue_jitter=0.7)
