# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Speed modes: closed-form 2x2 inverse, float32 geometry under autocast, a per-frame path free of
host round trips, mixed precision close to float32, and regional compilation."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_pipeline
from mcc_hf.animator import Animator, MotionTransfer
from mcc_hf.motion.geometry import apply_2x2, blend_motions, displacement_scale, grid_sample, matmul_2x2, warp
from mcc_hf.motion.keypoints import Keypoints, inverse_2x2, keypoints_from_heatmaps, normalize_keypoints
from mcc_hf.precision import compile_per_frame, default_half_dtype, inference_autocast, per_frame_modules

F64 = torch.float64


# --------------------------------------------------------------------------- closed-form inverse


def _with_condition(conditions: list[float], seed: int = 0) -> torch.Tensor:
    """Random 2x2 float64 matrices with the given condition numbers (random rotations, singular values 1 and 1/c)."""
    g = torch.Generator().manual_seed(seed)
    u, _, v = torch.linalg.svd(torch.randn(len(conditions), 2, 2, dtype=F64, generator=g))
    singular = torch.stack([torch.ones(len(conditions), dtype=F64), 1 / torch.tensor(conditions, dtype=F64)], dim=-1)
    return u @ torch.diag_embed(singular) @ v.mT


def test_inverse_2x2_equals_linalg_inv_well_conditioned():
    g = torch.Generator().manual_seed(0)
    matrices = torch.randn(5, 7, 2, 2, dtype=F64, generator=g) + 2 * torch.eye(2, dtype=F64)
    torch.testing.assert_close(inverse_2x2(matrices), torch.linalg.inv(matrices), rtol=1e-13, atol=1e-14)
    assert inverse_2x2(matrices).dtype == F64


@pytest.mark.parametrize("condition", [1e3, 1e6, 1e9, 1e12])
def test_inverse_2x2_equals_linalg_inv_ill_conditioned(condition):
    matrices = _with_condition([condition] * 16, seed=int(math.log10(condition)))
    got, expected = inverse_2x2(matrices), torch.linalg.inv(matrices)
    # Both are backward-stable; they agree to about condition * machine epsilon.
    error = (got - expected).flatten(1).norm(dim=1) / expected.flatten(1).norm(dim=1)
    assert error.max().item() < 50 * condition * torch.finfo(F64).eps
    identity = torch.eye(2, dtype=F64).expand_as(matrices)
    assert ((got @ matrices - identity).abs().max().item()) < 50 * condition * torch.finfo(F64).eps


def test_inverse_2x2_of_a_singular_matrix_is_not_finite():
    singular = torch.tensor([[1.0, 2.0], [2.0, 4.0]])
    assert not torch.isfinite(inverse_2x2(singular)).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_inverse_2x2_computes_in_float32_for_narrower_inputs(dtype):
    matrices = _with_condition([3.0, 10.0, 30.0]).to(dtype)
    with inference_autocast("cpu", torch.bfloat16):
        got = inverse_2x2(matrices)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), torch.linalg.inv(matrices.double()), rtol=1e-5, atol=1e-5)


def test_2x2_products_are_float32_under_autocast_and_match_float64():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 4, 2, 2, generator=g)
    points = torch.randn(3, 4, 5, 2, generator=g)
    with inference_autocast("cpu", torch.bfloat16):
        product, applied = matmul_2x2(a, b), apply_2x2(a[:, :, None], points)
        blended = blend_motions(torch.rand(3, 4, 6, 7, generator=g), torch.randn(3, 4, 6, 7, 2, generator=g))
    assert product.dtype == applied.dtype == blended.dtype == torch.float32
    torch.testing.assert_close(product.double(), a.double() @ b.double(), rtol=1e-6, atol=1e-6)
    expected = torch.einsum("bkij,bkpj->bkpi", a.double(), points.double())
    torch.testing.assert_close(applied.double(), expected, rtol=1e-6, atol=1e-6)


