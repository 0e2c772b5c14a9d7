# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Peak memory of ``TalkingHeadPipeline.animate_to_file`` versus driving-video length.

The same driving clip is looped to 100, 1000 and 2000 frames; each length is animated in a fresh
Python process (so peak RSS is not inherited), with a tiny model and the full product path (face
crop, paste-back into a 500x360 photo, audio copy). Streaming means the peak should not grow with
the length: the script prints the peak resident set size of each run and its ratio to the shortest.

    python benchmarks/bench_memory.py                      # 100 / 1000 / 2000 frames, tiny-64
    python benchmarks/bench_memory.py --frames 100 1000 --no-crop
    python benchmarks/bench_memory.py --frames 100 1000 --no-detail-transfer   # (default: automatic, on here)

It uses the mini dataset in ../shared when present (a real clip and portrait), else synthetic frames.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MCC_SHARED_DIR", ROOT.parent / "shared")) / "data" / "talking-heads-mini"
CLIP = DATA / "test" / "id12#lp-d12#000.mp4"
PORTRAIT = DATA / "images" / "img01.png"


def make_inputs(folder: Path, num_frames: int) -> tuple[Path, Path]:
    """A driving video of ``num_frames`` (a real clip looped, with an audio tone) and a 500x360 source photo."""
    import av
    import numpy as np
    import PIL.Image

    from mcc_hf.video import read_frames

    if CLIP.is_file() and PORTRAIT.is_file():
        frames = list(read_frames(CLIP))
        face = PIL.Image.open(PORTRAIT).convert("RGB")
    else:  # synthetic stand-ins; use --no-crop, there is no face to find
        y, x = np.mgrid[0:256, 0:256]
        frames = [np.stack([(x + 3 * t) % 256, y, np.full_like(x, 128)], -1).astype(np.uint8) for t in range(50)]
        face = PIL.Image.fromarray(frames[0])
    source = PIL.Image.new("RGB", (500, 360), (40, 90, 160))
    source.paste(face.resize((300, 300)), (150, 40))
    source_path = folder / "source.png"
    source.save(source_path)

    video_path = folder / f"driving_{num_frames}.mp4"
    fps, rate = Fraction(25), 16000
    with av.open(str(video_path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 256, 256, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            frame.pts, frame.time_base = index, 1 / fps
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = int(rate * num_frames / fps)
        for start in range(0, samples, 1024):
            count = min(1024, samples - start)
            tone = (0.2 * np.sin(2 * np.pi * 440 * (start + np.arange(count)) / rate)).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = rate, start, Fraction(1, rate)
            container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
    return source_path, video_path


def child(args: argparse.Namespace) -> None:
    """Animate one video and print one JSON line with the peak RSS (run in a fresh process)."""
    import resource

    import torch

    from mcc_hf import TalkingHeadPipeline

    torch.set_num_threads(1)
    torch.manual_seed(0)
    pipe = TalkingHeadPipeline.from_preset(args.preset)
    pipe.set_progress_bar_config(disable=True)
    ready_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = pipe.animate_to_file(args.source, args.driving, args.output, crop=args.crop, batch_size=args.batch_size,
                                  detail_transfer=args.detail_transfer)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"frames": result.num_frames, "peak_mib": peak_kib / 1024, "ready_mib": ready_kib / 1024,
                      "seconds": seconds, "size": f"{result.width}x{result.height}", "audio": result.has_audio}))


def _detail_flag(detail_transfer: bool | None) -> list[str]:
    return [] if detail_transfer is None else ["--detail-transfer" if detail_transfer else "--no-detail-transfer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--preset", default="tiny-64")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--detail-transfer", action=argparse.BooleanOptionalAction, default=None,
                        help="force detail transfer on or off (default: automatic)")
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "DRIVING", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.source, args.driving, args.output = args.child
        child(args)
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for num_frames in args.frames:
            source, driving = make_inputs(folder, num_frames)
            command = [sys.executable, __file__, "--preset", args.preset, "--batch-size", str(args.batch_size),
                       "--crop" if args.crop else "--no-crop", *_detail_flag(args.detail_transfer), "--child", str(source), str(driving), str(folder / "out.mp4")]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
            driving.unlink()
            print(f"  {rows[-1]}", flush=True)

    base = rows[0]["peak_mib"]
    print(f"\npreset {args.preset}, crop={args.crop}, batch {args.batch_size}, output {rows[0]['size']}, audio {rows[0]['audio']}")
    print(f"{'frames':>7} {'peak RSS MiB':>13} {'vs first':>9} {'after load MiB':>15} {'seconds':>8}")
    for row in rows:
        print(f"{row['frames']:>7} {row['peak_mib']:>13.1f} {row['peak_mib'] / base - 1:>+9.1%} "
              f"{row['ready_mib']:>15.1f} {row['seconds']:>8.1f}")
    growth = max(row["peak_mib"] for row in rows) / base - 1
    print(f"largest peak-RSS growth over {rows[0]['frames']} frames: {growth:+.1%} ({'< 10%: OK' if growth < 0.10 else '>= 10%'})")


if __name__ == "__main__":
    main()
