# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The training loop behind ``train.py``: set-up, epochs, logging, checkpoints, validation and the final save.

:func:`train` reads top to bottom: an accelerator; the training videos checked once; the networks and
losses (:class:`TrainingNetworks`), the data and the optimisers prepared by accelerate
(:class:`TrainingRun`); the state of a checkpoint restored; the epochs; the final checkpoint and pipeline.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import sys
import time
import warnings
from argparse import Namespace
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import staging_folder
from ..errors import UserInputError
from .checkpointing import resume_training_state, save_checkpoint
from .config import parse_args

if TYPE_CHECKING:
    from ..data import UnreadableVideo, VideoPairDataset, VideoSource
    from .discriminator import PatchDiscriminator
    from .ema import ExponentialMovingAverage
    from .losses import LossWeights, PyramidPerceptualLoss
    from .model import TalkingHeadTrainingModel
    from .step import StepResult, TrainingStep

logger = logging.getLogger("mcc_hf.training")

__all__ = ["TrainingNetworks", "TrainingRun", "main", "train"]

# How many unreadable videos the --strict_data error names (the log lists them all).
_NAMED_IN_ERROR = 20


# ----------------------------------------------------------------------------------------------- the outline

def train(args: Namespace) -> str:
    """Run training as configured by ``args`` (see :func:`mcc_hf.training.config.parse_args`).

    Returns the output folder, which then holds the final pipeline (``TalkingHeadPipeline.from_pretrained``).
    """
    accelerator = _make_accelerator(args)
    videos = _readable_training_videos(args, accelerator)
    networks = _build_networks(args, accelerator.device)
    dataset, dataloader = _build_data(args, accelerator, videos, networks.resolution)
    run = _prepare_optimisation(args, accelerator, networks, dataset, dataloader)
    if args.resume_from_checkpoint:
        run.global_step = resume_training_state(accelerator, args.output_dir, args.resume_from_checkpoint, args.use_ema)
    if accelerator.is_main_process:
        accelerator.init_trackers("mcc-hf", config=_tracker_config(args))
    if args.validation_steps and args.num_validation_pairs and accelerator.is_main_process:
        run.validation = _validation_pairs(args, networks.resolution, accelerator.device)
    _run_epochs(args, run)
    _save_final(args, run)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return args.output_dir


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``train.py``: user errors print one line and exit with status 2."""
    try:
        args = parse_args(argv)
        train(args)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


# ----------------------------------------------------------------------------------------------- set-up

def _make_accelerator(args: Namespace):
    """The accelerator (and logging) of the run; seeds every random generator with ``--seed``."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed

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
    return accelerator


def _may_leave_unused_parameters(args: Namespace) -> bool:
    """Whether the switched-off terms may leave some trained parameters out of the loss (DDP must then look for them)."""
    weights = (args.pixel_weight, args.low_res_weight, args.motion_codebook_weight, args.motion_reconstruction_weight,
               args.appearance_codebook_weight, args.equivariance_value_weight, args.equivariance_jacobian_weight)
    return any(w == 0 for w in weights)


def _readable_training_videos(args: Namespace, accelerator) -> list[VideoSource]:
    """Check every training video once before step 1 (the processes share the work) and leave out the
    unreadable ones with a warning for each, or stop naming them with ``--strict_data``."""
    from accelerate.utils import gather_object

    from ..data import check_videos, find_videos

    start = time.perf_counter()
    videos = find_videos(args.train_data_dir, "train")
    with accelerator.split_between_processes(videos) as shard:
        unreadable = check_videos(shard, progress=accelerator.is_local_main_process).unreadable
    unreadable = gather_object(unreadable)
    if accelerator.is_main_process:
        for video in unreadable:
            if args.strict_data:
                logger.error("unreadable training video: %s", video.reason)
            else:
                logger.warning("skipping an unreadable training video: %s", video.reason)
    _stop_on_unreadable(args, videos, unreadable)
    logger.info("checked %d training videos in %.1f s: %d readable, %d left out", len(videos),
                time.perf_counter() - start, len(videos) - len(unreadable), len(unreadable))
    bad = {video.path for video in unreadable}
    return [video for video in videos if video.path not in bad]


