# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The diffusers model contract of the three components (the checks diffusers' model and pipeline
test mixins make, written for these models): save/load with variants and half-precision dtypes,
determinism, ``return_dict`` equivalence, layerwise casting, sequential CPU offload, group offloading,
model CPU offload, gradient checkpointing, ``device_map`` loading, ``_keep_in_fp32_modules`` and the
attention backends.

Everything runs on CPU with the ``tiny-64`` preset. The offloading checks make every weight
unreadable outside the hooks (parameters on the ``meta`` device, or NaN placeholders while a group is
offloaded to disk), so a weight read that bypasses a hook fails or poisons the output.
"""

from __future__ import annotations

import math

import pytest
import torch
from accelerate import cpu_offload
from accelerate.hooks import AlignDevicesHook, add_hook_to_module

from diffusers.models.attention_dispatch import _AttentionBackendRegistry
from diffusers.utils import BaseOutput

from mcc_hf.generator import CompensatoryGenerator
from mcc_hf.motion.dense_motion import DenseMotionNetwork
from mcc_hf.motion.geometry import identity_grid
from mcc_hf.motion.keypoint_detector import KeypointDetector
from mcc_hf.motion.keypoints import Keypoints
from mcc_hf.presets import get_preset

from conftest import tiny_pipeline

PRESET = get_preset("tiny-64")
COMPONENTS = {
    "keypoint_detector": (KeypointDetector, PRESET.keypoint_detector),
    "dense_motion": (DenseMotionNetwork, PRESET.dense_motion),
    "generator": (CompensatoryGenerator, PRESET.generator),
}
NAMES = list(COMPONENTS)
#: Inputs that are geometry (keypoints, flows, occlusion maps, heatmaps) stay in float32 when the
#: model runs in half precision, as the float32 heads produce them.
GEOMETRY_INPUTS = {"kp_driving", "kp_source", "deformation", "occlusion", "driving_heatmap"}


def perturb_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Add small deterministic noise to every weight, so that every weight matters to the outputs (the
    default initialisation zeroes the Jacobian head and makes the codebooks nearly uniform)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            scale = 0.1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.01
            p.add_(torch.randn(p.shape, generator=generator) * scale)
    return model


def build(name: str) -> torch.nn.Module:
    cls, config = COMPONENTS[name]
    torch.manual_seed(0)
    return perturb_(cls(**config)).eval()


def make_inputs(name: str, batch: int = 2, dtype: torch.dtype = torch.float32) -> dict:
    g = torch.Generator().manual_seed(1)
    image = (torch.rand(batch, 3, 64, 64, generator=g) * 2 - 1).to(dtype)
    k = PRESET.generator["num_keypoints"]
    if name == "keypoint_detector":
        return {"image": image}
    if name == "dense_motion":

        def keypoints(n):
            value = torch.rand(n, k, 2, generator=g) * 1.2 - 0.6
            return Keypoints(value=value, jacobian=torch.eye(2) + 0.1 * torch.randn(n, k, 2, 2, generator=g))

        return {"source_image": image[:1], "kp_driving": keypoints(batch), "kp_source": keypoints(1)}
    size = PRESET.generator["motion_size"]
    return {
        "source": image,
        "deformation": identity_grid(size, size).expand(batch, -1, -1, -1) + 0.05 * torch.randn(batch, size, size, 2, generator=g),
        "occlusion": torch.rand(batch, 1, size, size, generator=g),
        "driving_heatmap": torch.rand(batch, k, size, size, generator=g),
    }


def tensors(output) -> list[torch.Tensor]:
    """Every tensor of a model output (a BaseOutput, a tuple, nested), in order."""
    if output is None:
        return []
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, BaseOutput):
        output = output.to_tuple()
    if isinstance(output, tuple):
        return [t for item in output for t in tensors(item)]
    raise TypeError(f"unexpected output element {type(output).__name__}")


def run(model, inputs, **kwargs):
    with torch.no_grad():
        return tensors(model(**inputs, **kwargs))


def assert_all_close(actual: list[torch.Tensor], expected: list[torch.Tensor], atol: float = 0.0, rtol: float = 0.0):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, atol=atol, rtol=rtol)


def max_relative_error(actual: list[torch.Tensor], expected: list[torch.Tensor]) -> float:
    """Largest ``max|a - e| / max|e|`` over the outputs (floating-point outputs only)."""
    return max(
        ((a.double() - e.double()).abs().max() / e.double().abs().max().clamp_min(1e-12)).item()
        for a, e in zip(actual, expected)
        if e.is_floating_point()
    )


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("training", [False, True])
def test_return_dict_and_tuple_outputs_agree(name, training):
    model = build(name).train(training)
    inputs = make_inputs(name)
    with torch.no_grad():
        as_dict = model(**inputs)
        as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_dict, BaseOutput) and isinstance(as_tuple, tuple)
    # Fields hold tensors or tuples of tensors / outputs (no lists): the tuple form compares item by item.
    for value in as_dict.values():
        assert isinstance(value, (torch.Tensor, tuple)), type(value)
    assert_all_close(tensors(as_tuple), tensors(as_dict))
    assert len(tensors(as_dict)) == len(tensors(as_dict.to_tuple())) > 0


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_deterministic(name):
    model, inputs = build(name), make_inputs(name)
    assert_all_close(run(model, inputs), run(model, inputs))


def test_keypoint_output_is_keypoints_and_base_output():
    out = build("keypoint_detector")(**make_inputs("keypoint_detector"))
    assert isinstance(out, Keypoints) and isinstance(out, BaseOutput)
    assert out["value"] is out.value and out.to_tuple()[1] is out.jacobian
    first = out[0]  # an int selects a batch element, as for any Keypoints
    assert isinstance(first, Keypoints) and first.value.shape == (1, 10, 2)


# --------------------------------------------------------------------------- saving and loading


@pytest.mark.parametrize("name", NAMES)
def test_fp16_variant_round_trip(name, tmp_path):
    model, inputs = build(name), make_inputs(name)
    cls = COMPONENTS[name][0]
    model.save_pretrained(tmp_path / "fp32")
    half = cls.from_pretrained(tmp_path / "fp32", torch_dtype=torch.float16)
    half.save_pretrained(tmp_path / "variant", variant="fp16")
    assert (tmp_path / "variant" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert not (tmp_path / "variant" / "diffusion_pytorch_model.safetensors").exists()
    with pytest.raises(OSError):
        cls.from_pretrained(tmp_path / "variant")  # only the variant is there
    loaded = cls.from_pretrained(tmp_path / "variant", variant="fp16", torch_dtype=torch.float16)
    for (key, a), (_, b) in zip(half.state_dict().items(), loaded.state_dict().items()):
        assert a.dtype == b.dtype and torch.equal(a, b), key
    # Without a dtype the variant loads in float32, with the same outputs as the float32 model up to fp16 rounding.
    upcast = cls.from_pretrained(tmp_path / "variant", variant="fp16")
    assert upcast.dtype == torch.float32
    assert max_relative_error(run(upcast.eval(), inputs), run(model, inputs)) < 2e-2


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_loading_keeps_geometry_heads_in_float32(name, dtype, tmp_path):
    model = build(name)
    cls = COMPONENTS[name][0]
    model.save_pretrained(tmp_path)
    half = cls.from_pretrained(tmp_path, torch_dtype=dtype).eval()
    assert half.dtype == dtype
    kept = 0
    for param_name, param in half.named_parameters():
        in_fp32_module = any(m in param_name.split(".") for m in cls._keep_in_fp32_modules)
        kept += in_fp32_module
        assert param.dtype == (torch.float32 if in_fp32_module else dtype), param_name
    assert kept > 0
    inputs = {k: v if k in GEOMETRY_INPUTS else v.to(dtype) for k, v in make_inputs(name).items()}
    expected = run(model, make_inputs(name))
    actual = run(half, inputs)
    assert all(torch.isfinite(t).all() for t in actual)
    # Keypoints and flows come out of the float32 heads in float32.
    geometry = actual[1:] if name == "generator" else actual  # all but the generated image
    assert all(t.dtype == torch.float32 for t in geometry)
    assert max_relative_error(actual, expected) < (5e-2 if dtype == torch.bfloat16 else 1e-2)


@pytest.mark.parametrize("name", NAMES)
def test_keep_in_fp32_and_no_split_modules_name_real_submodules(name):
    model = build(name)
    components = {part for param_name, _ in model.named_parameters() for part in param_name.split(".")}
    assert model._keep_in_fp32_modules and set(model._keep_in_fp32_modules) <= components
    classes = {type(m).__name__ for m in model.modules()}
    assert model._no_split_modules and set(model._no_split_modules) <= classes


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("device_map", ["cpu", "auto", {"": "cpu"}])
def test_device_map_loading(name, device_map, tmp_path):
    model, inputs = build(name), make_inputs(name)
    model.save_pretrained(tmp_path)
    loaded = COMPONENTS[name][0].from_pretrained(tmp_path, device_map=device_map).eval()
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    assert_all_close(run(loaded, inputs), run(model, inputs))


# --------------------------------------------------------------------------- hooks


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("storage_dtype", [torch.bfloat16, torch.float8_e4m3fn])
def test_layerwise_casting(name, storage_dtype):
    model, inputs = build(name), make_inputs(name)
    expected = run(model, inputs)
    model.enable_layerwise_casting(storage_dtype=storage_dtype, compute_dtype=torch.float32)
    dtypes = {param_name: p.dtype for param_name, p in model.named_parameters()}
    assert storage_dtype in dtypes.values()
    assert all(d == torch.float32 for n, d in dtypes.items() if set(n.split(".")) & set(model._keep_in_fp32_modules))
    actual = run(model, inputs)
    assert {p.dtype for p in model.parameters()} == set(dtypes.values())  # back in storage after the forward
    assert all(torch.isfinite(t).all() for t in actual)
    error = max_relative_error(actual, expected)
    assert error < (3e-2 if storage_dtype == torch.bfloat16 else 0.3), error


def source_path(model, inputs):
    """(Generator) the inference path of the pipeline: features with the code cache, two renderings."""
    with torch.no_grad():
        features = model.encode_source(inputs["source"], project_codes=True)
        rest = {k: v for k, v in inputs.items() if k != "source"}
        first = tensors(model(features, **rest))
        second = tensors(model(features, **rest))  # uses the cached codebook projections
    assert features.motion_codes is not None and features.appearance_codes is not None
    return first, second


@pytest.mark.parametrize("name", NAMES)
def test_sequential_cpu_offload(name):
    """accelerate's sequential offload (what ``enable_sequential_cpu_offload`` installs), executing on the
    CPU: every weight lives on the meta device and is loaded by its module's hook."""
    model, inputs = build(name), make_inputs(name)
    expected = run(model, inputs)
    expected_source = source_path(build(name), inputs) if name == "generator" else None
    cpu_offload(model, execution_device=torch.device("cpu"))
    assert all(p.device.type == "meta" for p in model.parameters())
    assert_all_close(run(model, inputs), expected)
    if name == "generator":
        for got, want in zip(source_path(model, inputs), expected_source):
            assert_all_close(got, want)
    assert all(p.device.type == "meta" for p in model.parameters())


