# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The training loop behind ``train.py``: set-up, epochs, logging, checkpoints, validation and the final save."""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import sys
import warnings
from argparse import Namespace
from typing import Sequence

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import staging_folder
from ..errors import UserInputError
from .checkpointing import find_checkpoint, read_training_state, save_checkpoint
from .config import parse_args

logger = logging.getLogger("mcc_hf.training")

__all__ = ["main", "train"]


def _build_components(args: Namespace):
    """``(keypoint_detector, dense_motion, generator)`` from a saved pipeline or a preset/JSON config."""
    if args.pretrained_model_name_or_path:
        from ..loading import load_pipeline

        pipe = load_pipeline(args.pretrained_model_name_or_path, device="cpu", dtype=torch.float32)
        return pipe.keypoint_detector, pipe.dense_motion, pipe.generator
    from ..presets import get_preset

    try:
        preset = get_preset(args.model_config)
    except ValueError as e:
        raise UserInputError(str(e)) from e
    return preset.build()


def _may_leave_unused_parameters(args: Namespace) -> bool:
    """Whether the switched-off terms may leave some trained parameters out of the loss (DDP must then look for them)."""
    weights = (args.pixel_weight, args.low_res_weight, args.motion_codebook_weight, args.motion_reconstruction_weight,
               args.appearance_codebook_weight, args.equivariance_value_weight, args.equivariance_jacobian_weight)
    return any(w == 0 for w in weights)


def replica_difference(accelerator, module: torch.nn.Module) -> float:
    """Largest difference between processes of per-tensor parameter fingerprints (0 when all replicas agree).

    Every process must call it. The fingerprint of a tensor is its sum and its sum of squares (float64).
    """
    fingerprint = torch.stack(
        [torch.stack([p.detach().double().sum(), p.detach().double().pow(2).sum()]) for p in module.parameters()]
    ).to(accelerator.device)
    gathered = accelerator.gather(fingerprint[None])  # [processes, tensors, 2]
    return float((gathered - gathered[0:1]).abs().max())