def test_relative_motion_matches_the_matrix_formula():
    g = torch.Generator().manual_seed(2)

    def random_keypoints(batch):
        return Keypoints(torch.rand(batch, 5, 2, generator=g, dtype=F64) * 2 - 1,
                         torch.randn(batch, 5, 2, 2, generator=g, dtype=F64) + 2 * torch.eye(2, dtype=F64))

    source, driving, initial = random_keypoints(1), random_keypoints(3), random_keypoints(1)
    result = normalize_keypoints(source, driving, initial, movement_scale=0.8)
    torch.testing.assert_close(result.value, (driving.value - initial.value) * 0.8 + source.value)
    expected = driving.jacobian @ torch.linalg.inv(initial.jacobian) @ source.jacobian
    torch.testing.assert_close(result.jacobian, expected, rtol=1e-12, atol=1e-12)


def test_geometry_keeps_float32_for_half_inputs():
    logits = torch.randn(2, 3, 8, 8).bfloat16()
    maps = torch.randn(2, 3, 4, 8, 8).bfloat16()
    keypoints = keypoints_from_heatmaps(logits, maps, temperature=0.1)
    assert keypoints.value.dtype == keypoints.jacobian.dtype == torch.float32
    assert keypoints_from_heatmaps(logits, maps, 0.1, dtype=torch.bfloat16).value.dtype == torch.bfloat16

    features = torch.randn(1, 4, 16, 16).bfloat16()
    flow = (torch.rand(1, 16, 16, 2) * 2 - 1)
    # The sampling positions are used in float32: bfloat16 features sampled with a float32 grid equal
    # float32 sampling of the same (bfloat16-valued) features, rounded once at the end.
    expected = torch.nn.functional.grid_sample(features.float(), flow, align_corners=True).bfloat16()
    assert torch.equal(grid_sample(features, flow, align_corners=True), expected)
    assert warp(features, flow).dtype == torch.bfloat16
    assert displacement_scale(5, 9).tolist() == [4.0, 2.0]


# --------------------------------------------------------------------------- mixed precision


def _components(preset: str = "tiny-64"):
    pipe = tiny_pipeline(preset, seed=0)
    return pipe.keypoint_detector, pipe.dense_motion, pipe.generator


