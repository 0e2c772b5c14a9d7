# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Inference speed of the talking-head model: reference-style loop versus the library's fast path.

Measured side by side in one process, on the same weights and the same frames:

(a) **reference style**: the per-frame loop of the authors' code, written here on top of our
    modules. Every frame recomputes the source keypoints, the dense motion and the full generator
    *including the source encoder*; batch 1, float32, default (NCHW) memory format, no caching.
    Leaf modules use the original's operator style: the compensation transformers run
    ``nn.MultiheadAttention``'s math path (which also returns head-averaged attention weights),
    the spatial self-attention is ``bmm -> softmax -> bmm``, swish is ``x * sigmoid(x)``, and
    every upsampling block interpolates to the full size before its 3x3 convolution.
(b) **library**: what :class:`~mcc_hf.pipelines.TalkingHeadPipeline` runs, the
    :class:`~mcc_hf.animator.Animator` with its source prepared once per video
    (:meth:`~mcc_hf.animator.Animator.prepare_source`) and one :meth:`~mcc_hf.animator.Animator.render`
    per batch, at batch 1 and at larger batches. Its output must stay within ``1e-4`` of (a).

(m) **mixed precision**: (b) at batch 1 inside :func:`mcc_hf.precision.inference_autocast`
    (bfloat16 by default): convolutions and attention in half precision, geometry in float32.
    Its closeness to float32 is measured separately on the bundled *trained* default model
    (``mcc_hf.DEFAULT_MODEL``; the deterministic weights used for speed amplify rounding
    chaotically): the PSNR of (m) against (b) on real frames (``../shared`` talking-heads-mini
    when present, else the bundled photo moved by :func:`mcc_hf.demo.render_driving_clip`).

Optional approximate modes (``--approx bf16,compile``: the whole model cast to bfloat16, and
:func:`mcc_hf.precision.compile_per_frame`) report their error against (a) and their speed.
Repetitions of all modes are interleaved and medians reported, so load from other processes
affects them alike; the process CPU time per frame is reported too. The CPU model and flags
(``lscpu``) are printed first. The last line is machine-readable:

``speedup_bs1=<x> speedup_best=<y> max_abs_diff=<z> mixed_speedup=<m> mixed_psnr_db=<p>``

where ``mixed_speedup`` is (a)'s time over (m)'s and ``mixed_psnr_db`` the PSNR above.

Run: ``python benchmarks/bench_inference.py --preset vox-256 --frames 8``. Measured figures:
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import copy
import glob
import math
import os
import resource
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mcc_hf.animator import Animator, MotionTransfer
from mcc_hf.compensation.transformer import Attention, ProjectedMemory
from mcc_hf.layers import ResnetBlock, SpatialSelfAttention, Upsample
from mcc_hf.motion.hourglass import UpBlock
from mcc_hf.precision import compile_per_frame, inference_autocast
from mcc_hf.presets import get_preset

EXACT_TOLERANCE = 1e-4
SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "talking-heads-mini")


# --------------------------------------------------------------------------- reference style (a)


