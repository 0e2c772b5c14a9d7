# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Command-line options of ``train.py`` (diffusers-example flag names), with an optional config file.

``--config FILE`` (YAML or JSON) holds a mapping of option names (without ``--``) to values; the
command line overrides it. Defaults are the released recipe where one exists.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Sequence

from ..errors import UserInputError

__all__ = ["build_parser", "parse_args"]


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--train_data_dir", type=str, default=None,
                   help="Dataset root with train/ (and test/) of videos (.mp4 or PNG/JPG frame folders), or a folder of videos.")
    g.add_argument("--validation_data_dir", type=str, default=None,
                   help="Where validation pairs come from (default: the test/ split of --train_data_dir if present, else the training data).")
    g.add_argument("--resolution", type=int, default=None,
                   help="Training image side; must equal the model's sample_size (the default).")
    g.add_argument("--id_sampling", action=argparse.BooleanOptionalAction, default=True,
                   help="One item per identity (name before the first '#') per repeat, as released.")
    g.add_argument("--dataset_repeats", type=int, default=100, help="Repeats of the item list per epoch (released: 100).")
    g.add_argument("--horizontal_flip", action=argparse.BooleanOptionalAction, default=True)
    g.add_argument("--time_flip", action=argparse.BooleanOptionalAction, default=True)
    g.add_argument("--color_jitter", type=float, default=0.0,
                   help="Brightness/contrast/saturation jitter strength (0 = off, as released).")
    g.add_argument("--hue_jitter", type=float, default=0.0,
                   help="Largest hue rotation as a fraction of a turn, in [0, 0.5] (0 = off, as released).")
    g.add_argument("--dataloader_num_workers", type=int, default=0)
    g.add_argument("--strict_data", action="store_true",
                   help="Stop with an error naming the training videos the check before step 1 finds unreadable, "
                        "instead of leaving them out with a warning.")


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model_config", type=str, default="vox-256",
                   help="Preset name (vox-256, tiny-64, tiny-128, tiny-512) or a JSON file with keypoint_detector, "
                        "dense_motion and generator sections (e.g. generator.use_motion_compensation false).")
    g.add_argument("--pretrained_model_name_or_path", type=str, default=None,
                   help="Start from a saved pipeline (folder or Hub id) instead of fresh weights; overrides --model_config.")
    g.add_argument("--discriminator_channels", type=int, default=64, help="PatchGAN base width (released: 64).")
    g.add_argument("--discriminator_layers", type=int, default=4, help="PatchGAN stride-2 layers (released: 4).")
    g.add_argument("--discriminator_scales", type=int, default=1,
                   help="Image scales of the PatchGAN, each with its own weights (released: 1; pix2pixHD: 3).")


def _add_optim_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("optimisation")
    g.add_argument("--train_batch_size", type=int, default=4, help="Batch size per process (released: 4 x 4 GPUs).")
    g.add_argument("--num_train_epochs", type=int, default=1)
    g.add_argument("--max_train_steps", type=int, default=None,
                   help="Total optimisation steps (released: 250000); overrides --num_train_epochs.")
    g.add_argument("--gradient_accumulation_steps", type=int, default=1)
    g.add_argument("--learning_rate", type=float, default=8e-5)
    g.add_argument("--discriminator_learning_rate", type=float, default=None, help="Default: --learning_rate.")
    g.add_argument("--motion_learning_rate", type=float, default=None,
                   help="Learning rate of the keypoint detector and the dense-motion network (default: --learning_rate); "
                        "0 freezes them (eval mode, no equivariance terms), e.g. to fine-tune the generator on new data "
                        "without moving the motion.")
    g.add_argument("--adam_beta1", type=float, default=0.9)
    g.add_argument("--adam_beta2", type=float, default=0.99)
    g.add_argument("--adam_weight_decay", type=float, default=0.0)
    g.add_argument("--adam_epsilon", type=float, default=1e-8)
    g.add_argument("--lr_milestones", type=int, nargs="*", default=None,
                   help="Steps where the learning rates are multiplied by --lr_gamma "
                        "(default: 80%% and 90%% of the steps, as 200k/225k of 250k in the release).")
    g.add_argument("--lr_gamma", type=float, default=0.5)
    g.add_argument("--use_ema", action=argparse.BooleanOptionalAction, default=True,
                   help="Keep an EMA of the generator and save it as the pipeline's generator (released).")
    g.add_argument("--ema_decay", type=float, default=0.995)
    g.add_argument("--mixed_precision", type=str, default=None, choices=["no", "fp16", "bf16"],
                   help="Default: the accelerate config / launcher setting.")
    g.add_argument("--gradient_checkpointing", action="store_true",
                   help="Recompute the generator's encoder/decoder blocks and the motion networks' hourglass blocks "
                        "in the backward pass instead of storing their activations: less memory, same gradients, "
                        "slower steps (see benchmarks/bench_training_memory.py).")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--nan_policy", type=str, default="error", choices=["error", "skip"],
                   help="On a NaN/inf loss: stop with an error naming the term, or skip the step.")


