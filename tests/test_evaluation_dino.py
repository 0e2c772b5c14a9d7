# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""FD_DINO and DINO_SIM features (transformers ``AutoModel``) on tiny random DINOv2 / CLIP vision
models saved with ``save_pretrained``: nothing is downloaded."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from mcc_hf.errors import ModelLoadingError
from mcc_hf.evaluation import metrics as M
from mcc_hf.evaluation.perceptual import frechet_distance

transformers = pytest.importorskip("transformers", reason='the DINO metrics need pip install "mcc-hf[metrics]"')
from mcc_hf.evaluation.dino import DINOFeatures  # noqa: E402

offline = pytest.mark.skipif(os.environ.get("HF_HUB_OFFLINE") != "1", reason="checks the offline Hub route (conftest sets HF_HUB_OFFLINE=1)")


def _tiny_config(kind: str):
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8)
    if kind == "dinov2":
        return transformers.Dinov2Config(**common)
    if kind == "clip":
        return transformers.CLIPVisionConfig(**common)
    text = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=64,
                bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return transformers.CLIPConfig(vision_config=common, text_config=text, projection_dim=16)  # a whole CLIP model


@pytest.fixture(scope="module")
def tiny_backbones(tmp_path_factory) -> dict[str, str]:
    """Random tiny DINOv2 and CLIP vision models saved with save_pretrained (nothing downloaded)."""
    folder = tmp_path_factory.mktemp("backbones")
    torch.manual_seed(0)
    paths = {}
    for kind, cls in (("dinov2", transformers.Dinov2Model), ("clip", transformers.CLIPVisionModel),
                      ("clip-full", transformers.CLIPModel)):
        cls(_tiny_config(kind)).save_pretrained(folder / kind)
        paths[kind] = str(folder / kind)
    return paths