class ReferenceStyleAttention(Attention):
    """``nn.MultiheadAttention``'s math path as the original calls it: explicit scores, softmax, and the
    head-averaged attention weights it returns by default (``need_weights=True``)."""

    def forward(self, query, key, value=None, attention_mask=None):
        batch, length, dim = query.shape
        heads, head_dim = self.num_heads, dim // self.num_heads
        q = self.to_q(query).view(batch, length, heads, head_dim).transpose(1, 2) * head_dim**-0.5
        if isinstance(key, ProjectedMemory):  # only when counting the FLOPs of the cached path
            k, v = key.key.expand(batch, -1, -1, -1), key.value.expand(batch, -1, -1, -1)
        else:
            k = self.to_k(key).expand(batch, -1, -1).view(batch, -1, heads, head_dim).transpose(1, 2)
            v = self.to_v(value).expand(batch, -1, -1).view(batch, -1, heads, head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2))
        if attention_mask is not None:
            scores = scores.masked_fill(~attention_mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        weights.mean(dim=1)  # the averaged weights nn.MultiheadAttention returns (and the caller drops)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(batch, length, dim)
        return self.to_out(out)


class ReferenceStyleSpatialSelfAttention(SpatialSelfAttention):
    """Single-head spatial attention as ``bmm -> softmax -> bmm`` with explicit scores."""

    def forward(self, x):
        b, c, h, w = x.shape
        normed = self.norm(x)
        q = self.q(normed).reshape(b, c, h * w).permute(0, 2, 1)
        k = self.k(normed).reshape(b, c, h * w)
        scores = torch.softmax(torch.bmm(q, k) * c**-0.5, dim=2)
        v = self.v(normed).reshape(b, c, h * w)
        attended = torch.bmm(v, scores.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(attended)


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class ReferenceStyleResnetBlock(ResnetBlock):
    """Residual block with swish written as ``x * sigmoid(x)``."""

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        return (x if self.conv_out is None else self.conv_out(x)) + h


class ReferenceStyleUpsample(Upsample):
    """Nearest-neighbour x2 into a full-size tensor, then the 3x3 convolution on it."""

    def forward(self, x):
        return F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), self.conv.weight, self.conv.bias, padding=1)


class ReferenceStyleUpBlock(UpBlock):
    """The hourglass up block as upsample-then-convolve."""

    def forward(self, x):
        upsampled = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(F.conv2d(upsampled, self.conv.weight, self.conv.bias, padding=1)))


REFERENCE_STYLE = {
    Attention: ReferenceStyleAttention,
    SpatialSelfAttention: ReferenceStyleSpatialSelfAttention,
    ResnetBlock: ReferenceStyleResnetBlock,
    Upsample: ReferenceStyleUpsample,
    UpBlock: ReferenceStyleUpBlock,
}


def reference_style(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``module`` whose attention and residual blocks compute in the original's style.

    The copy keeps the module tree and the weights; only the class (hence ``forward``) of those
    leaf modules changes, to a subclass that adds no state.
    """
    module = copy.deepcopy(module)
    for child in module.modules():
        style = REFERENCE_STYLE.get(type(child))
        if style is not None:
            child.__class__ = style
    return module


class ReferenceLoop:
    """(a): everything recomputed per frame, batch 1, float32, NCHW."""

    def __init__(self, keypoint_detector, dense_motion, generator):
        self.keypoint_detector = reference_style(keypoint_detector)
        self.dense_motion = reference_style(dense_motion)
        self.generator = reference_style(generator)

    @torch.no_grad()
    def frame(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        kp_source = self.keypoint_detector(source)
        kp_driving = self.keypoint_detector(driving)
        motion = self.dense_motion(source, kp_driving, kp_source)
        return self.generator(source, motion.deformation, motion.occlusion, motion.driving_heatmap).sample

    @torch.no_grad()
    def cached_frame(self, prepared, driving: torch.Tensor) -> torch.Tensor:
        """The same arithmetic as the library path (source side precomputed); used to count its FLOPs."""
        kp_driving = self.keypoint_detector(driving)
        motion = self.dense_motion(prepared.image, kp_driving, prepared.keypoints)
        return self.generator(
            prepared.features, motion.deformation, motion.occlusion, motion.driving_heatmap
        ).sample


# --------------------------------------------------------------------------- measurement helpers


class PeakRSS:
    """Samples the resident set size every millisecond while active (Linux ``/proc``; else ``ru_maxrss``)."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._page
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.001)

    def __enter__(self):
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_peaks(repeats: int = 5) -> tuple[float, float]:
    """Measured float32 GFLOP/s of the best channels-last 3x3 convolution and of a 2048^3 matmul."""
    best_conv = 0.0
    with torch.no_grad():
        for channels, size in ((64, 256), (128, 128), (256, 64)):
            conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
            x = torch.randn(1, channels, size, size).contiguous(memory_format=torch.channels_last)
            flops = 2 * channels * channels * 9 * size * size
            best_conv = max(best_conv, flops / median_time(lambda: conv(x), repeats) / 1e9)
        a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
        matmul = 2 * 2048**3 / median_time(lambda: a @ b, repeats) / 1e9
    return best_conv, matmul


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def deterministic_weights(generator: torch.nn.Module, seed: int) -> None:
    """Give the freshly built generator the properties of a trained one that matter for the comparison
    (as the parity fixtures do): codebooks spread over U(-1, 1) so the cross-attention is far from
    uniform, non-zero position embeddings N(0, 0.1^2), and a last decoder convolution scaled by 0.35
    so the output image lies mostly inside [-1, 1] (absolute differences are then on the image scale)."""
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for compensator in (generator.motion_compensator, generator.appearance_compensator):
            if compensator is not None:
                embedding = compensator.codebook.embedding
                embedding.copy_(torch.rand(embedding.shape, generator=rng) * 2 - 1)
                position = compensator.position_embedding
                position.copy_(torch.randn(position.shape, generator=rng) * 0.1)
        generator.decoder.blocks[-1].weight.mul_(0.35)