def _add_loss_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("losses (0 switches a term off)")
    g.add_argument("--pixel_weight", type=float, default=1.0)
    g.add_argument("--perceptual_weight", type=float, default=1.0,
                   help="Pyramid VGG19 loss; needs --vgg_weights unless 0.")
    g.add_argument("--low_res_weight", type=float, default=0.5,
                   help="Factor on the pixel and perceptual terms of the low-resolution decode (released: 0.5).")
    g.add_argument("--motion_codebook_weight", type=float, default=1.0)
    g.add_argument("--motion_reconstruction_weight", type=float, default=32.0)
    g.add_argument("--appearance_codebook_weight", type=float, default=1.0)
    g.add_argument("--equivariance_value_weight", type=float, default=1.0)
    g.add_argument("--equivariance_jacobian_weight", type=float, default=1.0)
    g.add_argument("--gan_weight", type=float, default=1.0, help="Hinge GAN with adaptive weight (VQGAN).")
    g.add_argument("--gan_start_step", type=int, default=5001,
                   help="Steps completed before the discriminator and the GAN term start (released: 5001).")
    g.add_argument("--gan_adaptive_scale", type=float, default=0.8)
    g.add_argument("--ms_ssim_weight", type=float, default=0.0,
                   help="1 - MS-SSIM on the prediction and (times --low_res_weight) the low-resolution decode; "
                        "needs no pretrained network (off as released).")
    g.add_argument("--feature_matching_weight", type=float, default=0.0,
                   help="pix2pixHD discriminator feature matching (L1 over layers and scales; pix2pixHD: 10). "
                        "Starts with the discriminator at --gan_start_step (off as released).")
    g.add_argument("--vgg_weights", type=str, default=None,
                   help="ImageNet VGG19 weights in torchvision layout: a .safetensors/.pth file, a folder, or a Hub "
                        "file hf://owner/repo[/path/in/repo] (e.g. hf://timm/vgg19.tv_in1k, whose model.safetensors is used).")
    g.add_argument("--codebook_restart_steps", type=int, default=0,
                   help="Every N steps re-seed the motion and appearance codes no embedding selected since the last "
                        "restart with embeddings of the current batch (0 = off, as released).")
    g.add_argument("--tps_sigma_affine", type=float, default=0.05)
    g.add_argument("--tps_sigma_tps", type=float, default=0.005)
    g.add_argument("--tps_points", type=int, default=5)


