# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf evaluate``: score a model and baselines on test clips and write a report."""

from __future__ import annotations

import argparse
import logging
import os

from . import HelpFormatter

logger = logging.getLogger(__name__)

FACE_METRICS = ("akd", "mkr", "aed", "csim")
DINO_METRICS = ("fd_dino", "dino_sim")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model against baselines (L1, PSNR, SSIM, AKD, AED, ...) and write a report",
        description=(
            "Animate test clips with a model and with baselines on the same frames, then write "
            "metrics.json, report.md, metrics.png and source|driving|result strips into OUTPUT. "
            "Everything runs offline; LPIPS, FID and the DINOv2 metrics are computed only when their weights are "
            "given (a weights file is a local path or hf://owner/repo/path/in/repo)."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--model", default=None, metavar="ID_OR_DIR",
                        help="pipeline folder or Hub id, optionally NAME=ID_OR_DIR (default: the bundled model)")
    parser.add_argument("--data", required=True, metavar="DIR", help="folder of test clips (id#video#clip.mp4)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the report (created)")
    parser.add_argument("--mode", default="reconstruction", choices=["reconstruction", "cross-identity"],
                        help="reconstruction: each clip's frames drive its own first frame; cross-identity: "
                             "the --images faces are driven by the clips")
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="source images for cross-identity (default: DATA/../images)")
    parser.add_argument("--max-videos", type=int, default=None, metavar="N", help="evaluate at most N clips")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="use the first N frames of each clip")
    parser.add_argument("--baseline", action="append", default=None, metavar="NAME",
                        help="'static' (the source repeated), 'warped-source' (the source at the metric resolution "
                             "warped by the --model's final flow, alone) or a pipeline folder / Hub id, optionally "
                             "LABEL=ID_OR_DIR; repeatable (default: static)")
    parser.add_argument("--detail-transfer", default="off", choices=["off", "on", "both"],
                        help="compose the pipelines' frames at the metric resolution with detail transfer from the "
                             "source (on), or not (off: their output at the model size, resized); both: score each "
                             "pipeline both ways, the second as LABEL+detail (docs/detail-transfer.md)")
    parser.add_argument("--source-frame", type=int, default=0, metavar="I",
                        help="reconstruction: the clip frame used as the source (not scored)")
    parser.add_argument("--resolution", type=int, default=None, metavar="PX",
                        help="frame-metric resolution (default: the model's sample size)")
    parser.add_argument("--face-resolution", type=int, default=256, metavar="PX",
                        help="resolution the dlib face models see (AKD is in its pixels)")
    parser.add_argument("--face-stride", type=int, default=1, metavar="N", help="measure faces on every N-th frame")
    parser.add_argument("--strip-frames", type=int, default=4, metavar="N", help="frames per strip PNG (0: no strips)")
    parser.add_argument("--lpips-backbone", default=None, metavar="FILE",
                        help="VGG16 ImageNet weights, torchvision layout (.pth/.safetensors, or hf://owner/repo/path)")
    parser.add_argument("--lpips-heads", default=None, metavar="FILE",
                        help="LPIPS linear heads (the lpips package's weights/v0.1/vgg.pth, or hf://owner/repo/path)")
    parser.add_argument("--fid-model", default=None, metavar="FILE",
                        help="TorchScript Inception feature extractor (e.g. inception-2015-12-05.pt, or hf://owner/repo/path)")
    parser.add_argument("--dino-model", default=None, metavar="ID_OR_DIR",
                        help="transformers image backbone for FD_DINO and DINO_SIM: a Hub id such as "
                             "facebook/dinov2-base, or a local folder (needs pip install \"mcc-hf[metrics]\")")
    parser.add_argument("--dino-resolution", type=int, default=None, metavar="PX",
                        help="input size of the DINO backbone (default: its image processor's crop size, 224 for DINOv2)")
    parser.add_argument("--device", default="cpu", help="torch device for the models")
    parser.add_argument("--batch-size", type=int, default=4, help="driving frames per forward pass")
    parser.set_defaults(func=run)


def _label(spec: str | None) -> tuple[str, str | None]:
    """``LABEL=ID_OR_DIR`` -> (label, id); a bare id or folder is labelled by its last path part."""
    if spec is None:
        return "default-model", None
    if "=" in spec:
        label, _, model = spec.partition("=")
        if label and model:
            return label, model
    return os.path.basename(os.path.normpath(spec)) or spec, spec


def _contenders(args: argparse.Namespace):
    from ..errors import UserInputError
    from ..evaluation.contenders import PipelineContender, StaticContender, WarpedSourceContender
    from ..loading import load_pipeline

    if args.batch_size < 1:
        raise UserInputError(f"batch-size must be at least 1, got {args.batch_size}")
    detail = getattr(args, "detail_transfer", "off")
    modes = {"off": (False,), "on": (True,), "both": (False, True)}[detail]
    contenders = []
    first = None  # the --model's pipeline and label (warped-source uses its flow)
    for index, spec in enumerate([args.model] + (args.baseline or ["static"])):
        if index > 0 and spec == "static":
            contenders.append(StaticContender())
            continue
        if index > 0 and spec == "warped-source":
            contenders.append(WarpedSourceContender(first[0], model_name=first[1], batch_size=args.batch_size))
            continue
        label, model = _label(spec)
        pipe = load_pipeline(model, device=args.device)
        pipe.set_progress_bar_config(leave=False, desc=label)
        if first is None:
            first = (pipe, label)
        for with_detail in modes:
            name = f"{label}+detail" if with_detail and detail == "both" else label
            contenders.append(PipelineContender(name, pipe, model or "(bundled default)", batch_size=args.batch_size,
                                                detail_transfer=with_detail))
    names = [c.name for c in contenders]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserInputError(f"two contenders are named {duplicates[0]!r}; label them with LABEL=ID_OR_DIR")
    return contenders