class ModuleProfile:
    """Wall time per module group, from forward pre/post hooks (a module may run several times per frame)."""

    def __init__(self, groups: dict[str, list[torch.nn.Module]]):
        self.seconds = {name: 0.0 for name in groups}
        self._handles = []
        for name, modules in groups.items():
            for module in modules:
                self._handles.append(module.register_forward_pre_hook(self._start))
                self._handles.append(module.register_forward_hook(self._stop_hook(name)))
        self._started: list[float] = []

    def _start(self, module, args):
        self._started.append(time.perf_counter())

    def _stop_hook(self, name: str):
        def stop(module, args, output):
            self.seconds[name] += time.perf_counter() - self._started.pop()
        return stop

    def remove(self):
        for handle in self._handles:
            handle.remove()


def module_groups(keypoint_detector, dense_motion, generator) -> dict[str, list[torch.nn.Module]]:
    groups = {
        "keypoint detector": [keypoint_detector],
        "dense motion": [dense_motion],
        "generator: source encoder": [generator.encoder],
        "generator: decoder blocks": list(generator.decoder.blocks),
        "generator: fusion (SFT + add)": list(generator.fusion),
    }
    if generator.motion_compensator is not None:
        groups["generator: motion compensation"] = [generator.motion_compensator]
    if generator.appearance_compensator is not None:
        groups["generator: appearance compensation"] = [generator.appearance_compensator]
    groups["generator (total)"] = [generator]
    return groups


def print_profile(title: str, modules: tuple, frame: Callable[[], object], frames: int) -> None:
    profile = ModuleProfile(module_groups(*modules))
    start = time.perf_counter()
    for _ in range(frames):
        frame()
    total = (time.perf_counter() - start) / frames
    profile.remove()
    print(f"per-module profile, {title}: {total:.3f} s/frame")
    for name, seconds in profile.seconds.items():
        print(f"  {name:36s} {seconds / frames:7.3f} s {seconds / frames / total:6.1%}")