def _frames(size: int, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A source in ``[-1, 1]`` and ``count`` driving frames: the source shifted a little more each frame."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 8, 8, generator=g) * 2 - 1
    source = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(-1, 1)
    shifts = [torch.roll(source, shifts=(t, 2 * t), dims=(2, 3)) for t in range(1, count + 1)]
    return source, torch.cat(shifts)


def test_geometry_stays_float32_under_autocast():
    animator = Animator(*_components())
    source, driving = _frames(64, 2)
    with torch.inference_mode():
        prepared = animator.prepare_source(source)
        with inference_autocast("cpu", torch.bfloat16):
            detected = animator.detect_keypoints(driving)
            keypoints = normalize_keypoints(prepared.keypoints, detected, detected[0], movement_scale=1.0)
            result = animator.render(prepared, keypoints)
    assert result.sample.dtype == torch.bfloat16  # the convolutions did run in bfloat16
    for tensor in (detected.value, detected.jacobian, keypoints.value, keypoints.jacobian,
                   result.dense_motion.deformation, result.dense_motion.mask,
                   *result.generator_output.deformations, *result.generator_output.residual_deformations):
        assert tensor.dtype == torch.float32


def test_whole_model_half_precision_still_runs():
    """Casting the whole model (not autocast) keeps working: images in the model's dtype, geometry in float32."""
    components = [m.to(torch.bfloat16) for m in _components()]
    animator = Animator(*components)
    source, driving = _frames(64, 2)
    with torch.inference_mode():
        prepared = animator.prepare_source(source.bfloat16())
        result = animator.render(prepared, animator.detect_keypoints(driving.bfloat16()))
    assert result.sample.dtype == torch.bfloat16
    assert result.dense_motion.deformation.dtype == result.keypoints.value.dtype == torch.float32
    assert torch.isfinite(result.sample.float()).all()


def test_mixed_precision_is_close_to_float32_on_the_trained_default_model():
    from mcc_hf import DEFAULT_MODEL
    from mcc_hf.demo import render_driving_clip
    from mcc_hf.image_processing import from_model_range, resize_to, to_model_range
    from mcc_hf.loading import load_pipeline

    pipe = load_pipeline(DEFAULT_MODEL)
    animator = pipe.animator
    size = pipe.sample_size
    clip = torch.from_numpy(render_driving_clip(size=size, num_frames=6)).permute(0, 3, 1, 2).float() / 255
    driving = to_model_range(clip)
    source = to_model_range(resize_to(clip[:1], size))
    with torch.inference_mode():
        prepared = animator.prepare_source(source)
        reference = animator.detect_keypoints(driving[:1])
        outputs = {}
        for dtype in (torch.float32, torch.bfloat16):
            with inference_autocast("cpu", dtype):
                transfer = MotionTransfer(prepared, reference=reference)
                keypoints = transfer(animator.detect_keypoints(driving))
                outputs[dtype] = from_model_range(animator.render(prepared, keypoints).sample.float())
    mse = (outputs[torch.float32] - outputs[torch.bfloat16]).pow(2).mean().item()
    psnr = 10 * math.log10(1 / mse)
    assert psnr >= 40, f"mixed precision is {psnr:.1f} dB from float32"


def test_pipeline_mixed_precision_renders_frames_close_to_float32_and_can_be_turned_off():
    from mcc_hf import DEFAULT_MODEL
    from mcc_hf.demo import render_driving_clip
    from mcc_hf.errors import InvalidOptionError
    from mcc_hf.loading import load_pipeline

    pipe = load_pipeline(DEFAULT_MODEL)
    clip = torch.from_numpy(render_driving_clip(size=pipe.sample_size, num_frames=6)).permute(0, 3, 1, 2).float() / 255
    exact = pipe(clip[0], clip, crop=False, output_type="pt").frames
    pipe.enable_mixed_precision("bfloat16")
    mixed = pipe(clip[0], clip, crop=False, output_type="pt", batch_size=1).frames  # stream() renders one at a time
    streamed = torch.stack([frame for frame in pipe.stream(clip[0], clip, crop=False, output_type="pt")])
    pipe.disable_mixed_precision()
    again = pipe(clip[0], clip, crop=False, output_type="pt").frames
    psnr = 10 * math.log10(1 / (exact - mixed).pow(2).mean().item())
    assert 40 <= psnr < float("inf"), f"mixed precision is {psnr:.1f} dB from float32"  # changed, and close
    assert torch.equal(streamed, mixed)
    assert torch.equal(again, exact)
    assert not torch.is_autocast_enabled("cpu")  # nothing leaks out of the frame loop
    for wrong in ("float64", torch.float32, "half-ish"):
        with pytest.raises(InvalidOptionError, match="bfloat16 or float16"):
            pipe.enable_mixed_precision(wrong)


def test_cli_dtype_means_mixed_precision(tmp_path, monkeypatch):
    from mcc_hf.cli import main
    from mcc_hf.pipelines.pipeline_talking_head import TalkingHeadPipeline

    calls = []
    monkeypatch.setattr(TalkingHeadPipeline, "enable_mixed_precision", lambda self, dtype: calls.append(dtype))
    examples = Path(__file__).resolve().parents[1] / "spaces_demo" / "examples"
    output = tmp_path / "out.mp4"
    assert main(["animate", "--source", str(examples / "astronaut-face.jpg"), "--driving", str(examples / "astronaut-nod.mp4"),
                 "--output", str(output), "--no-crop", "--dtype", "bfloat16"]) == 0
    assert calls == ["bfloat16"] and output.is_file()


def test_inference_autocast_arguments():
    assert default_half_dtype("cpu") == torch.bfloat16
    with inference_autocast("cpu", torch.float32):
        assert not torch.is_autocast_enabled("cpu")
    with inference_autocast(torch.device("cpu"), None):
        assert not torch.is_autocast_enabled("cpu")
    with inference_autocast("cpu", torch.bfloat16):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="bfloat16 or torch.float16"):
        inference_autocast("cpu", torch.float64)