def _add_output_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output, logging and checkpoints")
    g.add_argument("--output_dir", type=str, default="mcc-model",
                   help="Where the final pipeline, checkpoints, logs and validation images go.")
    g.add_argument("--logging_dir", type=str, default="logs", help="Tracker folder, relative to --output_dir.")
    g.add_argument("--report_to", type=str, default="tensorboard",
                   help="Tracker(s): tensorboard, wandb, all or none.")
    g.add_argument("--logging_steps", type=int, default=10, help="Log the loss terms every N steps.")
    g.add_argument("--checkpointing_steps", type=int, default=5000)
    g.add_argument("--checkpoints_total_limit", type=int, default=None, help="Keep at most this many checkpoints.")
    g.add_argument("--resume_from_checkpoint", type=str, default=None,
                   help="A checkpoint folder, or 'latest' for the newest complete one in --output_dir.")
    g.add_argument("--validation_steps", type=int, default=500,
                   help="Write validation images (source | driving | EMA prediction) every N steps; 0 = never.")
    g.add_argument("--num_validation_pairs", type=int, default=4)
    g.add_argument("--push_to_hub", action="store_true", help="Upload the final pipeline to the Hub.")
    g.add_argument("--hub_model_id", type=str, default=None)
    g.add_argument("--hub_token", type=str, default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train a talking-head pipeline (multi-scale compensatory codebooks) with accelerate.",
    )
    parser.add_argument("--config", type=str, default=None,
                        help="YAML or JSON file of option values (names without '--'); the command line overrides it.")
    _add_data_args(parser)
    _add_model_args(parser)
    _add_optim_args(parser)
    _add_loss_args(parser)
    _add_output_args(parser)
    return parser


def _read_config_file(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise UserInputError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:
        raise UserInputError(f"cannot parse config file {path}: {e}") from e
    if not isinstance(data, dict):
        raise UserInputError(f"config file {path} must hold a mapping of option names to values")
    return data


def _validate(args: argparse.Namespace) -> None:
    if not args.train_data_dir:
        raise UserInputError("--train_data_dir is required (a folder of training videos)")
    positive = ("train_batch_size", "gradient_accumulation_steps", "dataset_repeats", "num_train_epochs",
                "checkpointing_steps", "logging_steps", "tps_points", "discriminator_scales")
    for name in positive:
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.codebook_restart_steps < 0:
        raise UserInputError(f"--codebook_restart_steps cannot be negative, got {args.codebook_restart_steps}")
    if args.max_train_steps is not None and args.max_train_steps < 1:
        raise UserInputError(f"--max_train_steps must be at least 1, got {args.max_train_steps}")
    if args.checkpoints_total_limit is not None and args.checkpoints_total_limit < 1:
        raise UserInputError("--checkpoints_total_limit must be at least 1")
    if args.validation_steps < 0 or args.num_validation_pairs < 0:
        raise UserInputError("--validation_steps and --num_validation_pairs cannot be negative")
    weights = [n for n in vars(args) if n.endswith("_weight") and n != "vgg_weights"]
    for name in weights:
        if getattr(args, name) < 0:
            raise UserInputError(f"--{name} cannot be negative")
    if args.motion_learning_rate is not None and args.motion_learning_rate < 0:
        raise UserInputError(f"--motion_learning_rate cannot be negative, got {args.motion_learning_rate}")
    if not 0 <= args.ema_decay < 1:
        raise UserInputError(f"--ema_decay must be in [0, 1), got {args.ema_decay}")
    if args.perceptual_weight > 0 and not args.vgg_weights:
        from .vgg import WEIGHTS_HELP

        raise UserInputError(f"the perceptual loss is on (--perceptual_weight {args.perceptual_weight}) but no VGG19 "
                             f"weights were given. {WEIGHTS_HELP}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``), merged over ``--config``; raises :class:`UserInputError`."""
    parser = build_parser()
    pre, _ = parser.parse_known_args(argv)
    if pre.config:
        values = _read_config_file(pre.config)
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserInputError(f"unknown option(s) in {pre.config}: {', '.join(unknown)}")
        parser.set_defaults(**values)
    args = parser.parse_args(argv)
    _validate(args)
    return args
