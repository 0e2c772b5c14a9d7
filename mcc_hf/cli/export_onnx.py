# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf export-onnx``: write a model as ONNX graphs for ONNX Runtime, TensorRT or OpenVINO."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  mcc-hf export-onnx --output exported/
  mcc-hf export-onnx --model ./my-pipeline --output exported/ --opset 18

The folder gets source.onnx (once per video), keypoints.onnx (the motion reference) and frame.onnx
(every batch of driving frames; dynamic batch), plus export_config.json. Run them from Python with
mcc_hf.export.OnnxTalkingHeadRunner; docs/export.md shows TensorRT and OpenVINO. The export is
checked against PyTorch on the bundled example image unless --no-verify is given.
"""

#: Largest |difference| on [0, 1] frames accepted between ONNX Runtime and PyTorch by --verify.
VERIFY_TOLERANCE = 1e-4


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-onnx",
        help="export a model as ONNX graphs (source, keypoints, per-frame)",
        description="Export a talking-head model as ONNX graphs: the source preparation (run once per video), "
                    "the keypoint detector (for the motion reference) and the per-frame renderer with a "
                    "dynamic batch. The output folder appears only once it is complete.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default=None, metavar="ID_OR_DIR",
                        help="pipeline folder or Hugging Face Hub id (default: the model bundled with mcc-hf)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder to write (replaced if it exists)")
    parser.add_argument("--opset", type=int, default=18, metavar="N", help="ONNX opset version (default: 18)")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                        help="run the graphs with ONNX Runtime and compare with PyTorch (default: on)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from ..errors import UserInputError
    from ..loading import load_pipeline

    missing = [name for name in ("onnx", "onnxscript") + (("onnxruntime",) if args.verify else ())
               if importlib.util.find_spec(name) is None]
    if missing:
        raise UserInputError(f"export-onnx needs {', '.join(missing)}: pip install \"mcc-hf[onnx]\"")
    if args.opset < 16:
        raise UserInputError(f"--opset must be at least 16 (GridSample), got {args.opset}")

    from ..export import export_onnx

    pipe = load_pipeline(args.model)
    config = export_onnx(pipe, args.output, opset=args.opset)
    print(f"wrote {args.output}: {', '.join(config.graphs.values())} ({config.sample_size}x{config.sample_size}, "
          f"{config.num_keypoints} keypoints, opset {config.opset})")
    if args.verify:
        difference = verify(pipe, args.output)
        verdict = "ok" if difference <= VERIFY_TOLERANCE else f"ABOVE the {VERIFY_TOLERANCE:g} tolerance"
        print(f"verified with ONNX Runtime: max |difference| to PyTorch {difference:.2e} on [0, 1] frames ({verdict})")
        if difference > VERIFY_TOLERANCE:
            return 1
    return 0


def verify(pipe, folder: str) -> float:
    """Largest difference between the pipeline and the exported graphs on a short clip of the bundled
    example photo (relative mode, batches of 2 and 1)."""
    import numpy as np
    import torch

    from ..demo import render_driving_clip
    from ..export import OnnxTalkingHeadRunner

    size = pipe.sample_size
    clip = torch.from_numpy(render_driving_clip(size=size, num_frames=3)).permute(0, 3, 1, 2).float() / 255
    source = clip[0]
    pipe.set_progress_bar_config(disable=True)
    expected = pipe(source, clip, output_type="pt", batch_size=2, crop=False).frames.numpy()
    runner = OnnxTalkingHeadRunner(folder, providers=["CPUExecutionProvider"])
    got = np.concatenate(list(runner.animate(source.numpy(), clip.numpy(), batch_size=2)))
    return float(np.abs(got - expected).max())
