# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Evaluation metrics against known values, face metrics on the shared clips, and the evaluate command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mcc_hf.evaluation import metrics as M
from mcc_hf.evaluation.perceptual import LPIPSVGG, frechet_distance

from conftest import needs_face_models


def _random_frames(t=3, size=32, seed=0):
    return torch.rand(t, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --- frame metrics ------------------------------------------------------------------------------


def test_identical_frames_give_l1_zero_ssim_one_psnr_inf():
    frames = _random_frames()
    assert torch.equal(M.l1_distance(frames, frames), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(M.ssim(frames, frames), torch.ones(3, dtype=torch.float64))
    assert torch.isinf(M.psnr(frames, frames)).all()


def test_constant_offset_gives_expected_l1_and_psnr():
    frames = _random_frames() * 0.8
    shifted = frames + 0.1  # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    torch.testing.assert_close(M.l1_distance(shifted, frames), torch.full((3,), 0.1, dtype=torch.float64))
    torch.testing.assert_close(M.psnr(shifted, frames), torch.full((3,), 20.0, dtype=torch.float64))


def test_one_pixel_shift_gives_expected_psnr():
    # A horizontal ramp x / W rolled right by one column.
    width = 40
    ramp = torch.arange(width, dtype=torch.float64).div(width).expand(1, 3, 16, width).contiguous()
    shifted = torch.roll(ramp, 1, dims=-1)
    # Columns 1..W-1 differ by 1/W, column 0 by (W-1)/W.
    mse = ((width - 1) * (1 / width) ** 2 + ((width - 1) / width) ** 2) / width
    torch.testing.assert_close(M.psnr(shifted, ramp), torch.tensor([10 * math.log10(1 / mse)], dtype=torch.float64))


def test_ssim_of_constant_images_matches_the_luminance_formula():
    a, b = 0.3, 0.7
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # contrast/structure terms are C2 / C2 = 1
    value = M.ssim(torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b))
    torch.testing.assert_close(value, torch.tensor([expected], dtype=torch.float64))


def test_ssim_matches_scikit_image():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    x, y = _random_frames(1, 48, seed=1), _random_frames(1, 48, seed=2)
    y = 0.6 * x + 0.4 * y  # correlated, so SSIM is well away from 0
    reference = skimage_metrics.structural_similarity(
        x[0].permute(1, 2, 0).double().numpy(), y[0].permute(1, 2, 0).double().numpy(), channel_axis=2,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
    )
    # scikit-image reflects at the borders; ours averages the valid window positions only.
    assert M.ssim(x, y).item() == pytest.approx(reference, abs=0.02)
    assert M.ssim(x, y).item() > 0.5


def test_frame_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        M.l1_distance(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 8))
    with pytest.raises(ValueError, match="at least 11x11"):
        M.ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


# --- face metric arithmetic ---------------------------------------------------------------------


def test_keypoint_and_identity_distances_on_known_values():
    points = np.random.default_rng(0).uniform(0, 256, (4, 68, 2))
    moved = points + np.array([3.0, 4.0])  # every landmark moves 5 px
    np.testing.assert_allclose(M.average_keypoint_distance(points, points), 0.0)
    np.testing.assert_allclose(M.average_keypoint_distance(moved, points), 5.0)
    moved[1] = np.nan  # no face in frame 1
    assert np.isnan(M.average_keypoint_distance(moved, points)[1])
    assert M.missing_face_rate(moved, points) == pytest.approx(0.25)

    e = np.eye(3)[:2]
    np.testing.assert_allclose(M.identity_distance(e, np.array([1.0, 0, 0])), [0.0, math.sqrt(2)])
    np.testing.assert_allclose(M.cosine_similarity(e, np.array([1.0, 0, 0])), [1.0, 0.0])


# --- LPIPS / FID arithmetic (architecture only; real scores need real weights) ------------------


def test_lpips_architecture_loads_torchvision_layout_and_is_zero_on_identical_images():
    model = LPIPSVGG()
    backbone = {f"features.{k}": v for k, v in model.features.state_dict().items()}
    backbone["classifier.0.weight"] = torch.zeros(1)  # extra torchvision keys are ignored
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    model.load_weights(backbone, heads)
    frames = _random_frames(2, 32)
    assert torch.allclose(model(frames, frames), torch.zeros(2))
    assert (model(frames, _random_frames(2, 32, seed=5)) > 0).all()
    from mcc_hf.errors import ModelLoadingError

    with pytest.raises(ModelLoadingError, match="lin4"):
        model.load_weights(backbone, {k: v for k, v in heads.items() if not k.startswith("lin4")})


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 2))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, means 3 apart along one axis -> distance = 9.
    assert frechet_distance(a + np.array([3.0, 0.0]), a) == pytest.approx(9.0, rel=1e-6)


# --- face metrics on the shared data -------------------------------------------------------------


