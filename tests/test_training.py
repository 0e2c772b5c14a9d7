# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Training: options, losses, VGG loading, discriminator, TPS, EMA, one step, NaN safety, checkpoints,
and (slow) ``accelerate launch`` runs: end to end, resume, two processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mcc_hf.compensation.codebook import CodebookMatch
from mcc_hf.errors import UserInputError
from mcc_hf.motion.keypoints import Keypoints
from mcc_hf.training.config import parse_args
from mcc_hf.training.discriminator import PatchDiscriminator
from mcc_hf.training.ema import ExponentialMovingAverage
from mcc_hf.training.equivariance import RandomTPS
from mcc_hf.training.losses import (
    ImagePyramid,
    LossWeights,
    PyramidPerceptualLoss,
    adaptive_gan_weight,
    equivariance_losses,
    hinge_discriminator_loss,
    hinge_generator_loss,
    keypoint_distance,
    motion_reconstruction_loss,
    vq_loss,
)
from mcc_hf.training.vgg import VGG_LAYER_SLICES, VGG19Features

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------------- options

def test_perceptual_loss_requires_weights_or_an_explicit_opt_out(tmp_path):
    with pytest.raises(UserInputError, match="--vgg_weights") as info:
        parse_args(["--train_data_dir", str(tmp_path)])
    assert "--perceptual_weight 0" in str(info.value)
    args = parse_args(["--train_data_dir", str(tmp_path), "--perceptual_weight", "0"])
    assert args.perceptual_weight == 0 and args.model_config == "vox-256"


def test_config_file_is_overridden_by_the_command_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model_config: tiny-64\nperceptual_weight: 0\nlearning_rate: 1.0e-4\nmax_train_steps: 7\n")
    args = parse_args(["--config", str(config), "--train_data_dir", "d", "--max_train_steps", "3"])
    assert (args.model_config, args.learning_rate, args.max_train_steps) == ("tiny-64", 1e-4, 3)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no_such_option": 1}))
    with pytest.raises(UserInputError, match="no_such_option"):
        parse_args(["--config", str(bad), "--train_data_dir", "d"])
    with pytest.raises(UserInputError, match="train_data_dir"):
        parse_args(["--perceptual_weight", "0"])
    with pytest.raises(UserInputError, match="pixel_weight"):
        parse_args(["--train_data_dir", "d", "--perceptual_weight", "0", "--pixel_weight", "-1"])


def test_shipped_training_configs_parse():
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        args = parse_args(["--config", str(config), "--train_data_dir", "d", "--vgg_weights", "w"])
        assert args.model_config


# ----------------------------------------------------------------------------------------------- VGG + perceptual