def _perceptual(args: argparse.Namespace, not_computed: dict[str, str]):
    from ..errors import UserInputError

    lpips = fid = None
    if args.lpips_backbone and args.lpips_heads:
        from ..evaluation.perceptual import load_lpips

        lpips = load_lpips(args.lpips_backbone, args.lpips_heads, device=args.device)
    elif args.lpips_backbone or args.lpips_heads:
        raise UserInputError("LPIPS needs both --lpips-backbone and --lpips-heads")
    elif args.mode == "reconstruction":
        not_computed["lpips"] = (
            "no VGG16/LPIPS weights given (--lpips-backbone, --lpips-heads); none ship with the installable "
            "packages and random weights would give meaningless numbers"
        )
    if args.fid_model:
        from ..evaluation.perceptual import FIDFeatures

        fid = FIDFeatures(args.fid_model, device=args.device)
    else:
        not_computed["fid"] = (
            "no Inception weights given (--fid-model); none ship with the installable packages and random "
            "weights would give meaningless numbers"
        )
    return lpips, fid


def _dino(args: argparse.Namespace, not_computed: dict[str, str]):
    """The DINO feature extractor, or ``None`` with the reason in ``not_computed``. A Hub model that
    cannot be fetched (offline and not cached) is reported as not computed; a bad local folder is an error."""
    from ..errors import ModelLoadingError, UserInputError

    if args.dino_resolution is not None and args.dino_resolution < 14:
        raise UserInputError(f"dino-resolution must be at least 14, got {args.dino_resolution}")
    if not args.dino_model:
        reason = ("no DINOv2 model given (--dino-model, e.g. facebook/dinov2-base); none ships with the installable "
                  "packages and random weights would give meaningless numbers")
        not_computed.update(dict.fromkeys(DINO_METRICS, reason))
        return None
    from ..evaluation.dino import DINOFeatures, is_local

    try:
        return DINOFeatures.from_pretrained(args.dino_model, device=args.device, resolution=args.dino_resolution)
    except ModelLoadingError as e:
        if is_local(args.dino_model):
            raise
        not_computed.update(dict.fromkeys(DINO_METRICS, str(e)))
        logger.warning("FD_DINO and DINO_SIM are not computed: %s", e)
        return None


def _face_measurer(args: argparse.Namespace, not_computed: dict[str, str]):
    from ..errors import ModelLoadingError
    from ..evaluation.faces import FaceMeasurer
    from ..face.landmarks import face_models_dir

    try:
        face_models_dir()
    except ModelLoadingError as e:
        for metric in FACE_METRICS:
            not_computed[metric] = str(e)
        logger.warning("face metrics are not computed: %s", e)
        return None
    return FaceMeasurer(resolution=args.face_resolution)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import UserInputError
    from ..evaluation.report import overall_table, write_report
    from ..evaluation.runner import EvaluationSettings, evaluate

    if args.face_resolution < 32:
        raise UserInputError(f"face-resolution must be at least 32, got {args.face_resolution}")
    not_computed: dict[str, str] = {}
    contenders = _contenders(args)
    model = contenders[0].pipeline
    settings = EvaluationSettings(
        data=args.data,
        mode=args.mode,
        images=args.images,
        max_videos=args.max_videos,
        max_frames=args.max_frames,
        source_frame=args.source_frame,
        resolution=args.resolution or model.sample_size,
        face_resolution=args.face_resolution,
        face_stride=args.face_stride,
        strip_frames=args.strip_frames,
    )
    lpips, fid = _perceptual(args, not_computed)
    dino = _dino(args, not_computed)
    measurer = _face_measurer(args, not_computed)
    output = Path(args.output)  # created when the first file is written
    result = evaluate(
        contenders, settings, face_measurer=measurer, lpips=lpips, fid=fid, dino=dino, not_computed=not_computed,
        strip_dir=output / "strips",
    )
    run_info = {"model": args.model, "baselines": args.baseline or ["static"], "detail_transfer": args.detail_transfer,
                "device": args.device,
                "batch_size": args.batch_size, "lpips_backbone": args.lpips_backbone,
                "lpips_heads": args.lpips_heads, "fid_model": args.fid_model, "dino_model": args.dino_model,
                "dino_resolution": dino.resolution if dino is not None else args.dino_resolution}
    paths = write_report(result, output, extra=run_info)
    print(overall_table(result))
    if result.not_computed:
        print(f"not computed: {', '.join(m.upper() for m in result.not_computed)} (reasons in {paths['report']})")
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}")
    print(f"wrote {paths['report']}, {paths['metrics']}, {paths['chart']} and {len(result.videos)} strip(s) in {output / 'strips'}")
    return 0