def _stop_on_unreadable(args: Namespace, videos: list[VideoSource], unreadable: list[UnreadableVideo]) -> None:
    """Raise when no video is readable, or when any is not and ``--strict_data`` is on."""
    folder = os.path.dirname(videos[0].path)
    if len(unreadable) == len(videos):
        raise UserInputError(f"none of the {len(videos)} videos in {folder} can be used for training; "
                             f"the first: {unreadable[0].reason}")
    if unreadable and args.strict_data:
        names = [os.path.basename(video.path) for video in unreadable]
        more = f" and {len(names) - _NAMED_IN_ERROR} more" if len(names) > _NAMED_IN_ERROR else ""
        raise UserInputError(
            f"{len(names)} of the {len(videos)} training videos in {folder} are unreadable (--strict_data): "
            f"{', '.join(names[:_NAMED_IN_ERROR])}{more}; fix or remove them, or leave out --strict_data to skip them"
        )


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


@dataclass
class TrainingNetworks:
    """The trained networks (in train mode) and the loss modules around them, before ``accelerator.prepare``.

    Args:
        model: keypoint detector, dense motion and generator trained jointly.
        weights: the loss weights of the options.
        resolution: side of the training frames (the generator's ``sample_size``).
        perceptual: the pyramid VGG19 loss, or ``None`` when its weight is 0.
        discriminator: the PatchGAN, or ``None`` when neither the GAN nor the feature-matching term is on.
    """

    model: TalkingHeadTrainingModel
    weights: LossWeights
    resolution: int
    perceptual: PyramidPerceptualLoss | None = None
    discriminator: PatchDiscriminator | None = None


def _build_networks(args: Namespace, device) -> TrainingNetworks:
    """The networks of the options, built in a fixed order (the random initialisation depends on it)."""
    from .losses import PyramidPerceptualLoss
    from .model import TalkingHeadTrainingModel
    from .vgg import VGG19Features

    keypoint_detector, dense_motion, generator = _build_components(args)
    if args.gradient_checkpointing:
        for module in (keypoint_detector, dense_motion, generator):
            module.enable_gradient_checkpointing()
    resolution = generator.config.sample_size
    if args.resolution is not None and args.resolution != resolution:
        raise UserInputError(
            f"--resolution {args.resolution} differs from the model's sample_size {resolution}; "
            "choose a model config of that size (e.g. tiny-128) or leave --resolution out"
        )
    weights = _loss_weights(args)
    model = TalkingHeadTrainingModel(
        keypoint_detector, dense_motion, generator,
        use_motion_codebook_loss=weights.motion_codebook > 0,
        use_motion_reconstruction_loss=weights.motion_reconstruction > 0,
        use_appearance_codebook_loss=weights.appearance_codebook > 0,
        # (The equivariance terms train only the keypoint detector.)
        use_equivariance=(weights.equivariance_value > 0 or weights.equivariance_jacobian > 0)
        and args.motion_learning_rate != 0,
    )
    if args.motion_learning_rate == 0:
        model.freeze_motion_networks()
        logger.info("keypoint detector and dense-motion network frozen (--motion_learning_rate 0)")
    model.train()
    perceptual = None
    if weights.perceptual > 0:
        perceptual = PyramidPerceptualLoss(VGG19Features.from_weights(args.vgg_weights)).to(device)
    discriminator = _build_discriminator(args, weights, resolution)
    return TrainingNetworks(model, weights, resolution, perceptual, discriminator)


