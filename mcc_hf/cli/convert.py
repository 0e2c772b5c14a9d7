# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf convert-official``: the authors' checkpoints -> an mcc-hf pipeline folder."""

from __future__ import annotations

import argparse

from . import HelpFormatter


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert-official",
        help="convert the authors' released checkpoints into a pipeline folder",
        description=(
            "Convert the official MCC checkpoints (net_g_latest.pth and net_motion_estimator_latest.pth, "
            "BasicSR format) into a folder that TalkingHeadPipeline.from_pretrained loads. The converted "
            "weights keep the original CC BY-NC 4.0 licence (non-commercial use only)."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--generator", required=True, metavar="PTH", help="net_g checkpoint (net_g_latest.pth)")
    parser.add_argument(
        "--motion-estimator", required=True, metavar="PTH",
        help="motion estimator checkpoint (net_motion_estimator_latest.pth)",
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="pipeline folder to create (must not exist or be empty)")
    parser.add_argument(
        "--generator-key", default="params_ema", choices=["params_ema", "params"],
        help="which weights of net_g to use (the authors' demo uses the EMA weights)",
    )
    parser.add_argument("--config", default="vox-256", help="model configuration of the checkpoints (preset name or JSON file)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..conversion import convert_official_checkpoint

    pipe = convert_official_checkpoint(
        args.generator, args.motion_estimator, args.output, generator_key=args.generator_key, config=args.config
    )
    counts = {name: sum(p.numel() for p in getattr(pipe, name).parameters())
              for name in ("keypoint_detector", "dense_motion", "generator")}
    print(f"wrote {args.output} ({', '.join(f'{k}: {v:,} parameters' for k, v in counts.items())})")
    print("licence of the converted weights: CC BY-NC 4.0 (non-commercial use only)")
    return 0
