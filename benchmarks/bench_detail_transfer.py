# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""What detail transfer costs: per-frame time of the pipeline at 512x512 output with and without it.

Measured side by side in one process, on the same model, photo and driving frames (decoded once, in
memory), in two settings:

``no-crop``
    A 512x512 face photo animated with ``crop=False, output_size=512``: the whole output is the face,
    the most pixels detail transfer can touch (its worst case).
``crop``
    The bundled 512x512 demo photo (``mcc-hf demo``'s) with the default crop and paste-back: the face
    box, about 200 pixels, gets the detail; the rest is the photo.

The per-frame time is marginal, ``(T(long) - T(short)) / (long - short)`` frames of one call, so the
work done once per video (source preparation, the driving scan) is left out. Repetitions of the
four runs are interleaved, so load from other processes affects them alike; medians are reported.
The last line is machine-readable:

``ratio_no_crop=<x> ratio_crop=<y> ms_off_no_crop=<a> ms_on_no_crop=<b> ms_off_crop=<c> ms_on_crop=<d>``

where a ratio is the per-frame time with detail transfer over the time without (target: at most 1.5).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_detail_transfer.py`` (default model, about 3 minutes on
a busy CPU core); ``--model DIR`` for another pipeline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MCC_SHARED_DIR", ROOT.parent / "shared")) / "data" / "talking-heads-mini"


def driving_frames(count: int) -> torch.Tensor:
    """``[count, 3, 256, 256]`` in ``[0, 1]``: a real test clip when ../shared is there, else the demo's clip."""
    from mcc_hf.image_processing import resize_to

    clips = sorted((DATA / "test").glob("*.mp4")) if DATA.is_dir() else []
    if clips:
        from mcc_hf.evaluation.clips import read_clip

        frames = read_clip(clips[0], count)
    else:
        from mcc_hf.demo import render_driving_clip

        frames = torch.from_numpy(render_driving_clip(num_frames=count)).permute(0, 3, 1, 2).float() / 255
    if len(frames) < count:
        raise SystemExit(f"the driving clip has fewer than {count} frames")
    return resize_to(frames, 256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="pipeline folder (default: the bundled model)")
    parser.add_argument("--size", type=int, default=512, help="output size (default: 512)")
    parser.add_argument("--frames", type=int, nargs=2, default=(4, 20), metavar=("SHORT", "LONG"),
                        help="frames of the short and the long call (default: 4 20)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (default: 3)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mcc_hf.demo import load_demo_source
    from mcc_hf.image_processing import load_image, resize_to
    from mcc_hf.loading import load_pipeline

    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    short, long = args.frames
    driving = driving_frames(long)
    face = resize_to(driving[:1], args.size)[0]  # a face photo at the output size (the clip's first frame)
    demo = load_image(load_demo_source())
    settings = {
        "no-crop": dict(source=face, crop=False, output_size=args.size),
        "crop": dict(source=demo, crop=True, output_size=args.size),
    }

    def call(setting: str, detail: bool, frames: int) -> float:
        options = dict(settings[setting])
        source = options.pop("source")
        start = time.perf_counter()
        pipe(source, driving[:frames], batch_size=args.batch_size, output_type="pt", detail_transfer=detail, **options)
        return time.perf_counter() - start

    runs = [(setting, detail) for setting in settings for detail in (False, True)]
    for setting, detail in runs:  # warm-up (and the face detector's first load)
        call(setting, detail, short)
    times = {run: [] for run in runs}
    for _ in range(args.repeats):
        for run in runs:
            times[run].append((call(*run, long) - call(*run, short)) / (long - short))
    median = {run: statistics.median(values) for run, values in times.items()}

    print(f"per-frame time at {args.size}x{args.size} output, model {pipe.sample_size}x{pipe.sample_size}, "
          f"batch {args.batch_size}, {torch.get_num_threads()} thread(s), marginal over frames {short}..{long}, "
          f"median of {args.repeats} interleaved repetitions")
    print(f"{'setting':10s} {'without ms':>11s} {'with ms':>8s} {'ratio':>6s}")
    ratios = {}
    for setting in settings:
        off, on = median[(setting, False)], median[(setting, True)]
        ratios[setting] = on / off
        print(f"{setting:10s} {off * 1e3:11.1f} {on * 1e3:8.1f} {on / off:6.2f}")
    print(f"ratio_no_crop={ratios['no-crop']:.3f} ratio_crop={ratios['crop']:.3f} "
          f"ms_off_no_crop={median[('no-crop', False)] * 1e3:.1f} ms_on_no_crop={median[('no-crop', True)] * 1e3:.1f} "
          f"ms_off_crop={median[('crop', False)] * 1e3:.1f} ms_on_crop={median[('crop', True)] * 1e3:.1f}")


if __name__ == "__main__":
    main()
