# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf animate``: make a photo of a face perform the motion of a driving video."""

from __future__ import annotations

import argparse

DTYPES = ("float32", "bfloat16", "float16")

EPILOG = """\
examples:
  mcc-hf animate --source me.jpg --driving talk.mp4 --output me_talking.mp4
  mcc-hf animate --source face256.png --driving crop256.mp4 --output out.mp4 --no-crop --find-best-frame
  mcc-hf animate --source me.jpg --driving talk.mp4 --output out.mp4 --model ./my-pipeline --device cuda

By default the face is found in the photo and in the video, the video's face is animated onto the
photo's face, and the result is pasted back into the full photo; the output keeps the driving
video's frame rate and sound. Use --no-crop when both are already square face crops.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "animate",
        help="animate a face photo with the motion of a driving video",
        description=(
            "Animate the face in a photo (--source) with the head motion and expressions of a driving "
            "video (--driving), and write the result as a video (--output). Long videos are processed "
            "in a stream, so memory use does not grow with their length. The output file only appears "
            "once it is complete."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = parser.add_argument_group("inputs and output")
    io.add_argument("--source", required=True, metavar="IMAGE",
                    help="photo of the face to animate (PNG, JPEG, ...; any size, grayscale/RGBA/16-bit are fine)")
    io.add_argument("--driving", required=True, metavar="VIDEO", help="video whose motion drives the face (mp4, mov, mkv, ...)")
    io.add_argument("--output", required=True, metavar="OUT.mp4",
                    help="video file to write (.mp4, .m4v, .mov or .mkv); an existing file is replaced")
    io.add_argument("--model", default=None, metavar="ID_OR_DIR",
                    help="pipeline folder (from save_pretrained or convert-official) or Hugging Face Hub id "
                         "(default: the model bundled with mcc-hf)")

    motion = parser.add_argument_group("motion")
    mode = motion.add_mutually_exclusive_group()
    mode.add_argument("--relative", dest="relative", action="store_true", default=True,
                      help="copy the driving *changes* of pose and expression onto the source (default; keeps "
                           "the source's face shape)")
    mode.add_argument("--absolute", dest="relative", action="store_false",
                      help="copy the driving face's keypoints as they are (only for the same person)")
    motion.add_argument("--adapt-scale", action=argparse.BooleanOptionalAction, default=True,
                        help="in relative mode, scale the motion by the ratio of the face sizes")
    motion.add_argument("--find-best-frame", action="store_true",
                        help="start the motion from the driving frame whose face pose best matches the source "
                             "(slower: face landmarks on every frame; needs `pip install \"mcc-hf[face]\"`)")
    motion.add_argument("--smoothing", type=float, default=0.0, metavar="S",
                        help="smooth the driving motion over time against jitter: 0 (off, default) to 1 (strongest)")

    framing = parser.add_argument_group("framing")
    framing.add_argument("--crop", action=argparse.BooleanOptionalAction, default=True,
                         help="find and crop the faces, then paste the animated face back into the full photo; "
                              "--no-crop for inputs that are already square face crops")
    framing.add_argument("--output-size", type=int, default=None, metavar="H",
                         help="height of the output video in pixels (default: the photo's height with --crop, "
                              "else the model size)")
    framing.add_argument("--detail-transfer", action=argparse.BooleanOptionalAction, default=None,
                         help="take skin, hair and eye detail from the full-resolution photo, warped by the model's "
                              "motion, where the photo shows it (default: on when the face in the output is larger "
                              "than the model renders it; docs/detail-transfer.md)")
    framing.add_argument("--no-audio", dest="keep_audio", action="store_false",
                         help="do not copy the driving video's sound")

    compute = parser.add_argument_group("computation")
    compute.add_argument("--batch-size", type=int, default=4, metavar="N", help="frames rendered at once (default: 4)")
    compute.add_argument("--device", default="cpu", metavar="DEVICE", help="cpu, cuda or cuda:N (default: cpu)")
    add_speed_options(compute)
    parser.set_defaults(func=run)


def add_speed_options(group) -> None:
    """``--dtype`` and ``--compile`` (shared by ``animate``, ``animate-batch`` and ``live``)."""
    group.add_argument("--dtype", default="float32", choices=DTYPES,
                       help="float32 (default, exact) or mixed precision: convolutions and attention in "
                            "bfloat16/float16, motion geometry in float32 (faster on CPUs with bfloat16 "
                            "instructions and on GPUs; see docs/performance.md)")
    group.add_argument("--compile", action="store_true",
                       help="compile the per-frame networks with torch.compile (minutes of start-up; pays off on "
                            "long videos)")


def apply_speed_options(pipe, args: argparse.Namespace) -> None:
    """Turn on what :func:`add_speed_options` asked for."""
    if args.dtype != "float32":
        pipe.enable_mixed_precision(args.dtype)
    if args.compile:
        pipe.enable_compile()


def _device(name: str):
    import torch

    from ..errors import UserInputError

    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UserInputError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return device


def run(args: argparse.Namespace) -> int:
    from ..image_processing import image_size
    from ..loading import load_pipeline
    from ..pipelines.pipeline_talking_head import TalkingHeadPipeline
    from ..video import check_output_path, probe_video

    # Check the options and the inputs before the (slow) model load.
    TalkingHeadPipeline.check_inputs(relative=args.relative, find_best_frame=args.find_best_frame,
                                     smoothing=args.smoothing, batch_size=args.batch_size, output_size=args.output_size,
                                     detail_transfer=args.detail_transfer)
    image_size(args.source)
    probe_video(args.driving)
    check_output_path(args.output, inputs=(args.source, args.driving))
    device = _device(args.device)

    pipe = load_pipeline(args.model, device=device)
    apply_speed_options(pipe, args)
    result = pipe.animate_to_file(
        args.source, args.driving, args.output,
        relative=args.relative, adapt_scale=args.adapt_scale, find_best_frame=args.find_best_frame,
        crop=args.crop, smoothing=args.smoothing, batch_size=args.batch_size, output_size=args.output_size,
        keep_audio=args.keep_audio, detail_transfer=args.detail_transfer,
    )
    audio = "with the driving audio" if result.has_audio else "no audio"
    print(f"wrote {result.path}: {result.num_frames} frames, {result.width}x{result.height}, "
          f"{result.fps:g} fps, {audio}")
    return 0