def make_frames(size: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth synthetic source ``[1, 3, S, S]`` and ``count`` driving frames: the source shifted and
    rotated a little more every frame (so keypoints move). All in ``[-1, 1]``."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 8, 8, generator=generator) * 2 - 1
    source = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
    frames = []
    for t in range(count):
        angle = 0.05 * torch.sin(torch.tensor(0.7 * t))
        shift = 0.04 * torch.cos(torch.tensor(0.5 * t))
        theta = torch.tensor([[torch.cos(angle), -torch.sin(angle), shift], [torch.sin(angle), torch.cos(angle), 0.0]])
        grid = F.affine_grid(theta[None], [1, 3, size, size], align_corners=False)
        frames.append(F.grid_sample(source, grid, padding_mode="border", align_corners=False))
    return source, torch.cat(frames)


# --------------------------------------------------------------------------- the modes


@dataclass
class Mode:
    name: str
    run: Callable[[], torch.Tensor]  # renders all frames, returns [T, 3, S, S] float32
    batch_size: int
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    rss: int = 0
    output: torch.Tensor | None = None


def library_mode(animator: Animator, source: torch.Tensor, driving: torch.Tensor, batch_size: int,
                 mixed_dtype: torch.dtype | None = None) -> Callable:
    """(b): what the pipeline runs, source prepared once, then ``detect_keypoints`` + ``render`` per batch;
    with ``mixed_dtype``, (m): the frame loop inside :func:`inference_autocast` (the source is prepared
    in float32, as the pipeline will do)."""

    @torch.no_grad()
    def run() -> torch.Tensor:
        prepared = animator.prepare_source(source)
        outputs = []
        with inference_autocast(source.device, mixed_dtype):
            for start in range(0, driving.shape[0], batch_size):
                images = driving[start : start + batch_size]
                outputs.append(animator.render(prepared, animator.detect_keypoints(images)).sample.float())
        return torch.cat(outputs)

    return run


def cpu_description() -> list[str]:
    """``lscpu``'s model name and flags (or what ``/proc/cpuinfo`` says), as printable lines."""
    lines = []
    if shutil.which("lscpu"):
        output = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in output.splitlines():
            key = line.split(":", 1)[0].strip()
            if key in ("Model name", "CPU(s)", "Thread(s) per core", "Flags"):
                lines.append(" ".join(line.split()))
    elif os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            seen = set()
            for line in f:
                key = line.split(":", 1)[0].strip()
                if key in ("model name", "flags") and key not in seen:
                    seen.add(key)
                    lines.append(" ".join(line.split()))
    flags = " ".join(lines).split()
    lines.append("half-precision matrix units: " + (", ".join(f for f in ("avx512_bf16", "amx_bf16", "amx_fp16",
                                                                          "avx512_fp16") if f in flags) or "none"))
    return lines


def load_real_frames(size: int, count: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """A source ``[1, 3, S, S]`` and ``count`` driving frames in ``[-1, 1]`` of real faces, and where they come from.

    The first portrait and the first test clip of ``../shared`` talking-heads-mini when present, else
    the bundled photo and a head-motion clip rendered from it."""
    from mcc_hf.image_processing import load_image, resize_to, to_model_range

    images = sorted(glob.glob(os.path.join(SHARED_DATA, "images", "*")))
    clips = sorted(glob.glob(os.path.join(SHARED_DATA, "test", "*.mp4")))
    if images and clips:
        from mcc_hf.video import read_frames

        frames = []
        for frame in read_frames(clips[0]):
            frames.append(load_image(frame))
            if len(frames) == count:
                break
        source = load_image(images[0])[None]
        origin = f"{os.path.basename(images[0])} driven by {os.path.basename(clips[0])}"
    else:
        from mcc_hf.demo import load_demo_source, render_driving_clip

        clip = torch.from_numpy(render_driving_clip(size=size, num_frames=count)).permute(0, 3, 1, 2).float() / 255
        frames = list(clip)
        source = load_image(load_demo_source())[None]
        origin = "the bundled photo driven by a rendered head-motion clip"
    return to_model_range(resize_to(source, size)), to_model_range(resize_to(torch.stack(frames), size)), origin


def mixed_precision_psnr(dtype: torch.dtype, count: int) -> tuple[float, str]:
    """PSNR (dB, on [0, 1] frames) of mixed precision against float32 with the trained default model,
    in relative mode with the first driving frame as reference, as the pipeline animates."""
    from mcc_hf.image_processing import from_model_range
    from mcc_hf.loading import load_pipeline

    pipe = load_pipeline(None)
    animator = pipe.animator
    source, driving, origin = load_real_frames(pipe.sample_size, count)
    outputs = []
    with torch.inference_mode():
        prepared = animator.prepare_source(source)
        reference = animator.detect_keypoints(driving[:1])
        for mode in (None, dtype):
            with inference_autocast(source.device, mode):
                keypoints = MotionTransfer(prepared, reference=reference)(animator.detect_keypoints(driving))
                outputs.append(from_model_range(animator.render(prepared, keypoints).sample.float()))
    mse = (outputs[0] - outputs[1]).pow(2).mean().item()
    return (10 * math.log10(1.0 / mse) if mse > 0 else math.inf), origin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="vox-256", help="model preset or JSON config (deterministic weights)")
    parser.add_argument("--frames", type=int, default=8, help="driving frames per repetition")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions of every mode")
    parser.add_argument("--batch-sizes", default="1,4", help="library batch sizes to time (1 is always included)")
    parser.add_argument("--mixed-dtype", default="bfloat16", choices=("bfloat16", "float16"),
                        help="half precision of the mixed mode (m)")
    parser.add_argument("--psnr-frames", type=int, default=16, help="real frames for the mixed-precision PSNR")
    parser.add_argument("--approx", default="", help="comma-separated approximate modes: bf16, compile")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--profile", action="store_true", help="also print a per-module time profile of (a) and (b)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    keypoint_detector, dense_motion, generator = get_preset(args.preset).build()
    deterministic_weights(generator, args.seed)
    for module in (keypoint_detector, dense_motion, generator):
        module.eval().requires_grad_(False)
    size = generator.config.sample_size
    source, driving = make_frames(size, args.frames, args.seed)

    reference = ReferenceLoop(keypoint_detector, dense_motion, generator)
    animator = Animator(keypoint_detector, dense_motion, generator)
    animator.set_memory_format(torch.channels_last)  # what the pipeline does on CPU

    def run_reference() -> torch.Tensor:
        return torch.cat([reference.frame(source, driving[t : t + 1]) for t in range(driving.shape[0])])

    batch_sizes = sorted({1, *(int(b) for b in args.batch_sizes.split(",") if b)})
    mixed_dtype = getattr(torch, args.mixed_dtype)
    modes = [Mode("(a) reference style, bs1", run_reference, 1)]
    modes += [Mode(f"(b) library, bs{b}", library_mode(animator, source, driving, b), b) for b in batch_sizes]
    modes.append(Mode(f"(m) mixed {args.mixed_dtype}, bs1", library_mode(animator, source, driving, 1, mixed_dtype), 1))

    approx = [name for name in args.approx.split(",") if name]
    for name in approx:
        if name == "bf16":
            bf16 = Animator(*(copy.deepcopy(m).to(torch.bfloat16) for m in (keypoint_detector, dense_motion, generator)))
            bf16.set_memory_format(torch.channels_last)
            modes.append(Mode("(approx) bfloat16, bs1", library_mode(bf16, source.bfloat16(), driving.bfloat16(), 1), 1))
        elif name == "compile":
            compiled = [copy.deepcopy(m) for m in (keypoint_detector, dense_motion, generator)]
            compile_per_frame(*compiled)
            animator_c = Animator(*compiled)
            animator_c.set_memory_format(torch.channels_last)
            modes.append(Mode("(approx) compile_per_frame, bs1", library_mode(animator_c, source, driving, 1), 1))
        else:
            parser.error(f"unknown approximate mode {name!r} (use bf16, compile)")

    for line in cpu_description():
        print(f"cpu: {line}")
    print(f"preset {args.preset}: {size}x{size}, {args.frames} frames x {args.repeats} repetitions, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for mode in modes:  # warm-up (and compilation) outside the timed repetitions
        start = time.perf_counter()
        mode.output = mode.run()
        if mode.name.startswith("(approx) compile"):
            print(f"  compile_per_frame warm-up (compilation): {time.perf_counter() - start:.1f} s")
    for _ in range(args.repeats):
        for mode in modes:
            with PeakRSS() as rss:
                start, cpu_start = time.perf_counter(), time.process_time()
                mode.output = mode.run()
                mode.times.append((time.perf_counter() - start) / args.frames)
                mode.cpu_times.append((time.process_time() - cpu_start) / args.frames)
            mode.rss = max(mode.rss, rss.peak)

    # FLOPs: (a) per frame, and the library's per-frame arithmetic (same operators, source side cached).
    flops_a = count_flops(lambda: reference.frame(source, driving[:1]))
    with torch.no_grad():
        prepared = animator.prepare_source(source)
    flops_b = count_flops(lambda: reference.cached_frame(prepared, driving[:1]))
    conv_peak, matmul_peak = measure_peaks()
    peak = max(conv_peak, matmul_peak)

    base = modes[0]
    latency_a = statistics.median(base.times)
    print(f"machine peak: conv3x3 channels-last {conv_peak:.0f} GFLOP/s, fp32 matmul {matmul_peak:.0f} GFLOP/s")
    print(f"work per frame: (a) {flops_a / 1e9:.1f} GFLOP, (b) {flops_b / 1e9:.1f} GFLOP (source side cached)")
    cpu_a = statistics.median(base.cpu_times)
    print(f"{'mode':32s} {'s/frame':>8s} {'fps':>6s} {'(a)/x':>6s} {'cpu s/fr':>8s} {'(a)/x':>6s} {'GFLOP/s':>8s} "
          f"{'of peak':>7s} {'peak RSS':>9s} {'max|d| vs (a)':>13s}")
    speedup_bs1 = speedup_best = mixed_speedup = 0.0
    max_diff_exact = 0.0
    for mode in modes:
        latency, cpu = statistics.median(mode.times), statistics.median(mode.cpu_times)
        flops = flops_a if mode is base else flops_b
        diff = (mode.output.float() - base.output).abs().max().item()
        ratio = latency_a / latency
        print(f"{mode.name:32s} {latency:8.3f} {1 / latency:6.2f} {ratio:6.2f} {cpu:8.3f} {cpu_a / cpu:6.2f} "
              f"{flops / latency / 1e9:8.0f} {flops / latency / 1e9 / peak:7.0%} {mode.rss / 2**20:7.0f} MB {diff:13.2e}")
        if mode.name.startswith("(b)"):
            max_diff_exact = max(max_diff_exact, diff)
            speedup_best = max(speedup_best, ratio)
            if mode.batch_size == 1:
                speedup_bs1 = ratio
        elif mode.name.startswith("(m)"):
            mixed_speedup = ratio
    if args.profile:
        with torch.no_grad():
            print_profile("(a) reference style", (reference.keypoint_detector, reference.dense_motion,
                          reference.generator), lambda: reference.frame(source, driving[:1]), args.repeats)
            prepared = animator.prepare_source(source)
            print_profile("(b) library, bs1", (keypoint_detector, dense_motion, generator),
                          lambda: animator.render(prepared, animator.detect_keypoints(driving[:1])), args.repeats)
    print("per-frame times (s): " + "; ".join(
        f"{m.name.split(',')[0]} bs{m.batch_size}: " + ",".join(f"{t:.3f}" for t in m.times) for m in modes))
    print(f"output range of (a): [{base.output.min().item():.3f}, {base.output.max().item():.3f}]; "
          f"exact modes {'within' if max_diff_exact <= EXACT_TOLERANCE else 'OUTSIDE'} {EXACT_TOLERANCE:g}")
    psnr, origin = mixed_precision_psnr(mixed_dtype, args.psnr_frames)
    print(f"mixed precision ({args.mixed_dtype}) against float32 on the trained default model, {args.psnr_frames} "
          f"frames of {origin}: PSNR {psnr:.2f} dB")
    print(f"speedup_bs1={speedup_bs1:.3f} speedup_best={speedup_best:.3f} max_abs_diff={max_diff_exact:.3e} "
          f"mixed_speedup={mixed_speedup:.3f} mixed_psnr_db={psnr:.2f}")


if __name__ == "__main__":
    main()
