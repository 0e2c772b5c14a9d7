# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""One optimisation step of the released recipe: generator-side losses, then the discriminator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NonFiniteLossError
from .codebook_restart import CodebookRestarter
from .equivariance import RandomTPS
from .losses import (
    LossWeights,
    PyramidPerceptualLoss,
    adaptive_gan_weight,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    ms_ssim_loss,
)
from .model import TalkingHeadTrainingModel, TrainingForwardOutput

__all__ = ["NonFiniteLossError", "StepResult", "TrainingStep"]

# Model-internal term -> LossWeights field.
_TERM_WEIGHTS = {
    "motion_codebook": "motion_codebook",
    "motion_reconstruction": "motion_reconstruction",
    "appearance_codebook": "appearance_codebook",
    "equivariance_value": "equivariance_value",
    "equivariance_jacobian": "equivariance_jacobian",
}


@dataclass
class StepResult:
    """Weighted loss terms of the step (``total`` included) and extra logged values, as Python floats."""

    losses: dict[str, float]
    skipped: bool = False


def generator_terms(
    output: TrainingForwardOutput,
    driving: torch.Tensor,
    weights: LossWeights,
    perceptual: PyramidPerceptualLoss | None,
) -> dict[str, torch.Tensor]:
    """The weighted generator-side terms except the GAN term."""
    terms: dict[str, torch.Tensor] = {}
    target = driving.float()
    prediction, low_res = output.prediction.float(), output.low_res_prediction
    if weights.pixel > 0:
        terms["pixel"] = weights.pixel * F.l1_loss(prediction, target)
    if weights.perceptual > 0 and perceptual is not None:
        terms["perceptual"] = weights.perceptual * perceptual(prediction, target)
    if weights.ms_ssim > 0:
        terms["ms_ssim"] = weights.ms_ssim * ms_ssim_loss(prediction, target)
    if weights.low_res > 0 and low_res is not None:
        low_res = low_res.float()
        if weights.pixel > 0:
            terms["low_res_pixel"] = weights.low_res * weights.pixel * F.l1_loss(low_res, target)
        if weights.perceptual > 0 and perceptual is not None:
            terms["low_res_perceptual"] = weights.low_res * weights.perceptual * perceptual(low_res, target)
        if weights.ms_ssim > 0:
            terms["low_res_ms_ssim"] = weights.low_res * weights.ms_ssim * ms_ssim_loss(low_res, target)
    for name, value in output.terms.items():
        weight = getattr(weights, _TERM_WEIGHTS[name])
        if weight > 0:
            terms[name] = weight * value.float()
    return terms


