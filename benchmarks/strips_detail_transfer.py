# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Cross-identity strips before/after detail transfer, to look at (``docs/detail-transfer.md``).

The portraits of the mini dataset's ``images/`` (faces in no clip) are driven by its test clips through
the public pipeline (``crop=False``, relative motion, 256x256 output), once with ``detail_transfer=False``
(the bundled 64x64 model's output, upscaled) and once with ``detail_transfer=True``. Per pair a PNG strip
of three frames (the one where the driving face departs most from its first frame in the eyes and mouth
region, then two evenly spaced ones), columns: source | driving | without | with | |with - without| x 4;
and for the first pair (every pair with ``--zoom-all``) a 3x zoom (nearest) of the mouth-and-eyes region of its most departing frame:
without | with.

Run: ``OMP_NUM_THREADS=1 python benchmarks/strips_detail_transfer.py --output runs/detail-strips``
(the PNGs show other people's faces: keep them out of git).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import PIL.Image
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MCC_SHARED_DIR", ROOT.parent / "shared")) / "data" / "talking-heads-mini"
SIZE = 256
#: Rows and columns (of a 256x256 face crop framed like the training data) holding the eyes and the mouth.
FACE = (slice(90, 220), slice(60, 196))


def save(path: Path, image: torch.Tensor) -> None:
    array = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    PIL.Image.fromarray(np.ascontiguousarray(array)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--output", type=Path, default=Path("runs/detail-strips"))
    parser.add_argument("--model", default=None, help="pipeline folder (default: the bundled model)")
    parser.add_argument("--pairs", default="img01:0,img03:4,img05:8",
                        help="IMAGE:CLIP_INDEX pairs (images/IMAGE.png driven by the CLIP_INDEX-th test clip)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--zoom-all", action="store_true", help="a zoom for every pair, not only the first")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from mcc_hf.evaluation.clips import read_clip
    from mcc_hf.image_processing import load_image, resize_to
    from mcc_hf.loading import load_pipeline

    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    clips = sorted((args.data / "test").glob("*.mp4"))
    args.output.mkdir(parents=True, exist_ok=True)
    for number, pair in enumerate(args.pairs.split(",")):
        image, index = pair.split(":")
        clip = clips[int(index)]
        source = resize_to(load_image(args.data / "images" / f"{image}.png")[None], SIZE)[0]
        driving = resize_to(read_clip(clip, args.frames), SIZE)
        without = pipe(source, driving, crop=False, output_size=SIZE, detail_transfer=False, output_type="pt").frames
        with_detail = pipe(source, driving, crop=False, output_size=SIZE, detail_transfer=True, output_type="pt").frames
        change = (driving[:, :, FACE[0], FACE[1]] - driving[:1, :, FACE[0], FACE[1]]).abs().mean(dim=(1, 2, 3))
        worst = int(change.argmax())
        picks = [worst, len(driving) // 3, 2 * len(driving) // 3]
        columns = [source[None].expand(len(driving), -1, -1, -1), driving, without, with_detail,
                   ((with_detail - without).abs() * 4).clamp(0, 1)]
        rows = [torch.cat([column[k] for column in columns], dim=-1) for k in picks]
        name = f"{image}-by-{clip.stem}"
        save(args.output / f"strip-{name}.png", torch.cat(rows, dim=-2))
        print(f"{args.output / f'strip-{name}.png'}: frames {picks} (source | driving | without | with | diff x4)")
        if number == 0 or args.zoom_all:
            tiles = [frames[worst][:, FACE[0], FACE[1]] for frames in (driving, without, with_detail)]
            zoom = torch.nn.functional.interpolate(torch.cat(tiles, dim=-1)[None], scale_factor=3, mode="nearest")[0]
            save(args.output / f"zoom-{name}-frame{worst}.png", zoom)
            print(f"{args.output / f'zoom-{name}-frame{worst}.png'}: frame {worst}, driving | without | with, 3x")


if __name__ == "__main__":
    main()
