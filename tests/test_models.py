# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Model components: parameter counts, configuration generalisation, training-mode gradients."""

from __future__ import annotations

import pytest
import torch

from mcc_hf.compensation.codebook import Codebook
from mcc_hf.generator import CompensatoryGenerator
import torch.nn.functional as F

from mcc_hf.layers import AntiAliasDownsample, UpsampleConv2d
from mcc_hf.presets import PRESETS, get_preset


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_vox256_parameter_counts_match_official():
    keypoint_detector, dense_motion, generator = PRESETS["vox-256"].build()
    assert count(generator) == 30_118_854
    assert count(keypoint_detector) + count(dense_motion) == 52_054_701
    assert count(keypoint_detector) == 14_258_268 and count(dense_motion) == 37_796_433
    # Only the training head of the motion codebook is unused at inference (28,514 parameters).
    assert count(generator.motion_compensator.to_displacement) == 28_514


def test_skip_and_fusion_points_follow_the_released_tables():
    generator = CompensatoryGenerator(**PRESETS["vox-256"].generator)
    assert generator.encoder.level_output_indices == [2, 5, 8, 11]
    assert generator.decoder.fusion_indices == {2: 9, 1: 12, 0: 15}
    assert generator.fuse_after == {9: 1, 12: 2, 15: 3}


def test_antialias_kernel_matches_the_reference_formula():
    down = AntiAliasDownsample(3, 0.25)
    assert down.weight.shape == (3, 1, 13, 13)
    assert torch.allclose(down.weight.sum(dim=(2, 3)), torch.ones(3, 1))
    x = torch.randn(2, 3, 256, 256)
    blurred = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (6, 6, 6, 6)), down.weight, groups=3)
    assert torch.allclose(down(x), blurred[:, :, ::4, ::4], atol=1e-6)


