# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The output stage that puts the full-resolution source's detail into the model's rendering
(:mod:`mcc_hf.detail_transfer`), on synthetic images and on the outputs of tiny presets."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest
import torch

from mcc_hf.detail_transfer import DetailTransferOutput, gaussian_blur, source_coverage, transfer_detail, warp_source
from mcc_hf.image_processing import resize_to
from mcc_hf.motion.geometry import identity_grid


def smooth_image(size: int | tuple[int, int], seed: int = 0, sigma: float = 3.0) -> torch.Tensor:
    """``[3, H, W]`` in ``[0, 1]``: smooth colour blobs (a stand-in for a face photograph's low bands)."""
    height, width = (size, size) if isinstance(size, int) else size
    noise = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))
    image = gaussian_blur(noise, sigma * height / 64)
    low, high = image.amin(dim=(2, 3), keepdim=True), image.amax(dim=(2, 3), keepdim=True)
    return (0.15 + 0.7 * (image - low) / (high - low))[0]


def textured_image(size: int, seed: int = 0) -> torch.Tensor:
    """Smooth blobs plus fine texture above a 64-pixel model's resolution (skin, hair)."""
    texture = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed + 1)) - 0.5
    texture = texture - gaussian_blur(texture, 2.0)
    return (smooth_image(size, seed) + 0.2 * texture[0]).clamp(0, 1)


def identity_flow(batch: int, size: int) -> torch.Tensor:
    return identity_grid(size, size)[None].expand(batch, -1, -1, -1).clone()


def high_band(images: torch.Tensor, model_size: int) -> torch.Tensor:
    """What lies above a ``model_size`` rendering: the image minus its round trip through that size."""
    return images - resize_to(resize_to(images, model_size), tuple(images.shape[-2:]))


def disc(size: int, centre: tuple[float, float], radius: float) -> torch.Tensor:
    """``[1, 1, size, size]`` mask, 1 inside the disc (centre and radius as fractions of the side)."""
    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    inside = (x / size - centre[0]) ** 2 + (y / size - centre[1]) ** 2 <= radius**2
    return inside.float()[None, None]


