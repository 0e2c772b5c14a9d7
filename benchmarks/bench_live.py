# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Live (frame-by-frame) animation: frames per second and per-frame latency, by stage, in one run.

Runs :meth:`TalkingHeadPipeline.live` (batch 1, no look-ahead: what a camera feed gets) on the frames
of a real clip for each model, after a warm-up, and reports throughput, the median and 95th
percentile of the per-frame latency and the median time of each stage (decode of the driving
frame, keypoints, render, compose). The bundled 64x64 model runs with crop and paste-back into a
512x512 photo (``mcc-hf demo``'s case); the released ``vox-256`` configuration (deterministic
random weights: speed does not depend on the values) on 256x256 face crops.

    python benchmarks/bench_live.py --frames 40 --threads 2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mcc_hf import DEFAULT_MODEL, TalkingHeadPipeline
from mcc_hf.video import read_frames

SHARED = Path(os.environ.get("MCC_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
CLIP = SHARED / "data" / "talking-heads-mini" / "test" / "id12#lp-d12#000.mp4"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(name: str, pipe: TalkingHeadPipeline, source, clip: Path, frames: int, warmup: int, **options) -> dict:
    session = pipe.live(source, output_type="np", **options)
    decoded = read_frames(clip)
    latencies, stages = [], {"decode": []}
    started = None
    for index in range(warmup + frames):
        begin = time.perf_counter()
        frame = next(decoded)
        decode = time.perf_counter() - begin
        session(frame)
        end = time.perf_counter()
        if index == warmup:
            started = begin
        if index >= warmup:
            latencies.append(end - begin)
            stages["decode"].append(decode)
            for stage, seconds in session.timings.items():
                stages.setdefault(stage, []).append(seconds)
    elapsed = time.perf_counter() - started
    row = {
        "model": name,
        "fps": frames / elapsed,
        "median_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 95),
    }
    row.update({f"{stage}_ms": 1000 * statistics.median(values) for stage, values in stages.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="timed frames per model (bundled model)")
    parser.add_argument("--vox-frames", type=int, default=8, help="timed frames of vox-256 (about 1-2 s each on 2 CPU threads)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-vox", action="store_true", help="only the bundled model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not CLIP.is_file():
        raise SystemExit(f"{CLIP} is missing: the benchmark reads a clip of the shared mini dataset")

    from mcc_hf.demo import load_demo_source

    rows = []
    bundled = TalkingHeadPipeline.from_pretrained(DEFAULT_MODEL)
    bundled.set_progress_bar_config(disable=True)
    rows.append(measure("bundled 64x64, crop + paste-back 512x512", bundled, load_demo_source(), CLIP,
                        args.frames, args.warmup, crop=True))
    rows.append(measure("bundled 64x64, face crops 256x256", bundled, next(read_frames(CLIP)), CLIP,
                        args.frames, args.warmup, crop=False, output_size=256))
    if not args.skip_vox:
        torch.manual_seed(0)
        vox = TalkingHeadPipeline.from_preset("vox-256")
        vox.set_progress_bar_config(disable=True)
        rows.append(measure("vox-256, face crops 256x256", vox, next(read_frames(CLIP)), CLIP,
                            args.vox_frames, 1, crop=False))

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    stages = ["decode", "prepare", "keypoints", "render", "compose"]
    header = ["model", "fps", "median ms", "p95 ms"] + [f"{s} ms" for s in stages]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        values = [row["model"], f"{row['fps']:.1f}", f"{row['median_ms']:.1f}", f"{row['p95_ms']:.1f}"]
        values += [f"{row[f'{s}_ms']:.1f}" for s in stages]
        print("| " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()
