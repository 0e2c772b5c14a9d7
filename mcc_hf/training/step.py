# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""One optimisation step of the released recipe: generator-side losses, then the discriminator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .equivariance import RandomTPS
from .losses import (
    LossWeights,
    PyramidPerceptualLoss,
    adaptive_gan_weight,
    hinge_discriminator_loss,
    hinge_generator_loss,
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


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite."""


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
    if weights.low_res > 0 and low_res is not None:
        low_res = low_res.float()
        if weights.pixel > 0:
            terms["low_res_pixel"] = weights.low_res * weights.pixel * F.l1_loss(low_res, target)
        if weights.perceptual > 0 and perceptual is not None:
            terms["low_res_perceptual"] = weights.low_res * weights.perceptual * perceptual(low_res, target)
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

    def _transform(self, batch_size: int, global_step: int, batch_index: int, device) -> RandomTPS | None:
        if not self.accelerator.unwrap_model(self.model).use_equivariance:
            return None
        # Depends only on (seed, step, batch index in the epoch, rank), so resumed runs draw the same warps.
        state = np.random.SeedSequence([self.seed, global_step, batch_index, self.accelerator.process_index])
        generator = torch.Generator().manual_seed(int(state.generate_state(1)[0]))
        return RandomTPS(batch_size, **self.tps_params, generator=generator, device=device)

    def gan_active(self, global_step: int) -> bool:
        return self.discriminator is not None and self.weights.gan > 0 and global_step >= self.gan_start_step

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
            terms["gan"], d_weight = self._generator_gan_term(output, terms)
            logs["gan_adaptive_weight"] = float(d_weight.detach())
        total = sum(terms.values())
        if not self._check_finite({**terms, "total": total}, global_step):
            self.optimizer.zero_grad(set_to_none=True)
            return StepResult(losses={}, skipped=True)

        self.accelerator.backward(total)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if gan:
            logs.update(self._discriminator_step(driving, output.prediction.detach()))
        losses = {k: float(v.detach()) for k, v in terms.items()}
        losses["total"] = float(total.detach())
        losses.update(logs)
        return StepResult(losses=losses)

    def _generator_gan_term(self, output: TrainingForwardOutput, terms: dict[str, torch.Tensor]):
        discriminator = self.accelerator.unwrap_model(self.discriminator)
        discriminator.requires_grad_(False)
        gan_loss = hinge_generator_loss(discriminator(output.prediction))
        discriminator.requires_grad_(True)
        reconstruction = sum(terms[name] for name in ("pixel", "perceptual") if name in terms)
        last_layer = self.accelerator.unwrap_model(self.model).last_decoder_weight
        if isinstance(reconstruction, torch.Tensor):
            d_weight = adaptive_gan_weight(reconstruction, gan_loss, last_layer, self.weights.gan_adaptive_max)
        else:
            d_weight = torch.tensor(self.weights.gan_adaptive_max, device=gan_loss.device)
        d_weight = d_weight * self.weights.gan_adaptive_scale
        return self.weights.gan * d_weight * gan_loss, d_weight

    def _discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        """Hinge loss on real and (detached) fake frames, back-propagated separately, then one step."""
        real_logits = self.discriminator(real)
        real_loss, _ = hinge_discriminator_loss(real_logits, real_logits.detach())
        self.accelerator.backward(real_loss)
        fake_logits = self.discriminator(fake)
        _, fake_loss = hinge_discriminator_loss(real_logits.detach(), fake_logits)
        self.accelerator.backward(fake_loss)
        self.discriminator_optimizer.step()
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        return {
            "discriminator_real": float(real_loss.detach()),
            "discriminator_fake": float(fake_loss.detach()),
            "discriminator_logit_real": float(real_logits.detach().float().mean()),
            "discriminator_logit_fake": float(fake_logits.detach().float().mean()),
        }