@pytest.fixture(scope="module")
def measurer():
    from mcc_hf.evaluation.faces import FaceMeasurer

    return FaceMeasurer(resolution=256)


def _clip(data_dir, name, frames=8):
    from mcc_hf.evaluation.clips import read_clip

    return read_clip(data_dir / "test" / name, frames)


@needs_face_models
def test_akd_of_a_frame_with_itself_is_zero(data_dir, measurer):
    frames = _clip(data_dir, "id12#lp-d12#000.mp4", 2)
    track = measurer.measure(frames)
    assert track.found.all()
    np.testing.assert_allclose(M.average_keypoint_distance(track.landmarks, track.landmarks), 0.0)
    # ... and the landmarks move between frames of a talking head, so AKD is not trivially zero.
    shifted = measurer.measure(torch.roll(frames, 8, dims=-1))
    assert np.nanmean(M.average_keypoint_distance(shifted.landmarks, track.landmarks)) > 4


@needs_face_models
def test_same_identity_is_closer_in_aed_than_different_identities(data_dir, measurer):
    def identity(name):
        track = measurer.measure(_clip(data_dir, name, 12)[::3])
        return np.nanmean(track.embeddings, axis=0)

    same_a, same_b = identity("id13#lp-d14#000.mp4"), identity("id13#lp-d14#002.mp4")
    other = identity("id12#lp-d12#000.mp4")
    same = M.identity_distance(same_a[None], same_b)[0]
    different = min(M.identity_distance(same_a[None], other)[0], M.identity_distance(same_b[None], other)[0])
    assert same < 0.6 < different, (same, different)


# --- clips and the command -------------------------------------------------------------------------


def test_unreadable_clip_is_reported(tmp_path):
    from mcc_hf.evaluation.clips import read_clip
    from mcc_hf.errors import InvalidInputError

    bad = tmp_path / "x#y#000.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(InvalidInputError, match="x#y#000.mp4"):
        read_clip(bad)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from conftest import tiny_pipeline

    folder = tmp_path_factory.mktemp("tiny") / "tiny-64"
    tiny_pipeline("tiny-64").save_pretrained(folder)
    return folder


@pytest.fixture()
def small_data(tmp_path, data_dir):
    """Two real clips and one broken file, so the skip path is exercised."""
    folder = tmp_path / "test"
    folder.mkdir()
    for name in ("id12#lp-d12#000.mp4", "id13#lp-d14#000.mp4"):
        (folder / name).symlink_to(data_dir / "test" / name)
    (folder / "id99#broken#000.mp4").write_bytes(b"\x00" * 100)
    images = tmp_path / "images"
    images.mkdir()
    (images / "img01.png").symlink_to(data_dir / "images" / "img01.png")
    return folder


@pytest.mark.slow
@needs_face_models
def test_evaluate_command_reconstruction_writes_the_report(tiny_model_dir, small_data, tmp_path, capsys):
    from mcc_hf.cli import main

    out = tmp_path / "report"
    code = main([
        "evaluate", "--model", f"tiny={tiny_model_dir}", "--data", str(small_data), "--output", str(out),
        "--max-frames", "3", "--baseline", "static", "--baseline", f"again={tiny_model_dir}", "--face-stride", "2",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| static |" in printed and "skipped id99#broken#000.mp4" in printed
    document = json.loads((out / "metrics.json").read_text())
    assert list(document["contenders"]) == ["tiny", "static", "again"]
    assert document["settings"]["resolution"] == 64 and document["settings"]["max_frames"] == 3
    assert document["frames"] == {"scored": 4, "decoded": 6}
    assert "id99#broken#000.mp4" in document["skipped"]
    assert "lpips" in document["not_computed"] and "fid" in document["not_computed"]
    assert document["versions"]["torch"] == torch.__version__
    # The same model twice gives the same numbers; the static baseline beats an untrained model.
    tiny, again, static = (document["overall"][n] for n in ("tiny", "again", "static"))
    assert tiny["l1"] == pytest.approx(again["l1"])
    assert static["psnr"] > tiny["psnr"] and static["mkr"] == 0.0
    assert 0 <= tiny["l1"] <= 1 and -1 <= tiny["ssim"] <= 1
    report = (out / "report.md").read_text()
    assert "| tiny |" in report and "Not computed" in report
    assert (out / "metrics.png").stat().st_size > 10_000
    strips = sorted(p.name for p in (out / "strips").iterdir())
    assert strips == ["id12#lp-d12#000.png", "id13#lp-d14#000.png"]


@needs_face_models
def test_evaluate_command_quick_reconstruction(tiny_model_dir, small_data, tmp_path, capsys):
    from mcc_hf.cli import main

    out = tmp_path / "quick"
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(small_data), "--output", str(out),
                 "--max-videos", "1", "--max-frames", "2", "--strip-frames", "1"]) == 0
    document = json.loads((out / "metrics.json").read_text())
    assert list(document["overall"]) == ["tiny-64", "static"]
    assert set(document["overall"]["static"]) == {"l1", "psnr", "ssim", "akd", "mkr", "aed", "csim"}
    assert document["frames"] == {"scored": 1, "decoded": 2}
    assert (out / "report.md").exists() and (out / "metrics.png").exists()
    assert [p.name for p in (out / "strips").iterdir()] == ["id12#lp-d12#000.png"]


