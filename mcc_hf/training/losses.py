# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The training losses of the released recipe (Zhao et al., CVPR 2025; FOMM perceptual and equivariance terms).

All images are ``[B, 3, H, W]`` in the model range ``[-1, 1]``. Every function returns a scalar
tensor; weights are applied by the caller (:mod:`mcc_hf.training.model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..compensation.codebook import CodebookMatch
from ..evaluation.metrics import SSIM_WINDOW, ssim_components
from ..layers import AntiAliasDownsample
from ..motion.geometry import identity_grid
from ..motion.keypoints import Keypoints
from .equivariance import RandomTPS
from .vgg import VGG19Features, vgg_l1

__all__ = [
    "LossWeights",
    "ImagePyramid",
    "PyramidPerceptualLoss",
    "adaptive_gan_weight",
    "equivariance_losses",
    "feature_matching_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "keypoint_distance",
    "motion_reconstruction_loss",
    "ms_ssim_loss",
    "vq_loss",
]


@dataclass
class LossWeights:
    """Weights of the generator-side terms (released values by default; 0 switches a term off).

    ``low_res`` scales the pixel and perceptual terms of the low-resolution decode relative to the
    full-resolution ones (0.5 in the release), so ``perceptual = 0`` turns both perceptual terms off.
    """

    pixel: float = 1.0
    perceptual: float = 1.0
    low_res: float = 0.5
    motion_codebook: float = 1.0
    motion_reconstruction: float = 32.0
    appearance_codebook: float = 1.0
    equivariance_value: float = 1.0
    equivariance_jacobian: float = 1.0
    gan: float = 1.0
    # Weight-free sharpening terms (off in the release): multi-scale SSIM and discriminator feature matching.
    ms_ssim: float = 0.0
    feature_matching: float = 0.0
    # Scale of the adaptive GAN weight (VQGAN's 0.8) and its clamp.
    gan_adaptive_scale: float = 0.8
    gan_adaptive_max: float = 1.0


class ImagePyramid(nn.Module):
    """The image at ``scales`` (e.g. 1, 0.5, 0.25, 0.125), each level anti-alias downsampled (FOMM)."""

    def __init__(self, scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125), channels: int = 3):
        super().__init__()
        self.scales = tuple(scales)
        self.down = nn.ModuleList(
            nn.Identity() if s == 1 else AntiAliasDownsample(channels, s) for s in self.scales
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [down(images) for down in self.down]


class PyramidPerceptualLoss(nn.Module):
    """Multi-scale pyramid VGG19 loss: sum over pyramid levels and the five VGG slices of the mean L1
    distance of features (target features detached). All layer weights are 1, as released.

    VGG19 pools four times before ``relu5_1``, so levels smaller than 16 pixels are left out (at
    256x256 all four released levels are used; at 64x64 the 1/8 level is skipped).
    """

    min_size = 16

    def __init__(self, vgg: VGG19Features, scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)):
        super().__init__()
        self.vgg = vgg
        self.pyramid = ImagePyramid(scales)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(
            vgg_l1(self.vgg, p, t)
            for p, t in zip(self.pyramid(prediction), self.pyramid(target))
            if min(p.shape[-2:]) >= self.min_size
        )


#: Per-level exponents of multi-scale SSIM (Wang, Simoncelli and Bovik 2003), finest level first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - MS-SSIM``, averaged over the batch; images ``[B, 3, H, W]`` in ``[-1, 1]`` (compared in ``[0, 1]``).

    Uses as many of the five standard levels (each a 2x average-pooled copy of the previous one) as
    fit an 11-pixel window, with the standard exponents renormalised to sum to one (three levels at
    64x64, all five from 176x176). Negative contrast-structure values are clamped to a small positive
    value before the fractional powers, so the gradient stays finite.
    """
    x = (prediction.float() + 1) / 2
    y = (target.float() + 1) / 2
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and min(x.shape[-2:]) >> levels >= SSIM_WINDOW:
        levels += 1
    weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], device=x.device)
    weights = weights / weights.sum()
    value = torch.ones(x.shape[0], device=x.device)
    for level in range(levels):
        full, cs = ssim_components(x, y)
        last = level == levels - 1
        value = value * (full if last else cs).clamp(min=1e-6) ** weights[level]
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return 1 - value.mean()


def feature_matching_loss(fake_features: list[list[torch.Tensor]], real_features: list[list[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD feature matching: mean L1 between the discriminator's intermediate activations on the
    generated and the real frames (real ones detached), averaged over layers and scales."""
    per_scale = [
        sum(F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake, real)) / len(fake)
        for fake, real in zip(fake_features, real_features)
    ]
    return sum(per_scale) / len(per_scale)


def vq_loss(match: CodebookMatch, beta: float = 0.25) -> torch.Tensor:
    """VQ-VAE loss ``beta * |sg(z_q) - z|^2 + |z_q - sg(z)|^2`` (commitment weighted by ``beta``)."""
    commitment = F.mse_loss(match.features, match.quantized.detach())
    codebook = F.mse_loss(match.quantized, match.features.detach())
    return beta * commitment + codebook


def motion_reconstruction_loss(reconstructions: list[torch.Tensor], deformations: list[torch.Tensor]) -> torch.Tensor:
    """Sum over scales of ``mean |recon_k - sg(M^(k-1) - identity)|``; both normalised ``[B, h, w, 2]``.

    ``deformations`` are the flows entering each scale (``M^0 ... M^(N-1)``).
    """
    total = 0.0
    for reconstruction, flow in zip(reconstructions, deformations):
        grid = identity_grid(flow.shape[1], flow.shape[2], device=flow.device, dtype=flow.dtype)
        total = total + F.l1_loss(reconstruction.float(), (flow - grid).detach().float())
    return total


def equivariance_losses(
    kp_driving: Keypoints, kp_transformed: Keypoints, transform: RandomTPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """FOMM equivariance: keypoints of ``T(D)`` mapped back by ``T`` must match those of ``D``.

    Returns ``(value, jacobian)``: ``mean |kp_D - T(kp_TD)|`` and
    ``mean |I - J_D^-1 (dT(kp_TD) J_TD)|``.
    """
    value_d = kp_driving.value.float()
    value_t = kp_transformed.value.float()
    value = (value_d - transform.warp_points(value_t)).abs().mean()
    jacobian_t = torch.matmul(transform.jacobian(value_t), kp_transformed.jacobian.float())
    product = torch.matmul(torch.inverse(kp_driving.jacobian.float()), jacobian_t)
    eye = torch.eye(2, device=product.device, dtype=product.dtype)
    jacobian = (eye - product).abs().mean()
    return value, jacobian


def keypoint_distance(keypoints: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """The released keypoint-distance term (logged only: it is built on ``sign`` and has no gradient).

    For ``[B, K, 2]`` keypoints, counts the pairs closer than ``threshold`` (each pair twice,
    self-pairs excluded), averaged over the ``K x K`` matrix and the batch.
    """
    with torch.no_grad():
        distances = torch.cdist(keypoints.float(), keypoints.float())
        close = (distances < threshold).float()
        close = close - torch.eye(keypoints.shape[1], device=keypoints.device)
        return 2 * close.mean()


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.float().mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean relu(1 - D(real)), mean relu(1 + D(fake)))``."""
    return F.relu(1.0 - real_logits.float()).mean(), F.relu(1.0 + fake_logits.float()).mean()


def adaptive_gan_weight(
    reconstruction_loss: torch.Tensor,
    gan_loss: torch.Tensor,
    last_layer: torch.Tensor,
    max_weight: float = 1.0,
) -> torch.Tensor:
    """VQGAN's adaptive weight ``||dL_rec/dW|| / (||dL_gan/dW|| + 1e-4)``, clamped to ``[0, max_weight]``, detached."""
    rec_grad = torch.autograd.grad(reconstruction_loss, last_layer, retain_graph=True)[0]
    gan_grad = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)[0]
    weight = torch.norm(rec_grad) / (torch.norm(gan_grad) + 1e-4)
    return weight.clamp(0.0, max_weight).detach()