def poison_offloaded_weights_(model: torch.nn.Module) -> None:
    """After group offloading to disk, the parameters hold placeholders until their group is onloaded:
    fill them with NaN so that a weight read outside its hook poisons the output."""
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.fill_(float("nan"))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("offload_type", ["block_level", "leaf_level"])
def test_group_offloading(name, offload_type, tmp_path):
    model, inputs = build(name), make_inputs(name)
    expected = run(model, inputs)
    expected_source = source_path(build(name), inputs) if name == "generator" else None
    model.enable_group_offload(
        onload_device=torch.device("cpu"), offload_device=torch.device("cpu"), offload_type=offload_type,
        num_blocks_per_group=1, offload_to_disk_path=str(tmp_path),
    )
    poison_offloaded_weights_(model)
    assert_all_close(run(model, inputs), expected)
    if name == "generator":
        for got, want in zip(source_path(model, inputs), expected_source):
            assert_all_close(got, want)


def offload_whole_model(module: torch.nn.Module) -> None:
    """Model-level offload with the weights on the meta device between calls: the whole component is
    loaded when its ``forward`` (or a method decorated with ``apply_forward_hook``) runs."""
    add_hook_to_module(module, AlignDevicesHook(execution_device=torch.device("cpu"), offload=True, place_submodules=True))