def test_detail_transfer_and_warped_source_contenders():
    """The contenders behind --detail-transfer and --baseline warped-source, at a resolution above the model's."""
    from mcc_hf.detail_transfer import source_coverage, warp_source
    from mcc_hf.evaluation.contenders import PipelineContender, WarpedSourceContender

    from conftest import tiny_pipeline

    pipe = tiny_pipeline("tiny-64")
    generator = torch.Generator().manual_seed(0)
    source, driving = torch.rand(3, 128, 128, generator=generator), torch.rand(3, 3, 128, 128, generator=generator)
    without = PipelineContender("m", pipe, "tiny", batch_size=2).animate(source, driving)
    with_detail = PipelineContender("m+detail", pipe, "tiny", batch_size=2, detail_transfer=True).animate(source, driving)
    warped = WarpedSourceContender(pipe, batch_size=2).animate(source, driving)
    assert without.shape == with_detail.shape == warped.shape == (3, 3, 128, 128)
    frames = pipe(source, driving, crop=False, output_type="pt").frames
    torch.testing.assert_close(without, torch.nn.functional.interpolate(frames, size=128, mode="bilinear",
                                                                        align_corners=False).clamp(0, 1))
    torch.testing.assert_close(with_detail, pipe(source, driving, crop=False, output_size=128, detail_transfer=True,
                                                 output_type="pt").frames)
    assert (with_detail - without).abs().mean() > 1e-4
    # The warped source is the source resampled by the model's final flow, black beyond its edge.
    animator = pipe.animator
    with pipe._inference():
        from mcc_hf.animator import MotionTransfer

        prepared = animator.prepare_source(pipe.preprocess(source[None]))
        keypoints = MotionTransfer(prepared)(animator.detect_keypoints(pipe.preprocess(driving)))
        flow = animator.render(prepared, keypoints).generator_output.deformations[-1]
    expected = warp_source(source[None], flow, (128, 128)) * source_coverage(flow, (128, 128), (128, 128))
    torch.testing.assert_close(warped, expected, atol=1e-4, rtol=0)  # batches of 2 vs 3: float rounding


@needs_face_models
def test_evaluate_command_detail_transfer_both(tiny_model_dir, small_data, tmp_path, capsys):
    """--detail-transfer both and --baseline warped-source: four rows from one loaded model."""
    from mcc_hf.cli import main

    out = tmp_path / "detail"
    assert main(["evaluate", "--model", f"tiny={tiny_model_dir}", "--data", str(small_data), "--output", str(out),
                 "--max-videos", "1", "--max-frames", "2", "--strip-frames", "1", "--resolution", "128",
                 "--detail-transfer", "both", "--baseline", "warped-source", "--baseline", "static"]) == 0
    document = json.loads((out / "metrics.json").read_text())
    assert list(document["overall"]) == ["tiny", "tiny+detail", "warped-source", "static"]
    assert "detail transfer" in document["contenders"]["tiny+detail"]
    assert document["overall"]["tiny"]["l1"] != document["overall"]["tiny+detail"]["l1"]
    assert "| tiny+detail |" in capsys.readouterr().out


@needs_face_models
def test_evaluate_command_cross_identity(tiny_model_dir, small_data, tmp_path, capsys):
    from mcc_hf.cli import main

    out = tmp_path / "cross"
    code = main([
        "evaluate", "--model", str(tiny_model_dir), "--data", str(small_data), "--output", str(out),
        "--mode", "cross-identity", "--max-frames", "2", "--max-videos", "1", "--strip-frames", "0",
    ])
    assert code == 0
    document = json.loads((out / "metrics.json").read_text())
    assert document["settings"]["images"].endswith("images")
    static = document["overall"]["static"]
    assert "l1" not in static and "ground truth" in document["not_computed"]["l1"]
    # The static result is the source image itself: its identity matches the source exactly.
    assert static["aed"] == pytest.approx(0.0, abs=1e-6) and static["csim"] == pytest.approx(1.0)
    assert not (out / "strips").exists() or not any((out / "strips").iterdir())


def test_evaluate_command_user_errors(tiny_model_dir, tmp_path, capsys):
    from mcc_hf.cli import main

    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(tmp_path / "none"), "--output",
                 str(tmp_path / "o")]) == 2
    assert "video folder not found" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "missing"), "--data", str(tmp_path), "--output",
                 str(tmp_path / "o")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(tmp_path), "--output",
                 str(tmp_path / "o"), "--lpips-backbone", "x.pth"]) == 2
    assert "both --lpips-backbone and --lpips-heads" in capsys.readouterr().err