def _loss_weights(args: Namespace) -> LossWeights:
    from .losses import LossWeights

    return LossWeights(
        pixel=args.pixel_weight, perceptual=args.perceptual_weight, low_res=args.low_res_weight,
        motion_codebook=args.motion_codebook_weight, motion_reconstruction=args.motion_reconstruction_weight,
        appearance_codebook=args.appearance_codebook_weight, equivariance_value=args.equivariance_value_weight,
        equivariance_jacobian=args.equivariance_jacobian_weight, gan=args.gan_weight,
        gan_adaptive_scale=args.gan_adaptive_scale, ms_ssim=args.ms_ssim_weight,
        feature_matching=args.feature_matching_weight,
    )


def _build_discriminator(args: Namespace, weights: LossWeights, resolution: int) -> PatchDiscriminator | None:
    """The PatchGAN (train mode) when the GAN or the feature-matching term is on."""
    from .discriminator import PatchDiscriminator

    if weights.gan == 0 and weights.feature_matching == 0:
        return None
    discriminator = PatchDiscriminator(base_channels=args.discriminator_channels, num_layers=args.discriminator_layers,
                                       num_scales=args.discriminator_scales)
    if resolution < discriminator.min_input_size:
        raise UserInputError(
            f"a PatchGAN of {args.discriminator_layers} layers and {args.discriminator_scales} scale(s) needs "
            f"images of at least {discriminator.min_input_size} pixels, the model's are {resolution}; "
            "lower --discriminator_layers or --discriminator_scales"
        )
    discriminator.train()
    return discriminator


