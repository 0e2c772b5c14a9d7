# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Peak memory of one training step with and without gradient checkpointing, side by side.

Each configuration runs in a fresh Python process, so that one run's allocations cannot hide the
next one's peak; the two alternate ``--repeats`` times. A run builds the preset's three networks
(deterministic initialisation), optionally calls ``enable_gradient_checkpointing()`` on each (what
``train.py --gradient_checkpointing`` does), and times one forward and backward pass of the training
model (:class:`~mcc_hf.training.model.TalkingHeadTrainingModel`: the generator with its training
outputs, the codebook, motion-reconstruction and equivariance terms) plus L1 image terms, at
``--batch-size``. The VGG perceptual and GAN terms and the optimiser step are left out: they cost the
same with and without checkpointing.

Memory is measured by the operating system: the process's peak resident set size
(``getrusage(RUSAGE_SELF).ru_maxrss``) after the step, and the step's share of it, that peak minus
the resident size just before the step (``/proc/self/statm``). Both runs must give the same loss.

Run: ``python benchmarks/bench_training_memory.py --preset vox-256 --batch-size 2``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MIB = 1024 * 1024


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_step(preset: str, batch_size: int, checkpointing: bool, seed: int, threads: int) -> dict:
    """One training step in this process; returns its measurements."""
    import torch

    from mcc_hf.presets import get_preset
    from mcc_hf.training.equivariance import RandomTPS
    from mcc_hf.training.model import TalkingHeadTrainingModel

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    keypoint_detector, dense_motion, generator = get_preset(preset).build()
    if checkpointing:
        for module in (keypoint_detector, dense_motion, generator):
            module.enable_gradient_checkpointing()
    model = TalkingHeadTrainingModel(keypoint_detector, dense_motion, generator).train()
    size = generator.config.sample_size
    rng = torch.Generator().manual_seed(seed)
    source = torch.rand(batch_size, 3, size, size, generator=rng) * 2 - 1
    driving = torch.rand(batch_size, 3, size, size, generator=rng) * 2 - 1
    transform = RandomTPS(batch_size, generator=rng)

    gc.collect()
    baseline, peak_before = current_rss(), peak_rss()
    start = time.perf_counter()
    out = model(source, driving, transform)
    loss = (out.prediction - driving).abs().mean() + (out.low_res_prediction - driving).abs().mean()
    loss = loss + sum(out.terms.values())
    loss.backward()
    seconds = time.perf_counter() - start
    peak = peak_rss()
    return {
        "checkpointing": checkpointing,
        "baseline_mib": baseline / MIB,
        "peak_mib": peak / MIB,
        "step_mib": (peak - baseline) / MIB,
        "peak_before_step_mib": peak_before / MIB,
        "seconds": seconds,
        "loss": float(loss),
    }


def measure_in_subprocess(args: argparse.Namespace, checkpointing: bool) -> dict:
    command = [
        sys.executable, os.path.abspath(__file__), "--worker", "--preset", args.preset,
        "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--threads", str(args.threads),
    ]
    if checkpointing:
        command.append("--gradient-checkpointing")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the measurement process failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vox-256", help="model preset or JSON config")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each configuration")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gradient-checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = run_step(args.preset, args.batch_size, args.gradient_checkpointing, args.seed, args.threads)
        print(json.dumps(result))
        return

    print(f"preset {args.preset}, batch {args.batch_size}, one training step (forward + backward), "
          f"{args.repeats} alternating run(s) per configuration, each in a fresh process")
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.repeats):
        for checkpointing in (False, True):
            runs[checkpointing].append(measure_in_subprocess(args, checkpointing))

    def median(checkpointing: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[checkpointing])

    header = f"{'mode':26s} {'peak RSS':>10s} {'step above baseline':>20s} {'baseline':>10s} {'step time':>10s} {'loss':>12s}"
    print(header)
    for checkpointing, label in ((False, "no checkpointing"), (True, "gradient checkpointing")):
        print(f"{label:26s} {median(checkpointing, 'peak_mib'):8.0f} MiB {median(checkpointing, 'step_mib'):16.0f} MiB "
              f"{median(checkpointing, 'baseline_mib'):6.0f} MiB {median(checkpointing, 'seconds'):9.2f}s "
              f"{runs[checkpointing][0]['loss']:12.6f}")
    for r in runs[False] + runs[True]:
        if r["peak_before_step_mib"] >= r["peak_mib"]:
            print("warning: a run peaked before its step (model building); its step figure is a lower bound")
    if any(r["loss"] != runs[False][0]["loss"] for r in runs[False] + runs[True]):
        print("warning: the runs' losses differ")
    peak_ratio = median(True, "peak_mib") / median(False, "peak_mib")
    step_ratio = median(True, "step_mib") / median(False, "step_mib")
    time_ratio = median(True, "seconds") / median(False, "seconds")
    print(f"peak_ratio={peak_ratio:.3f} step_memory_ratio={step_ratio:.3f} time_ratio={time_ratio:.3f}")


if __name__ == "__main__":
    main()
