# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf demo``: animate the bundled face with a bundled driving clip, no arguments needed."""

from __future__ import annotations

import argparse
import os
import time

from . import HelpFormatter


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="animate the bundled sample face with the default model (no arguments needed)",
        description=(
            "Render a driving clip from the bundled public-domain photograph (astronaut Eileen Collins, "
            "NASA), animate the photograph with it, and write the driving clip, the result video and a "
            "side-by-side preview image. Works offline with the bundled default model."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--model", default=None, metavar="ID_OR_DIR",
                        help="pipeline folder or Hub id (default: the bundled default model)")
    parser.add_argument("--output-dir", default="mcc-hf-demo", metavar="DIR", help="where to write the results")
    parser.add_argument("--frames", type=int, default=50, help="length of the driving clip in frames (25 fps)")
    parser.add_argument("--no-crop", dest="crop", action="store_false",
                        help="animate the whole photograph instead of cropping the face and pasting it back")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import PIL.Image

    from ..demo import load_demo_source, render_driving_clip
    from ..errors import UserInputError
    from ..loading import load_pipeline
    from ..video import VideoWriter, read_frames

    if args.frames < 2:
        raise UserInputError(f"--frames must be at least 2, got {args.frames}")
    start = time.perf_counter()
    pipe = load_pipeline(args.model, device=args.device)
    os.makedirs(args.output_dir, exist_ok=True)
    driving_path = os.path.join(args.output_dir, "driving.mp4")
    result_path = os.path.join(args.output_dir, "result.mp4")
    preview_path = os.path.join(args.output_dir, "preview.png")

    source = load_demo_source()
    driving = render_driving_clip(source, size=256, num_frames=args.frames)
    with VideoWriter(driving_path, fps=25) as writer:
        writer.write(driving)
    result = pipe.animate_to_file(source, driving_path, result_path, crop=args.crop)

    # preview: the source, then driving (top) over result (bottom) at five moments of the clip
    picks = np.linspace(0, result.num_frames - 1, 5).round().astype(int)
    rendered = [frame for i, frame in enumerate(read_frames(result_path)) if i in set(picks)]
    tile = 192
    resize = lambda a: np.asarray(PIL.Image.fromarray(a).resize((tile, tile), PIL.Image.BICUBIC))  # noqa: E731
    top = [resize(np.asarray(source))] + [resize(driving[i]) for i in picks]
    bottom = [np.full((tile, tile, 3), 255, np.uint8)] + [resize(frame) for frame in rendered]
    preview = np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
    PIL.Image.fromarray(preview).save(preview_path)

    elapsed = time.perf_counter() - start
    print(f"driving clip: {driving_path} ({len(driving)} frames, 25 fps)")
    print(f"result video: {result_path} ({result.num_frames} frames, {result.width}x{result.height})")
    print(f"preview:      {preview_path} (top: source, driving; bottom: result)")
    print(f"done in {elapsed:.1f} s")
    return 0