def _frames(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random images ``[n, 3, size, size]`` in [0, 1]."""
    coarse = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


@pytest.mark.parametrize("kind", ["dinov2", "clip", "clip-full"])
def test_dino_features_load_with_automodel(tiny_backbones, kind):
    dino = DINOFeatures.from_pretrained(tiny_backbones[kind])
    assert dino.resolution == 32  # no preprocessor_config.json: config.image_size
    features = dino.features(_frames(5, size=48))  # resized to 32 first (CLIP needs its exact size)
    assert features.shape == (5, 32) and features.dtype == np.float64
    np.testing.assert_allclose(dino.features(_frames(5, size=48)), features)  # deterministic (eval mode)


def test_dino_preprocessing_follows_the_image_processor_config(tiny_backbones, tmp_path):
    folder = tmp_path / "dino-with-processor"
    transformers.Dinov2Model.from_pretrained(tiny_backbones["dinov2"]).save_pretrained(folder)
    processor = {"image_processor_type": "BitImageProcessor", "crop_size": {"height": 24, "width": 24},
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    dino = DINOFeatures.from_pretrained(str(folder))
    assert dino.resolution == 24
    frames = torch.full((1, 3, 40, 40), 0.75)
    torch.testing.assert_close(dino.preprocess(frames), torch.full((1, 3, 24, 24), 1.0))  # (0.75 - 0.5) / 0.25
    assert DINOFeatures.from_pretrained(str(folder), resolution=28).resolution == 28


def test_fd_dino_is_zero_for_a_set_with_itself_and_grows_with_a_shift(tiny_backbones):
    dino = DINOFeatures.from_pretrained(tiny_backbones["dinov2"])
    real = dino.features(_frames(64, seed=1))
    same_distribution = dino.features(_frames(64, seed=2))
    shifted = dino.features((_frames(64, seed=2) * 0.5 + 0.5))  # brighter, lower contrast
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    baseline = frechet_distance(same_distribution, real)
    assert frechet_distance(shifted, real) > 10 * baseline > 0


def test_dino_similarity_of_identical_frames_is_one(tiny_backbones):
    dino = DINOFeatures.from_pretrained(tiny_backbones["clip"])
    frames = _frames(4, seed=3)
    same = M.cosine_similarity(dino.features(frames), dino.features(frames.clone()))
    np.testing.assert_allclose(same, 1.0, atol=1e-12)
    other = M.cosine_similarity(dino.features(frames), dino.features(frames.flip(0)))
    assert (other < 1 - 1e-6).all()


def test_dino_loading_errors(tmp_path):
    with pytest.raises(ModelLoadingError, match="DINO model folder not found"):
        DINOFeatures.from_pretrained(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadingError, match="empty is not a transformers vision model: Unrecognized model"):
        DINOFeatures.from_pretrained(str(tmp_path / "empty"))
    _tiny_config("dinov2").save_pretrained(tmp_path / "config-only")  # no weights
    with pytest.raises(ModelLoadingError, match="cannot load the DINO folder .*config-only"):
        DINOFeatures.from_pretrained(str(tmp_path / "config-only"))


@offline
def test_dino_hub_model_fails_offline_with_the_reason():
    with pytest.raises(ModelLoadingError, match="cannot load the DINO Hub model 'no-such-owner/no-such-dinov2'"):
        DINOFeatures.from_pretrained("no-such-owner/no-such-dinov2")


# --- FD_DINO / DINO_SIM in an evaluation run ---------------------------------------------------------


class _Oracle:
    """A contender that returns the driving frames: a perfect reconstruction."""

    name = "oracle"
    description = "the driving frames"

    def animate(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        return driving.clone()


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    """Two short 32x32 clips and one source image, written here (no shared data needed)."""
    import PIL.Image

    from mcc_hf.image_processing import to_uint8
    from mcc_hf.video import VideoWriter

    folder = tmp_path_factory.mktemp("synthetic")
    (folder / "test").mkdir()
    for index, name in enumerate(("ida#v#000.mp4", "idb#v#000.mp4")):
        frames = _frames(6, seed=10 + index)
        with VideoWriter(folder / "test" / name, fps=10) as writer:
            writer.write(to_uint8(frames))
    (folder / "images").mkdir()
    PIL.Image.fromarray(to_uint8(_frames(1, seed=20))[0]).save(folder / "images" / "face.png")
    return folder


def test_evaluate_scores_fd_dino_and_dino_sim(tiny_backbones, synthetic_data, tmp_path):
    from mcc_hf.evaluation.contenders import StaticContender
    from mcc_hf.evaluation.report import overall_table, write_report
    from mcc_hf.evaluation.runner import EvaluationSettings, evaluate

    dino = DINOFeatures.from_pretrained(tiny_backbones["dinov2"])
    settings = EvaluationSettings(data=str(synthetic_data / "test"), resolution=32, strip_frames=0)
    result = evaluate([_Oracle(), StaticContender()], settings, dino=dino)
    oracle, static = result.overall["oracle"], result.overall["static"]
    assert oracle["dino_sim"] == pytest.approx(1.0, abs=1e-9) and oracle["fd_dino"] == pytest.approx(0.0, abs=1e-6)
    assert static["dino_sim"] < 1 and static["fd_dino"] > 1e-3
    assert "fd_dino" not in result.videos[0].metrics["oracle"]  # pooled over all clips only
    assert result.videos[0].metrics["oracle"]["dino_sim"] == pytest.approx(1.0)

    paths = write_report(result, tmp_path / "report")
    document = json.loads(paths["metrics"].read_text())
    assert document["metrics"]["fd_dino"]["higher_is_better"] is False
    assert document["overall"]["static"]["fd_dino"] == pytest.approx(static["fd_dino"])
    report = paths["report"].read_text()
    table = overall_table(result)
    assert table in report and "FD_DINO ↓" in table and "DINO_SIM ↑" in table


def test_evaluate_dino_in_cross_identity_compares_with_the_source(tiny_backbones, synthetic_data):
    from mcc_hf.evaluation.contenders import StaticContender
    from mcc_hf.evaluation.runner import EvaluationSettings, evaluate

    dino = DINOFeatures.from_pretrained(tiny_backbones["clip"])
    settings = EvaluationSettings(data=str(synthetic_data / "test"), mode="cross-identity", resolution=32,
                                  max_frames=3, strip_frames=0)
    result = evaluate([StaticContender()], settings, dino=dino)
    static = result.overall["static"]
    assert static["dino_sim"] == pytest.approx(1.0, abs=1e-9)  # the static result is the source image
    assert static["fd_dino"] > 0 and "l1" not in static


def test_fd_dino_needs_two_scored_frames(tiny_backbones, synthetic_data):
    from mcc_hf.evaluation.contenders import StaticContender
    from mcc_hf.evaluation.runner import EvaluationSettings, evaluate

    dino = DINOFeatures.from_pretrained(tiny_backbones["dinov2"])
    settings = EvaluationSettings(data=str(synthetic_data / "test"), resolution=32, max_videos=1, max_frames=2,
                                  strip_frames=0)
    result = evaluate([StaticContender()], settings, dino=dino)
    assert "fd_dino" not in result.overall["static"] and "dino_sim" in result.overall["static"]
    assert "at least 2 scored frames, got 1" in result.not_computed["fd_dino"]


# --- the command ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from conftest import tiny_pipeline

    folder = tmp_path_factory.mktemp("tiny") / "tiny-64"
    tiny_pipeline("tiny-64").save_pretrained(folder)
    return folder


def _evaluate(tiny_model_dir, synthetic_data, output, *extra):
    from mcc_hf.cli import main

    return main(["evaluate", "--model", str(tiny_model_dir), "--data", str(synthetic_data / "test"), "--output",
                 str(output), "--max-videos", "1", "--max-frames", "3", "--strip-frames", "0", *extra])


def test_evaluate_command_with_a_local_dino_model(tiny_model_dir, synthetic_data, tiny_backbones, tmp_path, capsys):
    assert _evaluate(tiny_model_dir, synthetic_data, tmp_path / "out", "--dino-model", tiny_backbones["dinov2"]) == 0
    printed = capsys.readouterr().out
    assert "FD_DINO ↓" in printed and "| static |" in printed
    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for name in ("tiny-64", "static"):
        assert {"fd_dino", "dino_sim"} <= set(document["overall"][name])
    assert "fd_dino" not in document["not_computed"]
    assert document["run"]["dino_model"] == tiny_backbones["dinov2"] and document["run"]["dino_resolution"] == 32
    assert document["versions"]["transformers"] == transformers.__version__


@offline
def test_evaluate_command_reports_an_unavailable_dino_model_as_not_computed(tiny_model_dir, synthetic_data, tmp_path,
                                                                            capsys):
    assert _evaluate(tiny_model_dir, synthetic_data, tmp_path / "out", "--dino-model", "no-such-owner/no-such-dinov2") == 0
    printed = capsys.readouterr().out
    assert "not computed: " in printed and "FD_DINO" in printed and "DINO_SIM" in printed
    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for metric in ("fd_dino", "dino_sim"):
        assert "cannot load the DINO Hub model 'no-such-owner/no-such-dinov2'" in document["not_computed"][metric]
        assert metric not in document["overall"]["static"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "- FD_DINO: cannot load the DINO Hub model" in report


def test_evaluate_command_without_dino_model_says_why(tiny_model_dir, synthetic_data, tmp_path, capsys):
    assert _evaluate(tiny_model_dir, synthetic_data, tmp_path / "out") == 0
    document = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "no DINOv2 model given (--dino-model" in document["not_computed"]["dino_sim"]


def test_evaluate_command_dino_user_errors(tiny_model_dir, synthetic_data, tmp_path, capsys):
    assert _evaluate(tiny_model_dir, synthetic_data, tmp_path / "out", "--dino-model", str(tmp_path / "missing")) == 2
    assert "DINO model folder not found" in capsys.readouterr().err
    assert _evaluate(tiny_model_dir, synthetic_data, tmp_path / "out", "--dino-model", "x", "--dino-resolution", "8") == 2
    assert "dino-resolution must be at least 14" in capsys.readouterr().err