def test_pipeline_model_cpu_offload_emulated():
    """The pipeline with each component offloaded as a whole (what ``enable_model_cpu_offload`` does on an
    accelerator), including the once-per-video source preparation (``generator.encode_source``)."""
    source = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(2))
    driving = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    expected = tiny_pipeline()(source, driving, crop=False, output_type="pt", batch_size=2).frames
    pipe = tiny_pipeline()
    components = (pipe.keypoint_detector, pipe.dense_motion, pipe.generator)
    for component in components:
        offload_whole_model(component)
    assert all(p.device.type == "meta" for m in components for p in m.parameters())
    frames = pipe(source, driving, crop=False, output_type="pt", batch_size=2).frames
    # The animator stores the per-frame weights channels-last; reloaded from the offload copy they are
    # contiguous, which changes the convolutions' rounding only.
    torch.testing.assert_close(frames, expected, atol=1e-5, rtol=0)


def test_model_cpu_offload_hooks_fire_for_source_preparation():
    """With ``enable_model_cpu_offload`` each component's hook must run before its weights are used,
    also when the pipeline calls ``generator.encode_source`` rather than ``forward``."""
    pipe = tiny_pipeline()
    pipe.enable_model_cpu_offload(device="cpu")
    fired = []
    for name in ("keypoint_detector", "dense_motion", "generator"):
        hook = getattr(pipe, name)._hf_hook
        original = hook.pre_forward
        hook.pre_forward = lambda module, *args, _name=name, _original=original, **kwargs: (
            fired.append(_name) or _original(module, *args, **kwargs)
        )
    pipe.prepare_source(torch.rand(3, 64, 64), crop=False)
    assert "generator" in fired and "keypoint_detector" in fired