@pytest.mark.parametrize("channels_in, channels_out, height, width", [(6, 5, 16, 16), (4, 3, 17, 20), (3, 2, 5, 7)])
def test_upsample_conv_equals_upsample_then_convolve(channels_in, channels_out, height, width):
    """UpsampleConv2d (phase-decomposed on CPU for inputs of 16x16 and more, plain below) is the same
    linear map as nearest x2 + conv3x3 (exact in float64, values and gradients), and keeps the input's
    memory format."""
    torch.manual_seed(0)
    conv = UpsampleConv2d(channels_in, channels_out).double()
    x = torch.randn(2, channels_in, height, width, dtype=torch.float64, requires_grad=True)
    expected = F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), conv.weight, conv.bias, padding=1)
    got = conv(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    upstream = torch.randn_like(expected)
    grads = torch.autograd.grad(expected, [x, conv.weight, conv.bias], upstream)
    grads_got = torch.autograd.grad(conv(x), [x, conv.weight, conv.bias], upstream)
    for g_expected, g_got in zip(grads, grads_got):
        torch.testing.assert_close(g_got, g_expected, rtol=0, atol=1e-10)
    channels_last = conv(x.detach().contiguous(memory_format=torch.channels_last))
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(channels_last, expected.detach(), rtol=0, atol=1e-12)


def test_upsample_conv_takes_the_phase_route_on_cpu_only(monkeypatch):
    """The phase decomposition runs for CPU inputs of at least 16x16; smaller inputs and other devices
    take the plain route (decided from ``x.device.type``)."""
    import mcc_hf.layers as layers

    calls = []
    monkeypatch.setattr(layers, "nearest_upsample_conv3x3", lambda *a: calls.append(a[0].shape) or torch.zeros(1))
    conv = UpsampleConv2d(2, 2)
    conv(torch.randn(1, 2, 16, 16))
    assert calls == [(1, 2, 16, 16)]
    assert conv(torch.randn(1, 2, 8, 8)).shape == (1, 2, 16, 16) and len(calls) == 1
    meta = conv.to("meta")(torch.empty(1, 2, 16, 16, device="meta"))  # a non-CPU device: the plain route
    assert meta.shape == (1, 2, 32, 32) and len(calls) == 1


def test_codebook_prefixes_are_nested():
    codebook = Codebook(1024, 8, num_scales=4)
    assert [codebook.prefix_size(k) for k in range(4)] == [256, 512, 768, 1024]
    assert [Codebook(1000, 8, 3).prefix_size(k) for k in range(3)] == [333, 666, 1000]
    features = codebook.embedding[:300].detach().t().reshape(1, 8, 15, 20)
    match = codebook.quantize(features, 0)  # codes 256..299 are outside the prefix of scale 0
    assert int(match.indices.max()) < 256
    assert torch.equal(codebook.quantize(features, 3).indices.flatten(), torch.arange(300))


def run_training_step(preset: str, batch: int = 2):
    torch.manual_seed(0)
    keypoint_detector, dense_motion, generator = get_preset(preset).build()
    for module in (keypoint_detector, dense_motion, generator):
        module.train()
    size = generator.config.sample_size
    source, driving = torch.rand(batch, 3, size, size) * 2 - 1, torch.rand(batch, 3, size, size) * 2 - 1
    kp_source, kp_driving = keypoint_detector(source), keypoint_detector(driving)
    motion = dense_motion(source, kp_driving, kp_source)
    out = generator(source, motion.deformation, motion.occlusion, motion.driving_heatmap)
    matches = [*out.motion_matches, *generator.match_appearance(driving)]
    loss = (out.sample - driving).abs().mean() + (out.low_res_sample - driving).abs().mean()
    loss = loss + sum(((m.quantized - m.features.detach()) ** 2).mean() + ((m.features - m.quantized.detach()) ** 2).mean()
                      for m in matches)
    loss = loss + sum(r.abs().mean() for r in out.motion_reconstructions)
    # The keypoint Jacobians only receive a gradient through the warps; add the equivariance-style term too.
    loss = loss + (kp_driving.jacobian - torch.eye(2)).abs().mean()
    loss.backward()
    return keypoint_detector, dense_motion, generator, out


@pytest.mark.parametrize("preset", ["tiny-64", "tiny-128"])
def test_tiny_presets_forward_backward_every_parameter_gets_a_gradient(preset):
    *modules, out = run_training_step(preset)
    size = PRESETS[preset].generator["sample_size"]
    assert out.sample.shape == (2, 3, size, size) and out.low_res_sample.shape == (2, 3, size, size)
    scales = len(PRESETS[preset].generator["compensation_resolutions"])
    assert len(out.deformations) == scales + 1 and len(out.motion_matches) == scales
    for module in modules:
        for name, p in module.named_parameters():
            assert p.grad is not None, f"{type(module).__name__}.{name} received no gradient"
            assert torch.isfinite(p.grad).all(), f"{type(module).__name__}.{name} has a non-finite gradient"
            assert p.grad.abs().sum() > 0, f"{type(module).__name__}.{name} received a zero gradient"


def test_eval_mode_has_no_training_outputs():
    keypoint_detector, dense_motion, generator = get_preset("tiny-64").build()
    generator.eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    kp = keypoint_detector.eval()(x)
    motion = dense_motion.eval()(x, kp, kp)
    with torch.no_grad():
        out = generator(x, motion.deformation, motion.occlusion, motion.driving_heatmap)
    assert out.low_res_sample is None and out.motion_matches is None and out.motion_reconstructions is None


def test_512_forward():
    keypoint_detector, dense_motion, generator = get_preset("tiny-512").build()
    for m in (keypoint_detector, dense_motion, generator):
        m.eval()
    x = torch.rand(1, 3, 512, 512) * 2 - 1
    with torch.no_grad():
        kp = keypoint_detector(x)
        motion = dense_motion(x, kp, kp)
        out = generator(x, motion.deformation, motion.occlusion, motion.driving_heatmap)
    assert motion.deformation.shape == (1, 128, 128, 2)
    assert out.sample.shape == (1, 3, 512, 512) and torch.isfinite(out.sample).all()
    # Five compensation scales with a 32x32 token grid: patch sizes 1, 2, 4, 8, 16.
    assert [m.stride[0] for m in generator.appearance_compensator.patch_embed] == [1, 2, 4, 8, 16]
    assert len(out.deformations) == 6


def test_fewer_compensation_scales_and_ablation_switches():
    config = dict(PRESETS["tiny-64"].generator, compensation_resolutions=(16, 32))
    generator = CompensatoryGenerator(**config).eval()
    assert generator.motion_compensator.codebook.prefix_size(0) == 64
    ablated = CompensatoryGenerator(
        **dict(PRESETS["tiny-64"].generator, use_motion_compensation=False, use_appearance_compensation=False)
    ).eval()
    assert ablated.motion_compensator is None and ablated.appearance_compensator is None
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    flow = torch.rand(2, 32, 32, 2) * 2 - 1
    occlusion, heatmap = torch.rand(2, 1, 32, 32), torch.rand(2, 10, 32, 32)
    with torch.no_grad():
        assert generator(x, flow, occlusion, heatmap).sample.shape == (2, 3, 64, 64)
        out = ablated(x, flow, occlusion, heatmap)
    assert out.sample.shape == (2, 3, 64, 64) and len(out.deformations) == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"compensation_resolutions": (32, 64)}, "token grid"),
        ({"compensation_resolutions": (16, 48)}, "compensation_resolutions"),
        ({"sample_size": 96}, "power of two"),
        ({"motion_size": 24}, "power-of-two multiple"),
        ({"norm_num_groups": 5}, "normalisation groups"),
    ],
)
def test_invalid_generator_configs_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        CompensatoryGenerator(**dict(PRESETS["tiny-64"].generator, **change))


def test_batch_consistency_and_source_broadcast():
    """Rendering a batch equals rendering frame by frame, and a batch-1 source is broadcast."""
    keypoint_detector, dense_motion, generator = (m.eval() for m in get_preset("tiny-64").build())
    source = torch.rand(1, 3, 64, 64) * 2 - 1
    driving = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        features = generator.encode_source(source)
        kp_s, kp_d = keypoint_detector(source), keypoint_detector(driving)
        motion = dense_motion(source, kp_d, kp_s)
        batched = generator(features, motion.deformation, motion.occlusion, motion.driving_heatmap).sample
        single = torch.cat([
            generator(source, motion.deformation[i:i + 1], motion.occlusion[i:i + 1], motion.driving_heatmap[i:i + 1]).sample
            for i in range(3)
        ])
    assert torch.allclose(batched, single, atol=1e-5)