def _tracker_config(args: Namespace) -> dict:
    """Options as tracker hyper-parameters (tensorboard accepts only scalars and strings)."""
    config = {}
    for key, value in vars(args).items():
        if key == "hub_token" or value is None:
            continue
        config[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return config


def _save_pipeline(keypoint_detector, dense_motion, generator, output_dir: str) -> None:
    """``save_pretrained`` into a temporary folder, then move its entries into ``output_dir`` (model_index.json
    last), beside the checkpoints and logs already there."""
    from ..pipelines.pipeline_talking_head import TalkingHeadPipeline

    pipe = TalkingHeadPipeline(keypoint_detector=keypoint_detector, dense_motion=dense_motion, generator=generator)
    with staging_folder(os.path.join(output_dir, "pipeline")) as staging:
        pipe.save_pretrained(staging)
        stale = os.path.join(output_dir, "model_index.json")
        if os.path.exists(stale):
            os.remove(stale)  # the folder stops being a pipeline until the new one is complete
        for name in sorted(os.listdir(staging), key=lambda n: n == "model_index.json"):
            target = os.path.join(output_dir, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            os.replace(os.path.join(staging, name), target)


def train(args: Namespace) -> str:
    """Run training as configured by ``args`` (see :func:`mcc_hf.training.config.parse_args`).

    Returns the output folder, which then holds the final pipeline (``TalkingHeadPipeline.from_pretrained``).
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed

    from ..data import VideoPairDataset
    from .discriminator import PatchDiscriminator
    from .ema import ExponentialMovingAverage
    from .losses import LossWeights, PyramidPerceptualLoss
    from .model import TalkingHeadTrainingModel
    from .step import TrainingStep
    from .validation import render_validation_grid, save_validation_image
    from .vgg import VGG19Features
    from ..animator import Animator

    logging_dir = os.path.join(args.output_dir, args.logging_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=logging_dir),
        # A switched-off term can leave parameters without gradient (e.g. the motion decoder).
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=_may_leave_unused_parameters(args))],
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if not accelerator.is_local_main_process:
        logger.setLevel(logging.WARNING)
    logger.info("%s", accelerator.state)
    set_seed(args.seed)
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)

    # Models.
    keypoint_detector, dense_motion, generator = _build_components(args)
    resolution = generator.config.sample_size
    if args.resolution is not None and args.resolution != resolution:
        raise UserInputError(
            f"--resolution {args.resolution} differs from the model's sample_size {resolution}; "
            "choose a model config of that size (e.g. tiny-128) or leave --resolution out"
        )
    weights = LossWeights(
        pixel=args.pixel_weight, perceptual=args.perceptual_weight, low_res=args.low_res_weight,
        motion_codebook=args.motion_codebook_weight, motion_reconstruction=args.motion_reconstruction_weight,
        appearance_codebook=args.appearance_codebook_weight, equivariance_value=args.equivariance_value_weight,
        equivariance_jacobian=args.equivariance_jacobian_weight, gan=args.gan_weight,
        gan_adaptive_scale=args.gan_adaptive_scale, ms_ssim=args.ms_ssim_weight,
        feature_matching=args.feature_matching_weight,
    )
    model = TalkingHeadTrainingModel(
        keypoint_detector, dense_motion, generator,
        use_motion_codebook_loss=weights.motion_codebook > 0,
        use_motion_reconstruction_loss=weights.motion_reconstruction > 0,
        use_appearance_codebook_loss=weights.appearance_codebook > 0,
        use_equivariance=weights.equivariance_value > 0 or weights.equivariance_jacobian > 0,
    )
    model.train()
    perceptual = None
    if weights.perceptual > 0:
        perceptual = PyramidPerceptualLoss(VGG19Features.from_weights(args.vgg_weights)).to(accelerator.device)
    discriminator = None
    if weights.gan > 0 or weights.feature_matching > 0:
        discriminator = PatchDiscriminator(base_channels=args.discriminator_channels, num_layers=args.discriminator_layers,
                                           num_scales=args.discriminator_scales)
        if resolution < discriminator.min_input_size:
            raise UserInputError(
                f"a PatchGAN of {args.discriminator_layers} layers and {args.discriminator_scales} scale(s) needs "
                f"images of at least {discriminator.min_input_size} pixels, the model's are {resolution}; "
                "lower --discriminator_layers or --discriminator_scales"
            )
        discriminator.train()

    # Data.
    dataset = VideoPairDataset(
        args.train_data_dir, resolution, split="train", id_sampling=args.id_sampling, repeats=args.dataset_repeats,
        horizontal_flip=args.horizontal_flip, time_flip=args.time_flip, color_jitter=args.color_jitter,
        hue_jitter=args.hue_jitter, seed=args.seed,
    )
    total_batch = args.train_batch_size * accelerator.num_processes
    if len(dataset) < total_batch:
        raise UserInputError(
            f"the dataset has {len(dataset)} items per epoch, fewer than one batch of {total_batch}; "
            "raise --dataset_repeats or lower --train_batch_size"
        )
    dataloader = DataLoader(
        dataset, batch_size=args.train_batch_size, shuffle=False, drop_last=True,
        num_workers=args.dataloader_num_workers, persistent_workers=False,
    )

    # Optimisation.
    betas = (args.adam_beta1, args.adam_beta2)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=args.learning_rate, betas=betas, eps=args.adam_epsilon, weight_decay=args.adam_weight_decay
    )
    prepared = [model, optimizer, dataloader]
    if discriminator is not None:
        d_optimizer = torch.optim.Adam(
            discriminator.parameters(), lr=args.discriminator_learning_rate or args.learning_rate, betas=betas,
            eps=args.adam_epsilon, weight_decay=args.adam_weight_decay,
        )
        prepared += [discriminator, d_optimizer]
    prepared = accelerator.prepare(*prepared)
    model, optimizer, dataloader = prepared[:3]
    discriminator, d_optimizer = (prepared[3], prepared[4]) if discriminator is not None else (None, None)

    steps_per_epoch = math.ceil(len(dataloader) / args.gradient_accumulation_steps)
    max_train_steps = args.max_train_steps or args.num_train_epochs * steps_per_epoch
    num_epochs = math.ceil(max_train_steps / steps_per_epoch)
    milestones = args.lr_milestones if args.lr_milestones is not None else [
        int(max_train_steps * 0.8), int(max_train_steps * 0.9)
    ]
    # Stepped once per optimisation step by us (not by accelerate, which would step it per process).
    schedulers = [torch.optim.lr_scheduler.MultiStepLR(optimizer.optimizer, milestones, args.lr_gamma)]
    if d_optimizer is not None:
        schedulers.append(torch.optim.lr_scheduler.MultiStepLR(d_optimizer.optimizer, milestones, args.lr_gamma))
    for scheduler in schedulers:
        accelerator.register_for_checkpointing(scheduler)

    unwrapped = accelerator.unwrap_model(model)
    ema = None
    if args.use_ema:
        ema = ExponentialMovingAverage(unwrapped.generator, args.ema_decay).to(accelerator.device)
        accelerator.register_for_checkpointing(ema)

    restarters = _codebook_restarters(args, unwrapped, weights)
    for restarter in restarters.values():
        accelerator.register_for_checkpointing(restarter)

    # Resume.
    global_step = 0
    if args.resume_from_checkpoint:
        checkpoint = find_checkpoint(args.output_dir, args.resume_from_checkpoint)
        if checkpoint is None:
            logger.info("no checkpoint in %s yet; starting a new run", args.output_dir)
        else:
            state = read_training_state(checkpoint)
            if bool(state.get("use_ema", args.use_ema)) != bool(args.use_ema):
                raise UserInputError(
                    f"checkpoint {checkpoint} was saved with use_ema={state.get('use_ema')}; "
                    f"resume with the same --use_ema setting"
                )
            logger.info("resuming from %s", checkpoint)
            accelerator.load_state(checkpoint)
            global_step = int(state["global_step"])
    first_epoch = global_step // steps_per_epoch
    skip_batches = (global_step % steps_per_epoch) * args.gradient_accumulation_steps

    if accelerator.is_main_process:
        accelerator.init_trackers("mcc-hf", config=_tracker_config(args))

    validation = None
    if args.validation_steps and args.num_validation_pairs and accelerator.is_main_process:
        validation = _validation_pairs(args, resolution, accelerator.device)

    step = TrainingStep(
        accelerator, model, optimizer, weights, perceptual=perceptual, discriminator=discriminator,
        discriminator_optimizer=d_optimizer, gan_start_step=args.gan_start_step,
        tps_params=dict(sigma_affine=args.tps_sigma_affine, sigma_tps=args.tps_sigma_tps, points=args.tps_points),
        nan_policy=args.nan_policy, seed=args.seed, codebook_restarters=restarters,
    )
    logger.info(
        "training %d steps (%d per epoch, batch %d x %d processes x %d accumulation), from step %d",
        max_train_steps, steps_per_epoch, args.train_batch_size, accelerator.num_processes,
        args.gradient_accumulation_steps, global_step,
    )
    progress = tqdm(range(max_train_steps), initial=global_step, desc="steps",
                    disable=not accelerator.is_local_main_process)
    checkpoint_extra = {"use_ema": bool(args.use_ema), "model_config": args.model_config}
    sums: dict[str, float] = {}
    count = 0
    for epoch in range(first_epoch, num_epochs):
        if global_step >= max_train_steps:  # resumed from a checkpoint at or past the end
            break
        dataset.set_epoch(epoch)
        loader, start = dataloader, 0
        if epoch == first_epoch and skip_batches:
            loader, start = accelerator.skip_first_batches(dataloader, skip_batches), skip_batches
        for batch_index, batch in enumerate(loader, start=start):
            with accelerator.accumulate(*(m for m in (model, discriminator) if m is not None)):
                result = step(batch, global_step, batch_index)
            for key, value in result.losses.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 0 if result.skipped else 1
            if not accelerator.sync_gradients:
                continue
            if ema is not None and not result.skipped:
                ema.step(unwrapped.generator)
            with warnings.catch_warnings():
                # The discriminator's optimizer does not step before --gan_start_step; its schedule still advances.
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
                for scheduler in schedulers:
                    scheduler.step()
            global_step += 1
            progress.update(1)
            restarted = step.restart_codebooks(global_step)
            if restarted:
                accelerator.log({f"codebook/{k}": v for k, v in restarted.items()}, step=global_step)
                logger.info("step %d: re-seeded unused codes %s", global_step, restarted)

            if global_step % args.logging_steps == 0 or global_step == max_train_steps:
                logs = {f"loss/{k}": v / max(count, 1) for k, v in sums.items()}
                logs["lr"] = schedulers[0].get_last_lr()[0]
                accelerator.log(logs, step=global_step)
                progress.set_postfix(loss=logs.get("loss/total", float("nan")))
                sums, count = {}, 0
            if global_step % args.checkpointing_steps == 0 and global_step < max_train_steps:
                save_checkpoint(accelerator, args.output_dir, global_step, args.checkpoints_total_limit, checkpoint_extra)
            if validation is not None and global_step % args.validation_steps == 0:
                _run_validation(accelerator, unwrapped, ema, validation, args.output_dir, global_step, Animator,
                                render_validation_grid, save_validation_image)
            if global_step >= max_train_steps:
                break
        if global_step >= max_train_steps:
            break
    progress.close()

    save_checkpoint(accelerator, args.output_dir, global_step, args.checkpoints_total_limit, checkpoint_extra)
    if accelerator.num_processes > 1:
        difference = replica_difference(accelerator, unwrapped)
        logger.info("replica check: %d processes, max parameter fingerprint difference %.3g",
                    accelerator.num_processes, difference)
        if difference > 0:
            logger.warning("the processes ended with different weights; the saved pipeline is the main process's")
    if accelerator.is_main_process:
        final_generator = _ema_generator(unwrapped, ema)
        keypoint_detector = copy.deepcopy(unwrapped.keypoint_detector).eval()
        dense_motion = copy.deepcopy(unwrapped.dense_motion).eval()
        _save_pipeline(keypoint_detector, dense_motion, final_generator, args.output_dir)
        logger.info("saved the pipeline to %s", args.output_dir)
        if args.push_to_hub:
            from ..pipelines.pipeline_talking_head import TalkingHeadPipeline

            pipe = TalkingHeadPipeline.from_pretrained(args.output_dir)
            repo_id = args.hub_model_id or os.path.basename(os.path.normpath(args.output_dir))
            pipe.push_to_hub(repo_id, token=args.hub_token, commit_message=f"mcc-hf training, step {global_step}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return args.output_dir


def _codebook_restarters(args: Namespace, unwrapped, weights) -> dict:
    """``--codebook_restart_steps``: a restarter for each codebook whose VQ loss is on (it supplies the matches)."""
    from .codebook_restart import CodebookRestarter

    if not args.codebook_restart_steps:
        return {}
    generator = unwrapped.generator
    compensators = {"motion": (generator.motion_compensator, weights.motion_codebook),
                    "appearance": (generator.appearance_compensator, weights.appearance_codebook)}
    return {
        name: CodebookRestarter(compensator.codebook, args.codebook_restart_steps, seed=args.seed)
        for name, (compensator, weight) in compensators.items()
        if compensator is not None and weight > 0
    }


def _ema_generator(unwrapped, ema):
    """A copy of the generator in eval mode carrying the EMA weights (or the raw ones without EMA)."""
    generator = copy.deepcopy(unwrapped.generator).eval()
    if ema is not None:
        ema.copy_to(generator)
    return generator


def _validation_pairs(args: Namespace, resolution: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed (source, driving) pairs for validation images: test split if present, no flips."""
    from ..data import VideoPairDataset

    root = args.validation_data_dir or args.train_data_dir
    split = "test" if os.path.isdir(os.path.join(root, "test")) else "train"
    dataset = VideoPairDataset(root, resolution, split=split, id_sampling=False, horizontal_flip=False,
                               time_flip=False, seed=args.seed)
    items = [dataset[i % len(dataset)] for i in range(args.num_validation_pairs)]
    return (torch.stack([it["source"] for it in items]).to(device),
            torch.stack([it["driving"] for it in items]).to(device))


def _run_validation(accelerator, unwrapped, ema, pairs, output_dir, step, animator_cls, render, save) -> None:
    """Write the validation grid with the EMA generator and log it to tensorboard when that tracker is on."""
    was_training = unwrapped.training
    unwrapped.eval()
    try:
        generator = _ema_generator(unwrapped, ema)
        animator = animator_cls(unwrapped.keypoint_detector, unwrapped.dense_motion, generator)
        image = render(animator, *pairs)
    finally:
        unwrapped.train(was_training)
    path = save(image, os.path.join(output_dir, "validation"), step)
    logger.info("validation images: %s", path)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_image("validation", image, step, dataformats="HWC")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``train.py``: user errors print one line and exit with status 2."""
    try:
        args = parse_args(argv)
        train(args)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