# --------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    "output_size, model_size, flow_size",
    [(256, 64, 32), (128, 64, 64), (96, 32, 16), (256, 128, 64), (64, 64, 32)],
)
def test_identity_motion_gives_the_source(output_size, model_size, flow_size):
    """Identity flow, full visibility and a model output equal to the downsampled source: the source comes back."""
    source = textured_image(output_size)
    sample = resize_to(source[None], model_size).expand(2, -1, -1, -1)
    out = transfer_detail(sample, source, identity_flow(2, flow_size), torch.ones(2, 1, flow_size, flow_size))
    assert isinstance(out, DetailTransferOutput)
    assert out.sample.shape == (2, 3, output_size, output_size)
    torch.testing.assert_close(out.sample, source[None].expand(2, -1, -1, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.weight, torch.ones(2, 1, output_size, output_size), atol=1e-5, rtol=0)


def test_warp_source_follows_the_flow():
    """A flow that samples one pixel to the right shifts the image left; coverage marks the column that
    falls outside the source."""
    size = 32
    source = smooth_image(size)[None]
    flow = identity_flow(1, size)
    flow[..., 0] += 2 / (size - 1)
    warped = warp_source(source, flow, (size, size))
    torch.testing.assert_close(warped[..., :-1], source[..., 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(warped[..., -1], source[..., -1], atol=1e-5, rtol=0)  # edge pixel repeated
    coverage = source_coverage(flow, (size, size), (size, size))
    assert coverage[..., :-1].min() == 1 and coverage[..., -1].max() < 1e-4


# --------------------------------------------------------------------------- what the model output keeps


def test_adds_the_source_detail_and_keeps_the_low_bands():
    """Where the warped source agrees with the model, the output gets the source's detail above the model's
    resolution and the same low bands as the model output."""
    size, model = 256, 64
    source = textured_image(size)
    flow = identity_flow(1, 32)
    flow[..., 0] += 0.03  # a smooth head motion of ~4 pixels
    flow[..., 1] -= 0.02
    truth = warp_source(source[None], flow, (size, size))
    sample = resize_to(truth, model)
    out = transfer_detail(sample, source, flow, torch.ones(1, 1, 32, 32)).sample
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    detail = high_band(out, model)[inner]
    assert detail.std() > 0.9 * high_band(truth, model)[inner].std()
    assert high_band(resize_to(sample, size), model)[inner].std() < 0.2 * detail.std()
    assert (resize_to(out, model) - sample)[inner].abs().mean() < 2e-3


def test_keeps_the_model_where_it_changed_the_face():
    """The model opened a mouth the source does not show: the source is visible there per the occlusion
    map, but inconsistent, so the output keeps the model's dark mouth (its low bands) and does not paste
    the source's closed-mouth texture over it (no ghosting)."""
    size, model = 256, 64
    source = textured_image(size, seed=3)
    mouth = disc(model, (0.5, 0.7), 0.08)
    sample = resize_to(source[None], model) * (1 - mouth) + 0.05 * mouth
    out = transfer_detail(sample, source, identity_flow(1, 32), torch.ones(1, 1, 32, 32))
    core = disc(size, (0.5, 0.7), 0.05).bool().expand(1, 3, -1, -1)
    low = resize_to(resize_to(out.sample, model), size)
    assert (low - resize_to(sample, size))[core].abs().mean() < 0.03
    assert high_band(out.sample, model)[core].std() < 0.1 * high_band(source[None], model)[core].std()
    assert out.weight[core[:, :1]].max() < 0.05
    # Away from the mouth the source's detail is used.
    assert out.weight[..., :96, :].min() > 0.99


def test_keeps_the_model_where_the_source_is_hidden():
    """Occlusion 0 (the source cannot show it) and samples beyond the source's edge: the upscaled model output."""
    size, model = 128, 32
    source = textured_image(size)
    sample = resize_to(smooth_image(size, seed=5)[None], model)
    occlusion = torch.ones(1, 1, 16, 16)
    occlusion[..., :, :8] = 0
    flow = identity_flow(1, 16)
    flow[..., 1] += 0.5  # the bottom quarter samples below the source
    out = transfer_detail(sample, source, flow, occlusion, tolerance=10.0)
    upscaled = resize_to(sample, size)
    torch.testing.assert_close(out.sample[..., :, :56], upscaled[..., :, :56], atol=1e-6, rtol=0)
    torch.testing.assert_close(out.sample[..., 114:, :], upscaled[..., 114:, :], atol=1e-6, rtol=0)
    assert out.weight[..., :88, 76:].min() > 0.99  # the weights are combined at the model size: soft over ~4 px


def test_model_colour_cast_is_not_copied():
    """A uniform colour cast of the model output is not a disagreement: the source's colours are kept
    (the measured bundled model's low bands are less accurate than the warped source's)."""
    source = textured_image(128)
    sample = (resize_to(source[None], 64) + 0.08).clamp(0, 1)
    out = transfer_detail(sample, source, identity_flow(1, 32), None)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert out.weight[inner].min() > 0.99
    assert (out.sample - source)[inner].abs().mean() < 1e-3


def test_tolerance_trades_detail_for_model():
    source = textured_image(128)
    sample = resize_to(smooth_image(128, seed=9)[None], 64)
    weights = [transfer_detail(sample, source, identity_flow(1, 32), None, tolerance=t).weight.mean() for t in (0.01, 0.03, 0.3)]
    assert weights[0] < weights[1] < weights[2]
    with pytest.raises(ValueError, match="tolerance"):
        transfer_detail(sample, source, identity_flow(1, 32), None, tolerance=0)


# --------------------------------------------------------------------------- shapes, dtypes, devices


def inputs(batch: int = 2, output: tuple[int, int] = (96, 80), model: tuple[int, int] = (48, 40), seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    source = smooth_image(output, seed)
    sample = torch.rand(batch, 3, *model, generator=generator)
    flow = identity_grid(12, 10)[None] + 0.05 * torch.randn(batch, 12, 10, 2, generator=generator)
    occlusion = torch.rand(batch, 1, 6, 5, generator=generator)
    return sample, source, flow, occlusion


def test_shapes_and_ranges_non_square():
    sample, source, flow, occlusion = inputs()
    out = transfer_detail(sample, source, flow, occlusion)
    assert out.sample.shape == (2, 3, 96, 80) and out.weight.shape == (2, 1, 96, 80)
    assert out.sample.dtype == torch.float32
    assert 0 <= out.sample.min() and out.sample.max() <= 1
    assert 0 <= out.weight.min() and out.weight.max() <= 1


def test_source_batch_forms_agree():
    sample, source, flow, occlusion = inputs()
    expected = transfer_detail(sample, source, flow, occlusion).sample
    for form in (source[None], source[None].expand(2, -1, -1, -1).clone()):
        torch.testing.assert_close(transfer_detail(sample, form, flow, occlusion).sample, expected)


def test_frames_are_independent_of_their_batch():
    """A batch gives the frames one at a time would (what batch_size changes in a pipeline)."""
    sample, source, flow, occlusion = inputs(batch=3)
    together = transfer_detail(sample, source, flow, occlusion).sample
    for i in range(3):
        alone = transfer_detail(sample[i:i + 1], source, flow[i:i + 1], occlusion[i:i + 1]).sample
        torch.testing.assert_close(alone[0], together[i], atol=1e-6, rtol=0)


def test_no_occlusion_means_visible():
    sample, source, flow, _ = inputs()
    torch.testing.assert_close(
        transfer_detail(sample, source, flow, None).sample,
        transfer_detail(sample, source, flow, torch.ones(2, 1, 3, 3)).sample,
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_output_dtype_follows_the_source(dtype):
    sample, source, flow, occlusion = inputs()
    expected = transfer_detail(sample, source, flow, occlusion).sample
    out = transfer_detail(sample.to(dtype), source.to(dtype), flow.to(dtype), occlusion.to(dtype))
    assert out.sample.dtype == dtype and out.weight.dtype == dtype
    assert torch.isfinite(out.sample).all()
    tolerance = {torch.float64: 1e-5, torch.float16: 5e-3, torch.bfloat16: 3e-2}[dtype]
    torch.testing.assert_close(out.sample.float(), expected, atol=tolerance, rtol=0)


def test_other_inputs_follow_the_source_dtype():
    """Model outputs in half precision (a half-precision pipeline) with a float32 source: float32 out."""
    sample, source, flow, occlusion = inputs()
    out = transfer_detail(sample.half(), source, flow.half(), occlusion.half())
    assert out.sample.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_source_device():
    sample, source, flow, occlusion = inputs()
    expected = transfer_detail(sample, source, flow, occlusion).sample
    out = transfer_detail(sample, source.cuda(), flow, occlusion.cuda())  # mixed devices: moved to the source's
    assert out.sample.device.type == "cuda"
    torch.testing.assert_close(out.sample.cpu(), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s, src, f, o: (s[:, :2], src, f, o), "sample"),
        (lambda s, src, f, o: (s, src[:2], f, o), "source"),
        (lambda s, src, f, o: (s, src[None].expand(3, -1, -1, -1), f, o), "source"),
        (lambda s, src, f, o: (s, src, f[:1], o), "deformation"),
        (lambda s, src, f, o: (s, src, f.permute(0, 3, 1, 2), o), "deformation"),
        (lambda s, src, f, o: (s, src, f, o[:, 0]), "occlusion"),
    ],
)
def test_bad_shapes_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        transfer_detail(*change(*inputs()))


# --------------------------------------------------------------------------- with real model outputs


@pytest.mark.parametrize("preset, output_size", [("tiny-64", 256), ("tiny-128", 200)])
def test_with_a_tiny_preset(preset, output_size):
    """The generator's final flow and occlusion, as the pipeline has them, at any output size."""
    from mcc_hf import TalkingHeadPipeline

    torch.manual_seed(0)
    pipe = TalkingHeadPipeline.from_preset(preset)
    source = smooth_image(output_size)
    driving = torch.stack([smooth_image(output_size, seed) for seed in (1, 2)])
    animator = pipe.animator
    with torch.inference_mode():
        prepared = animator.prepare_source(pipe.preprocess(source[None]))
        result = animator.render(prepared, animator.detect_keypoints(pipe.preprocess(driving)))
        frames = (result.sample.clamp(-1, 1) + 1) / 2
        out = transfer_detail(frames, source, result.generator_output.deformations[-1], result.generator_output.occlusions[-1])
    assert out.sample.shape == (2, 3, output_size, output_size)
    assert torch.isfinite(out.sample).all() and 0 <= out.sample.min() and out.sample.max() <= 1


# --------------------------------------------------------------------------- streaming


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))


def test_holds_no_state():
    """Same inputs, same output, whatever ran in between; nothing stays alive after a streaming loop."""
    sample, source, flow, occlusion = inputs()
    first = transfer_detail(sample, source, flow, occlusion).sample
    other = inputs(seed=1)
    transfer_detail(*other)
    torch.testing.assert_close(transfer_detail(sample, source, flow, occlusion).sample, first, atol=0, rtol=0)

    def stream(frames: int) -> int:
        for _ in range(frames // 2):
            transfer_detail(sample, source, flow, occlusion)
        return _live_tensors()

    baseline = stream(2)
    assert stream(100) == baseline
    assert stream(1000) == baseline


STREAM_CHILD = """
import json, resource, sys, torch
from mcc_hf.detail_transfer import transfer_detail
from mcc_hf.motion.geometry import identity_grid
torch.set_num_threads(1)
frames = int(sys.argv[1])
source = torch.rand(3, 256, 256)
sample = torch.rand(4, 3, 64, 64)
flow = identity_grid(32, 32)[None] + 0.02 * torch.randn(4, 32, 32, 2)
occlusion = torch.rand(4, 1, 32, 32)
checksum = 0.0
with torch.inference_mode():
    for _ in range(frames // 4):
        checksum += float(transfer_detail(sample, source, flow, occlusion).sample[0, 0, 0, 0])
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.slow
def test_streaming_peak_memory_is_flat():
    """Peak RSS of a fresh process streaming 1000 frames at 256x256 is that of one streaming 100 frames
    (a leak of one output frame per batch would add about 200 MB)."""
    peaks = {}
    for frames in (100, 1000):
        output = subprocess.run([sys.executable, "-c", STREAM_CHILD, str(frames)], check=True, capture_output=True,
                                text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
        peaks[frames] = json.loads(output.strip().splitlines()[-1])["peak_kib"]
    assert peaks[1000] < peaks[100] * 1.05 + 4096, peaks