def _random_vgg_file(path: Path, torchvision_layout_extra: bool = True) -> Path:
    """A random VGG19 state dict in torchvision's layout (plus classifier keys that must be ignored)."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in VGG19Features().features.state_dict().items()}
    if torchvision_layout_extra:
        state["features.34.weight"] = torch.randn(512, 512, 3, 3)
        state["classifier.0.weight"] = torch.randn(8, 8)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def test_vgg_layout_matches_torchvision_indices():
    keys = set(VGG19Features().features.state_dict())
    convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28]
    assert keys == {f"{i}.{p}" for i in convs for p in ("weight", "bias")}
    assert VGG_LAYER_SLICES[-1] == (21, 30)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_vgg_weights_load_from_file(tmp_path, suffix):
    path = _random_vgg_file(tmp_path / f"vgg19{suffix}")
    vgg = VGG19Features.from_weights(str(path))
    expected = torch.load(path, weights_only=True) if suffix == ".pth" else None
    if expected is not None:
        torch.testing.assert_close(vgg.features[28].weight, expected["features.28.weight"])
    assert not any(p.requires_grad for p in vgg.parameters())
    features = vgg(torch.zeros(1, 3, 32, 32))
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]
    assert [f.shape[-1] for f in features] == [32, 16, 8, 4, 2]


def test_vgg_weights_errors_explain_how_to_provide_them(tmp_path):
    with pytest.raises(UserInputError, match="--vgg_weights"):
        VGG19Features.from_weights(str(tmp_path / "missing.safetensors"))
    from safetensors.torch import save_file

    if os.environ.get("HF_HUB_OFFLINE") == "1":  # set by conftest: the Hub route must fail with the same advice
        with pytest.raises(UserInputError, match="--perceptual_weight 0"):
            VGG19Features.from_weights("no-such-owner/no-such-vgg19")
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(tmp_path / "partial.safetensors"))
    with pytest.raises(UserInputError, match="lack"):
        VGG19Features.from_weights(str(tmp_path / "partial.safetensors"))


def test_pyramid_perceptual_loss_math(tmp_path):
    vgg = VGG19Features.from_weights(str(_random_vgg_file(tmp_path / "v.safetensors")))
    loss = PyramidPerceptualLoss(vgg)
    torch.manual_seed(1)
    a, b = torch.rand(1, 3, 128, 128) * 2 - 1, torch.rand(1, 3, 128, 128) * 2 - 1
    assert float(loss(a, a)) == 0.0
    levels = ImagePyramid()(a), ImagePyramid()(b)
    assert [x.shape[-1] for x in levels[0]] == [128, 64, 32, 16]
    # ImageNet normalisation applied to the [-1, 1] image, as released.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = 0.0
    for pa, pb in zip(*levels):
        xa, xb = (pa - mean) / std, (pb - mean) / std
        for start, end in VGG_LAYER_SLICES:
            xa, xb = vgg.features[start:end](xa), vgg.features[start:end](xb)
            expected += (xa - xb).abs().mean()
    torch.testing.assert_close(loss(a, b), expected)
    small = torch.rand(1, 3, 64, 64)  # the 8-pixel level is too small for VGG19 and is left out
    assert torch.isfinite(loss(small, small.flip(-1)))
    prediction = a.clone().requires_grad_(True)
    target = b.clone().requires_grad_(True)
    loss(prediction, target).backward()
    assert prediction.grad.abs().sum() > 0 and target.grad is None


# ----------------------------------------------------------------------------------------------- small losses

def test_vq_loss_weights_commitment_by_beta():
    features = torch.randn(2, 4, 3, 3, requires_grad=True)
    codes = torch.randn(2, 4, 3, 3, requires_grad=True)
    match = CodebookMatch(features=features, quantized=codes, indices=torch.zeros(2, 3, 3, dtype=torch.long))
    loss = vq_loss(match, beta=0.25)
    torch.testing.assert_close(loss, 1.25 * F.mse_loss(features, codes))
    loss.backward()
    torch.testing.assert_close(features.grad, 0.25 * 2 * (features - codes).detach() / features.numel())
    torch.testing.assert_close(codes.grad, 2 * (codes - features).detach() / codes.numel())


def test_motion_reconstruction_targets_the_flow_minus_identity():
    from mcc_hf.motion.geometry import identity_grid

    grid = identity_grid(4, 4).expand(2, 4, 4, 2)
    flow = grid + 0.1
    recon = torch.full((2, 4, 4, 2), 0.1)
    assert float(motion_reconstruction_loss([recon], [flow])) == pytest.approx(0.0, abs=1e-7)
    assert float(motion_reconstruction_loss([recon, recon], [flow, grid])) == pytest.approx(0.1, abs=1e-6)


def test_hinge_losses_and_keypoint_distance():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    r, f = hinge_discriminator_loss(real, fake)
    assert float(r) == pytest.approx(0.25) and float(f) == pytest.approx(0.75)
    assert float(hinge_generator_loss(fake)) == pytest.approx(0.75)
    # 3 keypoints: two close (0.1 apart), one far: 2 ordered close pairs of 9 entries, times 2.
    keypoints = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.9, 0.9]]])
    assert float(keypoint_distance(keypoints)) == pytest.approx(2 * 2 / 9)


def test_adaptive_gan_weight_is_the_clamped_gradient_norm_ratio():
    layer = torch.nn.Linear(3, 1)
    x = torch.randn(5, 3)
    out = layer(x)
    rec, gan = out.pow(2).mean(), -out.mean() * 10
    g_rec = torch.autograd.grad(rec, layer.weight, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan, layer.weight, retain_graph=True)[0]
    expected = (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0, 1)
    weight = adaptive_gan_weight(rec, gan, layer.weight)
    torch.testing.assert_close(weight, expected)
    assert not weight.requires_grad
    assert float(adaptive_gan_weight(rec * 1e6, gan, layer.weight)) == 1.0


# ----------------------------------------------------------------------------------------------- TPS, D, EMA

def test_random_tps_identity_and_jacobian():
    points = torch.rand(2, 7, 2) * 2 - 1
    identity = RandomTPS(2, sigma_affine=0.0, sigma_tps=0.0)
    torch.testing.assert_close(identity.warp_points(points), points)
    torch.testing.assert_close(identity.jacobian(points), torch.eye(2).expand(2, 7, 2, 2))
    warp = RandomTPS(2, sigma_affine=0.1, sigma_tps=0.05, generator=torch.Generator().manual_seed(0))
    eps = 1e-3
    numeric = torch.stack([
        (warp.warp_points(points + eps * torch.eye(2)[j]) - warp.warp_points(points - eps * torch.eye(2)[j])) / (2 * eps)
        for j in range(2)
    ], dim=-1)
    torch.testing.assert_close(warp.jacobian(points), numeric, atol=2e-3, rtol=1e-2)
    images = torch.rand(2, 3, 16, 16)
    assert warp.warp_images(images).shape == images.shape
    same = RandomTPS(2, sigma_affine=0.1, sigma_tps=0.05, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(same.theta, warp.theta)


def test_equivariance_is_zero_for_consistent_keypoints():
    warp = RandomTPS(1, sigma_affine=0.0, sigma_tps=0.0)
    kp = Keypoints(value=torch.rand(1, 5, 2), jacobian=torch.eye(2).repeat(1, 5, 1, 1) * 1.3)
    value, jacobian = equivariance_losses(kp, kp, warp)
    assert float(value.detach()) == pytest.approx(0.0) and float(jacobian.detach()) == pytest.approx(0.0, abs=1e-6)


def test_discriminator_released_size():
    d = PatchDiscriminator()
    assert sum(p.numel() for p in d.parameters()) == 6_960_961
    (logits,) = d(torch.zeros(1, 3, 256, 256)).logits
    assert logits.shape == (1, 1, 14, 14)
    small = PatchDiscriminator(base_channels=8, num_layers=3)
    assert small(torch.zeros(2, 3, 64, 64)).logits[0].shape == (2, 1, 6, 6)


def test_multi_scale_discriminator_features_and_tuple_return():
    d = PatchDiscriminator(base_channels=8, num_layers=2, num_scales=3).eval()
    assert sum(p.numel() for p in d.parameters()) == 3 * sum(
        p.numel() for p in PatchDiscriminator(base_channels=8, num_layers=2).parameters()
    )
    assert d.min_input_size == 48 and PatchDiscriminator().min_input_size == 48
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    out = d(images)
    assert [tuple(x.shape[-2:]) for x in out.logits] == [(14, 14), (6, 6), (2, 2)]
    assert len(out.features) == 3 and all(len(f) == 3 for f in out.features)  # one per LeakyReLU
    assert out.features[1][0].shape[-1] == 16  # the second scale sees the image at half size
    logits, features = d(images, return_dict=False)
    for a, b in zip(logits, out.logits):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="num_scales"):
        PatchDiscriminator(num_scales=0)


def test_ms_ssim_loss_zero_for_equal_images_and_grows_with_noise():
    from mcc_hf.evaluation.metrics import ssim
    from mcc_hf.training.losses import ms_ssim_loss

    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    assert float(ms_ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    small = ms_ssim_loss(x + 0.05 * torch.randn_like(x), x)
    large = ms_ssim_loss(x + 0.3 * torch.randn_like(x), x)
    assert 0 < float(small) < float(large) <= 1.0
    # Below 22 pixels only one level fits: the loss is 1 - SSIM.
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    z = (y + 0.2 * torch.randn_like(y)).clamp(-1, 1)
    expected = 1 - ssim((z + 1) / 2, (y + 1) / 2)
    assert float(ms_ssim_loss(z, y)) == pytest.approx(float(expected), abs=1e-5)
    # Anti-correlated images keep a finite gradient.
    prediction = (-x).clone().requires_grad_(True)
    ms_ssim_loss(prediction, x).backward()
    assert torch.isfinite(prediction.grad).all()


def test_feature_matching_is_zero_for_equal_features_and_detaches_the_real_side():
    from mcc_hf.training.losses import feature_matching_loss

    real = [[torch.ones(1, 2, 4, 4, requires_grad=True)], [torch.ones(1, 2, 2, 2, requires_grad=True)]]
    assert float(feature_matching_loss(real, real).detach()) == 0.0
    fake = [[torch.zeros(1, 2, 4, 4, requires_grad=True)], [torch.full((1, 2, 2, 2), 3.0, requires_grad=True)]]
    loss = feature_matching_loss(fake, real)
    assert float(loss.detach()) == pytest.approx((1.0 + 2.0) / 2)
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None


def test_ema_constant_decay_and_state_round_trip():
    model = torch.nn.Linear(2, 2)
    start = [p.detach().clone() for p in model.parameters()]
    ema = ExponentialMovingAverage(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.step(model)
    target = torch.nn.Linear(2, 2)
    ema.copy_to(target)
    for s, p in zip(start, target.parameters()):
        torch.testing.assert_close(p, s + 0.1)
    other = ExponentialMovingAverage(torch.nn.Linear(2, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.9 and other.num_updates == 1
    with pytest.raises(ValueError):
        other.load_state_dict({"decay": 0.9, "num_updates": 0, "shadow": []})


# ----------------------------------------------------------------------------------------------- one step (in process)

def _tiny_step(nan_policy="error", gan_start_step=0, weights=None, num_scales=1):
    from accelerate import Accelerator

    from mcc_hf.presets import get_preset
    from mcc_hf.training.model import TalkingHeadTrainingModel
    from mcc_hf.training.step import TrainingStep

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True)
    model = TalkingHeadTrainingModel(*get_preset("tiny-64").build())
    model.train()
    discriminator = PatchDiscriminator(base_channels=8, num_layers=3, num_scales=num_scales)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-4)
    model, optimizer, discriminator, d_optimizer = accelerator.prepare(model, optimizer, discriminator, d_optimizer)
    step = TrainingStep(accelerator, model, optimizer, weights or LossWeights(perceptual=0), discriminator=discriminator,
                        discriminator_optimizer=d_optimizer, gan_start_step=gan_start_step, nan_policy=nan_policy)
    batch = {"source": torch.rand(2, 3, 64, 64) * 2 - 1, "driving": torch.rand(2, 3, 64, 64) * 2 - 1}
    return step, model, batch


def test_one_step_trains_all_three_networks_with_every_term():
    step, model, batch = _tiny_step()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = step(batch, global_step=0, batch_index=0)
    expected = {"pixel", "low_res_pixel", "motion_codebook", "motion_reconstruction", "appearance_codebook",
                "equivariance_value", "equivariance_jacobian", "gan", "total", "keypoint_distance",
                "gan_adaptive_weight", "discriminator_real", "discriminator_fake"}
    assert expected <= set(result.losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    changed = {n.split(".")[0] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"keypoint_detector", "dense_motion", "generator"}
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert not unchanged, f"parameters without an update: {unchanged[:5]}"


def test_motion_learning_rate_groups_and_freezing():
    from accelerate import Accelerator

    from mcc_hf.presets import get_preset
    from mcc_hf.training.model import TalkingHeadTrainingModel
    from mcc_hf.training.step import TrainingStep
    from mcc_hf.training.trainer import _parameter_groups

    def model_and_groups(*options):
        torch.manual_seed(0)
        model = TalkingHeadTrainingModel(*get_preset("tiny-64").build())
        args = parse_args(["--train_data_dir", "d", "--perceptual_weight", "0", "--learning_rate", "1e-4", *options])
        if args.motion_learning_rate == 0:
            model.freeze_motion_networks()
        return model, _parameter_groups(args, model)

    model, groups = model_and_groups("--motion_learning_rate", "1e-5")
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert [g.get("lr") for g in groups] == [None, 1e-5]  # the generator takes the optimiser's --learning_rate
    model, groups = model_and_groups()  # the default: one group, in the order older checkpoints saved
    assert len(groups) == 1 and groups[0]["params"] == list(model.parameters())

    model, groups = model_and_groups("--motion_learning_rate", "0")
    assert [p for g in groups for p in g["params"]] == list(model.generator.parameters())
    accelerator = Accelerator(cpu=True)
    optimizer = torch.optim.Adam(groups, lr=1e-4)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    step = TrainingStep(accelerator, model, optimizer, LossWeights(perceptual=0, gan=0))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    before.update({n: b.detach().clone() for n, b in model.named_buffers()})
    step({"source": torch.rand(2, 3, 64, 64) * 2 - 1, "driving": torch.rand(2, 3, 64, 64) * 2 - 1},
         global_step=0, batch_index=0)
    changed = {n.split(".")[0] for n, p in [*model.named_parameters(), *model.named_buffers()]
               if not torch.equal(p, before[n])}
    assert changed == {"generator"}  # BatchNorm statistics of the motion networks included
    assert not model.keypoint_detector.training and not model.dense_motion.training and model.generator.training
    with pytest.raises(UserInputError, match="motion_learning_rate"):
        parse_args(["--train_data_dir", "d", "--perceptual_weight", "0", "--motion_learning_rate", "-1"])


def test_sharpening_terms_train_with_a_multi_scale_discriminator():
    weights = LossWeights(perceptual=0, ms_ssim=1.0, feature_matching=10.0)
    step, model, batch = _tiny_step(weights=weights, num_scales=2)
    discriminator = step.accelerator.unwrap_model(step.discriminator)
    before = {n: p.detach().clone() for n, p in discriminator.named_parameters()}
    losses = step(batch, global_step=0, batch_index=0).losses
    assert {"ms_ssim", "low_res_ms_ssim", "feature_matching", "gan"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert losses["feature_matching"] > 0 and 0 < losses["ms_ssim"] <= 1
    # (The last bias gets no net gradient from the hinge loss while all logits lie in (-1, 1).)
    assert all(not torch.equal(p, before[n]) for n, p in discriminator.named_parameters() if n.endswith("weight"))
    # Feature matching alone (no GAN term) still trains the discriminator it reads.
    step, _, batch = _tiny_step(weights=LossWeights(perceptual=0, gan=0, feature_matching=1.0))
    losses = step(batch, global_step=0, batch_index=0).losses
    assert "feature_matching" in losses and "gan" not in losses and "discriminator_real" in losses


def test_gan_waits_for_its_start_step():
    step, _, batch = _tiny_step(gan_start_step=5)
    assert "gan" not in step(batch, global_step=4, batch_index=0).losses
    assert "gan" in step(batch, global_step=5, batch_index=0).losses


def test_non_finite_loss_stops_with_the_term_name_or_skips():
    from mcc_hf.errors import NonFiniteLossError

    step, model, batch = _tiny_step()
    with torch.no_grad():
        model.generator.decoder.blocks[-1].bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="pixel"):
        step(batch, global_step=3, batch_index=0)

    step, model, batch = _tiny_step(nan_policy="skip")
    with torch.no_grad():
        model.generator.decoder.blocks[-1].bias.fill_(float("inf"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert step(batch, global_step=3, batch_index=0).skipped
    assert all(torch.equal(p, before[n]) or not torch.isfinite(before[n]).all() for n, p in model.named_parameters())


def test_ablation_model_config_trains_without_compensation():
    from accelerate import Accelerator

    from mcc_hf.presets import get_preset
    from mcc_hf.training.model import TalkingHeadTrainingModel
    from mcc_hf.training.step import TrainingStep

    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    preset = get_preset(str(ROOT / "configs" / "model-tiny-64-no-compensation.json"))
    model = TalkingHeadTrainingModel(*preset.build())
    assert model.generator.motion_compensator is None and model.generator.appearance_compensator is None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    step = TrainingStep(accelerator, model, optimizer, LossWeights(perceptual=0, gan=0))
    batch = {"source": torch.rand(1, 3, 64, 64) * 2 - 1, "driving": torch.rand(1, 3, 64, 64) * 2 - 1}
    losses = step(batch, global_step=0, batch_index=0).losses
    assert "motion_codebook" not in losses and "appearance_codebook" not in losses and "pixel" in losses


def test_fine_tuning_starts_from_a_saved_pipeline(tmp_path):
    from conftest import tiny_pipeline

    from mcc_hf.training.trainer import _build_components

    tiny_pipeline("tiny-64", seed=3).save_pretrained(tmp_path / "pipe")
    args = parse_args(["--train_data_dir", "d", "--perceptual_weight", "0",
                       "--pretrained_model_name_or_path", str(tmp_path / "pipe")])
    _, _, generator = _build_components(args)
    reference = tiny_pipeline("tiny-64", seed=3).generator
    for a, b in zip(generator.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------------------------- checkpoints

def test_checkpoints_count_only_when_complete_and_rotate(tmp_path):
    from accelerate import Accelerator

    from mcc_hf.training.checkpointing import find_checkpoint, list_checkpoints, save_checkpoint

    accelerator = Accelerator(cpu=True)
    (tmp_path / "checkpoint-9.incomplete").mkdir()  # an interrupted save
    (tmp_path / "checkpoint-12").mkdir()  # no training_state.json: not complete
    assert find_checkpoint(str(tmp_path), "latest") is None
    for step in (2, 4, 6):
        save_checkpoint(accelerator, str(tmp_path), step, total_limit=2, extra={"use_ema": True})
    assert [s for s, _ in list_checkpoints(str(tmp_path))] == [4, 6]
    assert find_checkpoint(str(tmp_path), "latest").endswith("checkpoint-6")
    assert find_checkpoint(str(tmp_path), "checkpoint-4").endswith("checkpoint-4")
    assert not any(p.name.endswith(".incomplete") and p.name != "checkpoint-9.incomplete" for p in tmp_path.iterdir())
    with pytest.raises(UserInputError, match="checkpoint-12"):
        find_checkpoint(str(tmp_path), "checkpoint-12")


# ----------------------------------------------------------------------------------------------- accelerate launch

def _launch(args: list[str], processes: int = 1, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="true")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1", "--mixed_precision", "no",
                "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1"]
    if processes > 1:
        launcher += ["--multi_gpu", "--num_processes", str(processes)]
    else:
        launcher += ["--num_processes", "1", "--cpu"]
    result = subprocess.run(launcher + [str(ROOT / "train.py"), *args], capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=str(ROOT))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def _tiny_run_args(data_dir: Path, output_dir: Path, steps: int) -> list[str]:
    return ["--model_config", "tiny-64", "--train_data_dir", str(data_dir / "train"),
            "--output_dir", str(output_dir), "--max_train_steps", str(steps), "--perceptual_weight", "0",
            "--train_batch_size", "2", "--dataset_repeats", "1", "--gan_start_step", "1", "--lr_milestones", "3",
            "--checkpointing_steps", "2", "--validation_steps", "0", "--report_to", "none", "--seed", "0"]


def _pipeline_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    weights = {}
    for component in ("keypoint_detector", "dense_motion", "generator"):
        for key, value in load_file(str(folder / component / "diffusion_pytorch_model.safetensors")).items():
            weights[f"{component}.{key}"] = value
    return weights


@pytest.mark.slow
def test_accelerate_launch_trains_and_saves_a_loadable_pipeline(data_dir, tmp_path):
    from mcc_hf import TalkingHeadPipeline

    out = tmp_path / "run"
    args = _tiny_run_args(data_dir, out, 3) + ["--validation_steps", "3", "--validation_data_dir", str(data_dir),
                                               "--report_to", "tensorboard", "--logging_steps", "1"]
    _launch(args)
    pipe = TalkingHeadPipeline.from_pretrained(out)
    assert pipe.sample_size == 64
    pipe.set_progress_bar_config(disable=True)
    frames = pipe(torch.rand(3, 64, 64), torch.rand(2, 3, 64, 64), crop=False, output_type="pt").frames
    assert frames.shape == (2, 3, 64, 64) and torch.isfinite(frames).all()
    assert (out / "checkpoint-2" / "training_state.json").is_file() and (out / "checkpoint-3").is_dir()
    assert (out / "validation" / "step-000003.png").is_file()
    assert list((out / "logs").rglob("events.out.tfevents*"))


@pytest.mark.slow
def test_resume_matches_a_straight_run(data_dir, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _launch(_tiny_run_args(data_dir, straight, 4))
    _launch(_tiny_run_args(data_dir, resumed, 2))
    _launch(_tiny_run_args(data_dir, resumed, 4) + ["--resume_from_checkpoint", "latest"])
    a, b = _pipeline_weights(straight), _pipeline_weights(resumed)
    difference = max(float((a[k] - b[k]).abs().max()) for k in a)
    print(f"resume: max |straight - resumed| over the saved pipeline weights = {difference:.3g}")
    assert difference <= 1e-6


@pytest.mark.slow
def test_two_process_gloo_run_agrees_across_processes(data_dir, tmp_path):
    out = tmp_path / "ddp"
    result = _launch(_tiny_run_args(data_dir, out, 2), processes=2)
    log = result.stdout + result.stderr
    match = re.search(r"replica check: 2 processes, max parameter fingerprint difference (\S+)", log)
    assert match, log[-3000:]
    print(match.group(0))
    assert float(match.group(1)) == 0.0
    assert (out / "checkpoint-2" / "random_states_1.pkl").is_file()
    assert (out / "model_index.json").is_file()


def test_train_script_reports_user_errors_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--train_data_dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "--vgg_weights" in result.stderr
    assert "Traceback" not in result.stderr


def test_codebook_restart_reseeds_unused_codes_from_the_batch():
    from mcc_hf.compensation.codebook import Codebook
    from mcc_hf.training.codebook_restart import CodebookRestarter

    torch.manual_seed(0)
    codebook = Codebook(8, 4, num_scales=2)  # prefixes: 4 codes, then all 8
    with torch.no_grad():
        codebook.embedding.copy_(torch.cat([torch.eye(4), -torch.eye(4)]) * 10)  # far-apart codes
    # All embeddings lie near code 1 (coarse scale) or code 6 (fine scale): the other six are unused.
    features = [codebook.embedding[1].detach().view(1, 4, 1, 1) + torch.randn(2, 4, 3, 3),
                codebook.embedding[6].detach().view(1, 4, 1, 1) + torch.randn(2, 4, 3, 3)]
    matches = [codebook.quantize(f, k) for k, f in enumerate(features)]
    optimizer = torch.optim.Adam([codebook.embedding], lr=0.1)
    codebook.embedding.sum().backward()
    optimizer.step()
    restarter = CodebookRestarter(codebook, every=2, seed=3)
    restarter.observe(matches)
    used = set(torch.cat([m.indices.flatten() for m in matches]).tolist())
    before = codebook.embedding.detach().clone()
    assert restarter.restart(1, optimizer) == 0  # not a restart step
    count = restarter.restart(2, optimizer)
    dead = sorted(set(range(8)) - used)
    assert used == {1, 6} and count == len(dead) == 6
    after = codebook.embedding.detach()
    for index in range(8):
        if index in used:
            torch.testing.assert_close(after[index], before[index])
        else:
            pool = features[0 if index < 4 else 1].permute(0, 2, 3, 1).reshape(-1, 4)
            assert (pool == after[index]).all(dim=1).any(), f"code {index} is not an embedding of its scale"
            assert float(optimizer.state[codebook.embedding]["exp_avg"][index].abs().sum()) == 0.0
    assert int(restarter.usage.sum()) == 0  # counting starts again
    # Re-seeded codes are now the nearest neighbours of those embeddings: the quantisation error drops.
    error = sum(float((m.features - m.quantized).detach().pow(2).mean()) for m in matches)
    new_matches = [codebook.quantize(f, k) for k, f in enumerate(features)]
    new_error = sum(float((m.features - m.quantized).detach().pow(2).mean()) for m in new_matches)
    assert new_error < error
    # Same seed, same step: the same choice (resumed runs repeat it); state round trip.
    other = CodebookRestarter(Codebook(8, 4, num_scales=2), every=2, seed=3)
    other.codebook.embedding.data.copy_(before)
    other.observe(matches)
    other.restart(2)
    torch.testing.assert_close(other.codebook.embedding.detach(), after)
    other.usage += 5
    restarter.load_state_dict(other.state_dict())
    assert int(restarter.usage.sum()) == 40