def _build_data(args: Namespace, accelerator, videos: list[VideoSource], resolution: int):
    """``(dataset, dataloader)`` of the readable training videos; the loader keeps the dataset's order."""
    from ..data import VideoPairDataset

    dataset = VideoPairDataset(
        args.train_data_dir, resolution, split="train", id_sampling=args.id_sampling, repeats=args.dataset_repeats,
        horizontal_flip=args.horizontal_flip, time_flip=args.time_flip, color_jitter=args.color_jitter,
        hue_jitter=args.hue_jitter, seed=args.seed, videos=videos,
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
    return dataset, dataloader


@dataclass
class TrainingRun:
    """Everything the loop works on: the ``accelerator.prepare``-d networks, optimisers and data, what is
    saved with them in a checkpoint (schedules, EMA), the step function and where training stands.

    Args:
        model, discriminator: the prepared (maybe DDP-wrapped) networks; ``unwrapped`` is the bare model.
        schedulers: the learning-rate schedules of the optimiser and the discriminator's optimiser.
        steps_per_epoch, max_train_steps: optimisation steps (not micro-batches).
        global_step: optimisation steps done.
        validation: fixed ``(source, driving)`` batches for the validation images (main process only).
    """

    accelerator: Any
    model: torch.nn.Module
    unwrapped: TalkingHeadTrainingModel
    discriminator: torch.nn.Module | None
    dataset: VideoPairDataset
    dataloader: DataLoader
    schedulers: list
    ema: ExponentialMovingAverage | None
    step: TrainingStep
    steps_per_epoch: int
    max_train_steps: int
    global_step: int = 0
    validation: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def num_epochs(self) -> int:
        return math.ceil(self.max_train_steps / self.steps_per_epoch)

    @property
    def done(self) -> bool:
        return self.global_step >= self.max_train_steps


def _prepare_optimisation(args: Namespace, accelerator, networks: TrainingNetworks, dataset, dataloader) -> TrainingRun:
    """Optimisers and ``accelerator.prepare``; the objects saved in checkpoints, registered in a fixed order
    (checkpoints of earlier runs load only in that order): schedules, EMA, codebook restarters; the step function."""
    from .ema import ExponentialMovingAverage
    from .step import TrainingStep

    model, optimizer, dataloader, discriminator, d_optimizer = _prepare(args, accelerator, networks, dataloader)
    steps_per_epoch = math.ceil(len(dataloader) / args.gradient_accumulation_steps)
    max_train_steps = args.max_train_steps or args.num_train_epochs * steps_per_epoch
    schedulers = _lr_schedulers(args, max_train_steps, optimizer, d_optimizer)
    for scheduler in schedulers:
        accelerator.register_for_checkpointing(scheduler)
    unwrapped = accelerator.unwrap_model(model)
    ema = None
    if args.use_ema:
        ema = ExponentialMovingAverage(unwrapped.generator, args.ema_decay).to(accelerator.device)
        accelerator.register_for_checkpointing(ema)
    restarters = _codebook_restarters(args, unwrapped, networks.weights)
    for restarter in restarters.values():
        accelerator.register_for_checkpointing(restarter)
    step = TrainingStep(
        accelerator, model, optimizer, networks.weights, perceptual=networks.perceptual, discriminator=discriminator,
        discriminator_optimizer=d_optimizer, gan_start_step=args.gan_start_step,
        tps_params=dict(sigma_affine=args.tps_sigma_affine, sigma_tps=args.tps_sigma_tps, points=args.tps_points),
        nan_policy=args.nan_policy, seed=args.seed, codebook_restarters=restarters,
    )
    return TrainingRun(accelerator, model, unwrapped, discriminator, dataset, dataloader, schedulers, ema, step,
                       steps_per_epoch, max_train_steps)


def _prepare(args: Namespace, accelerator, networks: TrainingNetworks, dataloader):
    """Adam for the networks (and the discriminator), all passed to ``accelerator.prepare`` in a fixed order.

    Returns ``(model, optimizer, dataloader, discriminator, discriminator_optimizer)``, the last two ``None``
    without a discriminator.
    """
    betas = (args.adam_beta1, args.adam_beta2)
    optimizer = torch.optim.Adam(_parameter_groups(args, networks.model), lr=args.learning_rate, betas=betas,
                                 eps=args.adam_epsilon, weight_decay=args.adam_weight_decay)
    if networks.discriminator is None:
        return (*accelerator.prepare(networks.model, optimizer, dataloader), None, None)
    d_optimizer = torch.optim.Adam(
        networks.discriminator.parameters(), lr=args.discriminator_learning_rate or args.learning_rate, betas=betas,
        eps=args.adam_epsilon, weight_decay=args.adam_weight_decay,
    )
    return accelerator.prepare(networks.model, optimizer, dataloader, networks.discriminator, d_optimizer)


def _parameter_groups(args: Namespace, model: torch.nn.Module) -> list[dict]:
    """One group of every trainable parameter in ``model.parameters()`` order (so optimiser states saved before
    ``--motion_learning_rate`` existed still resume), or, with ``--motion_learning_rate``, the generator at
    ``--learning_rate`` and the keypoint detector and dense-motion network at their own rate unless frozen (see
    :meth:`TalkingHeadTrainingModel.freeze_motion_networks`)."""
    if args.motion_learning_rate is None:
        return [{"params": list(model.parameters())}]
    groups = [{"params": list(model.generator.parameters())}]
    motion = [p for p in (*model.keypoint_detector.parameters(), *model.dense_motion.parameters()) if p.requires_grad]
    if motion:
        groups.append({"params": motion, "lr": args.motion_learning_rate})
    return groups


def _lr_schedulers(args: Namespace, max_train_steps: int, optimizer, d_optimizer) -> list:
    """A step schedule per optimiser (``--lr_milestones``, default 80 % and 90 % of the steps)."""
    milestones = args.lr_milestones if args.lr_milestones is not None else [
        int(max_train_steps * 0.8), int(max_train_steps * 0.9)
    ]
    # Stepped once per optimisation step by us (not by accelerate, which would step it per process).
    optimizers = [optimizer] + ([d_optimizer] if d_optimizer is not None else [])
    return [torch.optim.lr_scheduler.MultiStepLR(o.optimizer, milestones, args.lr_gamma) for o in optimizers]


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


def _tracker_config(args: Namespace) -> dict:
    """Options as tracker hyper-parameters (tensorboard accepts only scalars and strings)."""
    config = {}
    for key, value in vars(args).items():
        if key == "hub_token" or value is None:
            continue
        config[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return config


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


# ----------------------------------------------------------------------------------------------- the loop

@dataclass
class _RunningLosses:
    """Sums of the loss terms since the last log, over the micro-batches that were not skipped."""

    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, result: StepResult) -> None:
        for key, value in result.losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 0 if result.skipped else 1

    def pop_means(self) -> dict[str, float]:
        """The means as ``loss/<term>``, and start again."""
        means = {f"loss/{k}": v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def _run_epochs(args: Namespace, run: TrainingRun) -> None:
    """Train from ``run.global_step`` to ``run.max_train_steps``, with logs, checkpoints and validation images."""
    logger.info(
        "training %d steps (%d per epoch, batch %d x %d processes x %d accumulation), from step %d",
        run.max_train_steps, run.steps_per_epoch, args.train_batch_size, run.accelerator.num_processes,
        args.gradient_accumulation_steps, run.global_step,
    )
    progress = tqdm(range(run.max_train_steps), initial=run.global_step, desc="steps",
                    disable=not run.accelerator.is_local_main_process)
    losses = _RunningLosses()
    first_epoch = run.global_step // run.steps_per_epoch
    skip_batches = (run.global_step % run.steps_per_epoch) * args.gradient_accumulation_steps
    for epoch in range(first_epoch, run.num_epochs):
        if run.done:  # resumed from a checkpoint at or past the end
            break
        for batch_index, batch in _epoch_batches(run, epoch, skip_batches if epoch == first_epoch else 0):
            result = _micro_step(run, batch, batch_index)
            losses.add(result)
            if not run.accelerator.sync_gradients:  # within a gradient accumulation
                continue
            _finish_optimisation_step(run, result)
            progress.update(1)
            _after_step(args, run, losses, progress)
            if run.done:
                break
    progress.close()


def _epoch_batches(run: TrainingRun, epoch: int, skip_batches: int) -> Iterable[tuple[int, Any]]:
    """``(index in the epoch, batch)`` of ``epoch``, from batch ``skip_batches`` on (a resumed epoch)."""
    run.dataset.set_epoch(epoch)
    if not skip_batches:
        return enumerate(run.dataloader)
    return enumerate(run.accelerator.skip_first_batches(run.dataloader, skip_batches), start=skip_batches)


def _micro_step(run: TrainingRun, batch, batch_index: int) -> StepResult:
    """Losses, gradients and (on the last micro-batch of an accumulation) the optimisers' step."""
    networks = [m for m in (run.model, run.discriminator) if m is not None]
    with run.accelerator.accumulate(*networks):
        return run.step(batch, run.global_step, batch_index)


def _finish_optimisation_step(run: TrainingRun, result: StepResult) -> None:
    """After the optimisers stepped: the EMA, the schedules, the step count and the codebook restarts."""
    if run.ema is not None and not result.skipped:
        run.ema.step(run.unwrapped.generator)
    with warnings.catch_warnings():
        # The discriminator's optimizer does not step before --gan_start_step; its schedule still advances.
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for scheduler in run.schedulers:
            scheduler.step()
    run.global_step += 1
    restarted = run.step.restart_codebooks(run.global_step)
    if restarted:
        run.accelerator.log({f"codebook/{k}": v for k, v in restarted.items()}, step=run.global_step)
        logger.info("step %d: re-seeded unused codes %s", run.global_step, restarted)


def _after_step(args: Namespace, run: TrainingRun, losses: _RunningLosses, progress) -> None:
    """The hooks of a finished optimisation step: loss logs, checkpoint, validation images."""
    step = run.global_step
    if step % args.logging_steps == 0 or run.done:
        logs = losses.pop_means()
        logs["lr"] = run.schedulers[0].get_last_lr()[0]
        run.accelerator.log(logs, step=step)
        progress.set_postfix(loss=logs.get("loss/total", float("nan")))
    if step % args.checkpointing_steps == 0 and not run.done:
        save_checkpoint(run.accelerator, args.output_dir, step, args.checkpoints_total_limit, _checkpoint_extra(args))
    if run.validation is not None and step % args.validation_steps == 0:
        _run_validation(run, args.output_dir)


def _checkpoint_extra(args: Namespace) -> dict:
    """What ``training_state.json`` records beside the step (checked when resuming)."""
    return {"use_ema": bool(args.use_ema), "model_config": args.model_config}


def _ema_generator(unwrapped, ema):
    """A copy of the generator in eval mode carrying the EMA weights (or the raw ones without EMA)."""
    generator = copy.deepcopy(unwrapped.generator).eval()
    if ema is not None:
        ema.copy_to(generator)
    return generator


def _run_validation(run: TrainingRun, output_dir: str) -> None:
    """Write the validation grid with the EMA generator and log it to tensorboard when that tracker is on."""
    from ..animator import Animator
    from .validation import render_validation_grid, save_validation_image

    unwrapped = run.unwrapped
    was_training = unwrapped.training
    unwrapped.eval()
    try:
        animator = Animator(unwrapped.keypoint_detector, unwrapped.dense_motion, _ema_generator(unwrapped, run.ema))
        image = render_validation_grid(animator, *run.validation)
    finally:
        unwrapped.train(was_training)
    path = save_validation_image(image, os.path.join(output_dir, "validation"), run.global_step)
    logger.info("validation images: %s", path)
    for tracker in run.accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_image("validation", image, run.global_step, dataformats="HWC")


# ----------------------------------------------------------------------------------------------- the end

def _save_final(args: Namespace, run: TrainingRun) -> None:
    """The last checkpoint, the replica check, and the pipeline (EMA generator) in ``--output_dir``, maybe pushed."""
    save_checkpoint(run.accelerator, args.output_dir, run.global_step, args.checkpoints_total_limit,
                    _checkpoint_extra(args))
    if run.accelerator.num_processes > 1:
        difference = replica_difference(run.accelerator, run.unwrapped)
        logger.info("replica check: %d processes, max parameter fingerprint difference %.3g",
                    run.accelerator.num_processes, difference)
        if difference > 0:
            logger.warning("the processes ended with different weights; the saved pipeline is the main process's")
    if not run.accelerator.is_main_process:
        return
    keypoint_detector = copy.deepcopy(run.unwrapped.keypoint_detector).eval()
    dense_motion = copy.deepcopy(run.unwrapped.dense_motion).eval()
    _save_pipeline(keypoint_detector, dense_motion, _ema_generator(run.unwrapped, run.ema), args.output_dir)
    logger.info("saved the pipeline to %s", args.output_dir)
    if args.push_to_hub:
        _push_to_hub(args, run.global_step)


def replica_difference(accelerator, module: torch.nn.Module) -> float:
    """Largest difference between processes of per-tensor parameter fingerprints (0 when all replicas agree).

    Every process must call it. The fingerprint of a tensor is its sum and its sum of squares (float64).
    """
    fingerprint = torch.stack(
        [torch.stack([p.detach().double().sum(), p.detach().double().pow(2).sum()]) for p in module.parameters()]
    ).to(accelerator.device)
    gathered = accelerator.gather(fingerprint[None])  # [processes, tensors, 2]
    return float((gathered - gathered[0:1]).abs().max())


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


def _push_to_hub(args: Namespace, global_step: int) -> None:
    from ..pipelines.pipeline_talking_head import TalkingHeadPipeline

    pipe = TalkingHeadPipeline.from_pretrained(args.output_dir)
    repo_id = args.hub_model_id or os.path.basename(os.path.normpath(args.output_dir))
    pipe.push_to_hub(repo_id, token=args.hub_token, commit_message=f"mcc-hf training, step {global_step}")