class TrainingStep:
    """Computes the losses of one micro-batch, back-propagates and steps the optimizers.

    The optimizers and models are the ``accelerator.prepare``-d ones; with gradient accumulation
    their ``step`` is a no-op until the last micro-batch (accelerate's behaviour).
    """

    def __init__(
        self,
        accelerator,
        model: TalkingHeadTrainingModel,
        optimizer: torch.optim.Optimizer,
        weights: LossWeights,
        perceptual: PyramidPerceptualLoss | None = None,
        discriminator: nn.Module | None = None,
        discriminator_optimizer: torch.optim.Optimizer | None = None,
        gan_start_step: int = 0,
        tps_params: dict | None = None,
        nan_policy: str = "error",
        seed: int = 0,
        codebook_restarters: dict[str, CodebookRestarter] | None = None,
    ):
        self.accelerator = accelerator
        self.model = model
        self.optimizer = optimizer
        self.weights = weights
        self.perceptual = perceptual
        self.discriminator = discriminator
        self.discriminator_optimizer = discriminator_optimizer
        self.gan_start_step = gan_start_step
        self.tps_params = tps_params or {}
        self.nan_policy = nan_policy
        self.seed = seed
        # "motion" / "appearance" -> restarter of that codebook (--codebook_restart_steps).
        self.codebook_restarters = codebook_restarters or {}

    def _transform(self, batch_size: int, global_step: int, batch_index: int, device) -> RandomTPS | None:
        if not self.accelerator.unwrap_model(self.model).use_equivariance:
            return None
        # Depends only on (seed, step, batch index in the epoch, rank), so resumed runs draw the same warps.
        state = np.random.SeedSequence([self.seed, global_step, batch_index, self.accelerator.process_index])
        generator = torch.Generator().manual_seed(int(state.generate_state(1)[0]))
        return RandomTPS(batch_size, **self.tps_params, generator=generator, device=device)

    def gan_active(self, global_step: int) -> bool:
        """Whether the discriminator trains (and the GAN and feature-matching terms count) at this step."""
        uses_discriminator = self.weights.gan > 0 or self.weights.feature_matching > 0
        return self.discriminator is not None and uses_discriminator and global_step >= self.gan_start_step

    def _check_finite(self, terms: dict[str, torch.Tensor], global_step: int) -> bool:
        """True if every term is finite on every process (all processes decide alike)."""
        bad = [name for name, value in terms.items() if not torch.isfinite(value.detach()).all()]
        flag = torch.tensor([float(len(bad))], device=self.accelerator.device)
        if self.accelerator.reduce(flag, reduction="sum").item() == 0:
            return True
        message = (f"non-finite loss at step {global_step}: "
                   f"{', '.join(bad) if bad else 'a term on another process'} is NaN or infinite")
        if self.nan_policy == "skip":
            self.accelerator.print(f"{message}; skipping the step (--nan_policy skip)")
            return False
        raise NonFiniteLossError(
            f"{message}. Lower --learning_rate, check the data, or pass --nan_policy skip to skip such steps."
        )

    def __call__(self, batch: dict[str, torch.Tensor], global_step: int, batch_index: int) -> StepResult:
        source, driving = batch["source"], batch["driving"]
        transform = self._transform(source.shape[0], global_step, batch_index, source.device)
        output = self.model(source, driving, transform)
        terms = generator_terms(output, driving, self.weights, self.perceptual)
        logs: dict[str, float] = {k: float(v.detach()) for k, v in output.logs.items()}

        gan = self.gan_active(global_step)
        if gan:
            terms.update(self._adversarial_terms(output, driving, terms, logs))
        total = sum(terms.values())
        if not self._check_finite({**terms, "total": total}, global_step):
            self.optimizer.zero_grad(set_to_none=True)
            return StepResult(losses={}, skipped=True)

        self.accelerator.backward(total)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._observe_codebooks(output)
        if gan:
            logs.update(self._discriminator_step(driving, output.prediction.detach()))
        losses = {k: float(v.detach()) for k, v in terms.items()}
        losses["total"] = float(total.detach())
        losses.update(logs)
        return StepResult(losses=losses)

    def _observe_codebooks(self, output: TrainingForwardOutput) -> None:
        matches = {"motion": output.generator_output.motion_matches, "appearance": output.appearance_matches}
        for name, restarter in self.codebook_restarters.items():
            restarter.observe(matches[name])

    def restart_codebooks(self, global_step: int) -> dict[str, float]:
        """After optimisation step ``global_step``: re-seed unused codes where due; logs ``<name>_codes_restarted``."""
        logs = {}
        for name, restarter in self.codebook_restarters.items():
            if global_step % restarter.every == 0:
                count = restarter.restart(global_step, self.optimizer, self.accelerator)
                logs[f"{name}_codes_restarted"] = float(count)
        return logs

    def _adversarial_terms(self, output: TrainingForwardOutput, driving: torch.Tensor,
                           terms: dict[str, torch.Tensor], logs: dict[str, float]) -> dict[str, torch.Tensor]:
        """The hinge GAN term (with VQGAN's adaptive weight) and the feature-matching term, as enabled."""
        discriminator = self.accelerator.unwrap_model(self.discriminator)
        discriminator.requires_grad_(False)
        try:
            fake = discriminator(output.prediction)
            adversarial: dict[str, torch.Tensor] = {}
            if self.weights.gan > 0:
                gan_loss = sum(hinge_generator_loss(logits) for logits in fake.logits) / len(fake.logits)
                d_weight = self._adaptive_weight(gan_loss, terms)
                logs["gan_adaptive_weight"] = float(d_weight)
                adversarial["gan"] = self.weights.gan * d_weight * gan_loss
            if self.weights.feature_matching > 0:
                with torch.no_grad():
                    real = discriminator(driving)
                adversarial["feature_matching"] = self.weights.feature_matching * feature_matching_loss(
                    fake.features, real.features
                )
        finally:
            discriminator.requires_grad_(True)
        return adversarial

    def _adaptive_weight(self, gan_loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        reconstruction = sum(terms[name] for name in ("pixel", "perceptual") if name in terms)
        if isinstance(reconstruction, torch.Tensor):
            last_layer = self.accelerator.unwrap_model(self.model).last_decoder_weight
            d_weight = adaptive_gan_weight(reconstruction, gan_loss, last_layer, self.weights.gan_adaptive_max)
        else:
            d_weight = torch.tensor(self.weights.gan_adaptive_max, device=gan_loss.device)
        return d_weight * self.weights.gan_adaptive_scale

    def _discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        """Hinge loss on real and (detached) fake frames, averaged over scales, back-propagated separately, then one step."""
        real_logits = self.discriminator(real).logits
        real_loss = sum(hinge_discriminator_loss(r, r.detach())[0] for r in real_logits) / len(real_logits)
        self.accelerator.backward(real_loss)
        fake_logits = self.discriminator(fake).logits
        fake_loss = sum(hinge_discriminator_loss(r.detach(), f)[1] for r, f in zip(real_logits, fake_logits)) / len(fake_logits)
        self.accelerator.backward(fake_loss)
        self.discriminator_optimizer.step()
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        return {
            "discriminator_real": float(real_loss.detach()),
            "discriminator_fake": float(fake_loss.detach()),
            "discriminator_logit_real": float(sum(r.detach().float().mean() for r in real_logits) / len(real_logits)),
            "discriminator_logit_fake": float(sum(f.detach().float().mean() for f in fake_logits) / len(fake_logits)),
        }