# --------------------------------------------------------------------------- no host round trips per frame


MCC_ROOT = Path(__import__("mcc_hf").__file__).resolve().parent
PIPELINES_ROOT = MCC_ROOT.parent / "pipelines"


class HostTraffic:
    """Records every call of the functions that copy data from or to the host (or synchronise) made
    directly from mcc-hf code, while active. (Calls made inside torch are torch's own business.)"""

    TORCH_FUNCTIONS = ("tensor", "as_tensor", "from_numpy")
    TENSOR_METHODS = ("new_tensor", "item", "cpu", "tolist", "numpy")

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        self.active = False
        for name in self.TORCH_FUNCTIONS:
            monkeypatch.setattr(torch, name, self._wrap(getattr(torch, name), f"torch.{name}"))
        for name in self.TENSOR_METHODS:
            monkeypatch.setattr(torch.Tensor, name, self._wrap(getattr(torch.Tensor, name), f"Tensor.{name}"))

    def _wrap(self, function, label):
        def wrapper(*args, **kwargs):
            if self.active:
                caller = sys._getframe(1)
                path = Path(caller.f_code.co_filename).resolve()
                if path.is_relative_to(MCC_ROOT) or path.is_relative_to(PIPELINES_ROOT):
                    self.calls.append(f"{label} in {path.name}:{caller.f_lineno}")
            return function(*args, **kwargs)

        return wrapper


def test_rendering_a_frame_makes_no_host_round_trip(monkeypatch):
    """What a CUDA graph capture (and ONNX export) requires of the per-frame path, emulated on CPU."""
    animator = Animator(*_components())
    source, driving = _frames(64, 3)
    traffic = HostTraffic(monkeypatch)
    with torch.inference_mode():
        prepared = animator.prepare_source(source)
        transfer = MotionTransfer(prepared, reference=animator.detect_keypoints(driving[:1]))  # hull ratio: once
        traffic.active = True
        for batch in (driving[:1], driving[1:]):
            animator.render(prepared, transfer(animator.detect_keypoints(batch)))
        traffic.active = False
    assert not traffic.calls, f"host round trips in the per-frame path: {sorted(set(traffic.calls))}"


# --------------------------------------------------------------------------- regional compilation


def test_per_frame_modules_cover_the_frame_loop_but_not_the_encoder():
    keypoint_detector, dense_motion, generator = _components()
    modules = per_frame_modules(keypoint_detector, dense_motion, generator)
    assert keypoint_detector in modules and dense_motion in modules
    assert generator.motion_compensator in modules and generator.appearance_compensator in modules
    assert all(block in modules for block in generator.decoder.blocks if not isinstance(block, (torch.nn.Conv2d, torch.nn.GroupNorm)))
    assert generator.encoder not in modules and generator not in modules


@pytest.mark.slow
def test_compile_per_frame_traces_without_graph_breaks_and_matches_eager():
    """Dynamo traces every per-frame module whole (``fullgraph``), so inductor and CUDA graphs see
    the whole region; the eager backend keeps this test at tracing cost."""
    components = _components()
    animator = Animator(*components)
    source, driving = _frames(64, 2)
    with torch.inference_mode():
        prepared = animator.prepare_source(source)
        expected = animator.render(prepared, animator.detect_keypoints(driving)).sample
        compile_per_frame(*components, backend="eager", fullgraph=True)
        got = animator.render(prepared, animator.detect_keypoints(driving)).sample
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got.shape, expected.shape)