# --------------------------------------------------------------------------- gradient checkpointing


def training_step(checkpointing: bool):
    """One tiny-64 training step of the three components (the losses of tests/test_models.py); returns
    the gradients and BatchNorm statistics, and how often the checkpointing function ran."""
    torch.manual_seed(0)
    keypoint_detector, dense_motion, generator = (perturb_(m).train() for m in PRESET.build())
    calls = []
    if checkpointing:
        for module in (keypoint_detector, dense_motion, generator):
            module.enable_gradient_checkpointing()
            assert module.is_gradient_checkpointing
            for sub in module.modules():
                if getattr(sub, "gradient_checkpointing", False):
                    func = sub._gradient_checkpointing_func
                    sub._gradient_checkpointing_func = lambda block, *args, _func=func: calls.append(1) or _func(block, *args)
    g = torch.Generator().manual_seed(4)
    source, driving = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    kp_source, kp_driving = keypoint_detector(source), keypoint_detector(driving)
    motion = dense_motion(source, kp_driving, kp_source)
    out = generator(source, motion.deformation, motion.occlusion, motion.driving_heatmap)
    matches = [*out.motion_matches, *generator.match_appearance(driving)]
    loss = (out.sample - driving).abs().mean() + (out.low_res_sample - driving).abs().mean()
    loss = loss + sum(((m.quantized - m.features.detach()) ** 2).mean() + ((m.features - m.quantized.detach()) ** 2).mean()
                      for m in matches)
    loss = loss + sum(r.abs().mean() for r in out.motion_reconstructions) + (kp_driving.jacobian - torch.eye(2)).abs().mean()
    loss.backward()
    modules = {"keypoint_detector": keypoint_detector, "dense_motion": dense_motion, "generator": generator}
    grads = {f"{m}.{n}": p.grad for m, module in modules.items() for n, p in module.named_parameters()}
    buffers = {f"{m}.{n}": b.clone() for m, module in modules.items() for n, b in module.named_buffers()}
    return grads, buffers, len(calls)


def test_gradient_checkpointing_gives_the_same_gradients():
    grads, buffers, _ = training_step(checkpointing=False)
    grads_ckpt, buffers_ckpt, calls = training_step(checkpointing=True)
    assert calls > 0
    assert grads.keys() == grads_ckpt.keys()
    for key in grads:
        assert grads[key] is not None and grads_ckpt[key] is not None, key
        torch.testing.assert_close(grads_ckpt[key], grads[key], atol=1e-6, rtol=0, msg=key)
    # The recomputation does not update the BatchNorm statistics a second time.
    for key in buffers:
        torch.testing.assert_close(buffers_ckpt[key], buffers[key], atol=0, rtol=0, msg=key)


def test_train_option_for_gradient_checkpointing():
    from mcc_hf.training.config import parse_args

    base = ["--train_data_dir", "d", "--perceptual_weight", "0"]
    assert parse_args(base).gradient_checkpointing is False
    assert parse_args([*base, "--gradient_checkpointing"]).gradient_checkpointing is True


def test_gradient_checkpointing_can_be_disabled():
    model = build("generator").train()
    model.enable_gradient_checkpointing()
    model.disable_gradient_checkpointing()
    assert not model.is_gradient_checkpointing


# --------------------------------------------------------------------------- attention backends


@pytest.fixture
def restore_attention_backend():
    active = _AttentionBackendRegistry._active_backend
    yield
    _AttentionBackendRegistry.set_active_backend(active)


def test_attention_goes_through_diffusers_dispatch(restore_attention_backend, monkeypatch):
    model, inputs = build("generator"), make_inputs("generator")
    expected = run(model, inputs)
    processors = [m.processor for m in model.modules() if hasattr(m, "processor")]
    assert len(processors) > 0
    model.set_attention_backend("_native_math")
    assert all(p._attention_backend.value == "_native_math" for p in processors)
    backend_name = processors[0]._attention_backend
    calls = []
    math_backend = _AttentionBackendRegistry._backends[backend_name]
    monkeypatch.setitem(_AttentionBackendRegistry._backends, backend_name, lambda **kw: calls.append(1) or math_backend(**kw))
    assert_all_close(run(model, inputs), expected, atol=1e-5, rtol=1e-5)
    assert len(calls) > 0
    model.reset_attention_backend()
    assert all(p._attention_backend is None for p in processors)


def test_unavailable_attention_backend_is_refused_clearly(restore_attention_backend):
    model = build("generator")
    with pytest.raises(ValueError, match="must be one of"):
        model.set_attention_backend("no-such-backend")
    with pytest.raises(RuntimeError, match="flash"):
        model.set_attention_backend("flash")  # needs the flash-attn package
