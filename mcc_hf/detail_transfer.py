# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Output composition: sharp frames at any output size from a low-resolution rendering.

The generator renders the driving frame at its own size (64 pixels for the bundled model), so a
frame pasted back at 512 pixels is an upscaled, soft image. The model also computes where every
output pixel comes from in the source (its final backward flow) and whether the source shows it
(its occlusion map). :func:`transfer_detail` warps the *full-resolution* source crop with that flow
and uses it wherever it is visible and *consistent with the model's rendering*; elsewhere (occluded
or out-of-frame regions, and where the model changed the face, e.g. opened the mouth or closed the
eyes) the upscaled model output is kept:

    out = w * warp(source, flow) + (1 - w) * upscale(sample)
    w   = visibility * coverage * exp(-(e / tolerance)^2)

``e`` is the band-pass disagreement between the warped source and the model output at a coarse
analysis size (:data:`ANALYSIS_SIZE`): Gaussian blurs with sigma 1 and 6 analysis pixels,
subtracted, so that structures from about 2 to 12 analysis pixels (eyes, lips, an opened mouth,
edges of a moved head) count and the model's broad colour cast does not.

Why this design (measured by ``benchmarks/study_detail_transfer.py``; see ``docs/detail-transfer.md``):
the warped source is more accurate than the bundled model's output in *every* frequency band where
it is visible, so taking only the bands above the model's resolution from it (a naive Laplacian
blend) costs accuracy and ghosts the source's expression over the model's; the consistency term
keeps the model's expression where they differ.

Every function here is pure (no state, no caches): memory per call is proportional to the batch
and the output size, so streaming stays flat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from diffusers.utils import BaseOutput

from .motion.geometry import resize

__all__ = [
    "ANALYSIS_SIZE",
    "DEFAULT_TOLERANCE",
    "DetailTransferOutput",
    "consistency_trust",
    "gaussian_blur",
    "source_coverage",
    "transfer_detail",
    "warp_source",
]

#: Side (pixels) at which the warped source and the model output are compared: enough to resolve
#: eyes and lips in a face crop. Models smaller than this are compared at their own size.
ANALYSIS_SIZE = 64
#: Band-pass of the consistency check: Gaussian sigmas in pixels at :data:`ANALYSIS_SIZE`.
CONSISTENCY_SIGMAS = (1.0, 6.0)
#: Default band-pass disagreement (mean absolute, images in ``[0, 1]``) at which the trust in the
#: warped source falls to ``1/e``.
DEFAULT_TOLERANCE = 0.03


@dataclass
class DetailTransferOutput(BaseOutput):
    """
    Args:
        sample: ``[B, 3, H, W]`` frames at the output size, in ``[0, 1]``.
        weight: ``[B, 1, H, W]`` in ``[0, 1]``: the share of the warped source in each pixel (the
            rest is the upscaled model output).
    """

    sample: torch.Tensor
    weight: torch.Tensor


def _resize_image(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear image resize as :func:`mcc_hf.image_processing.resize_to` does it (pixel-area
    convention, antialiased when shrinking), without clamping; a no-op at the same size.

    The channels are resized as separate planes: the same values, and on CPU markedly faster than
    torch's kernel for a few NCHW channels (torch 2.13).
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    batch, channels, height, width = images.shape
    shrinking = height > size[0] or width > size[1]
    planes = images.reshape(batch * channels, 1, height, width)
    resized = F.interpolate(planes, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return resized.view(batch, channels, *size)


def _resize_flow(deformation: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """:func:`mcc_hf.motion.geometry.resize_flow` (bilinear, ``align_corners=True``) through a contiguous
    ``[B, 2, h, w]`` copy, which torch's CPU kernel resizes several times faster than the permuted view."""
    if tuple(deformation.shape[1:3]) == tuple(size):
        return deformation
    flow = F.interpolate(deformation.permute(0, 3, 1, 2).contiguous(), size=size, mode="bilinear", align_corners=True)
    return flow.permute(0, 2, 3, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, C, H, W]`` (kernel radius ``ceil(3 sigma)``, edges replicated)."""
    if sigma <= 0:
        return images
    radius = max(1, math.ceil(3 * sigma))
    # Replicate padding needs the pad to be smaller than the side.
    radius = min(radius, images.shape[-2] - 1, images.shape[-1] - 1)
    if radius < 1:
        return images
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def warp_source(source: torch.Tensor, deformation: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Backward-warp the source with a flow upsampled to ``size``.

    Args:
        source: ``[B or 1, C, H, W]`` image at the output size (``size == (H, W)``).
        deformation: ``[B, h, w, 2]`` sampling grid (x, y) in ``[-1, 1]`` with the generator's
            convention (``align_corners=True``), at any resolution; it is resized bilinearly.
        size: ``(H, W)``.

    Returns:
        ``[B, C, H, W]``: bilinear samples; those outside the source take the nearest edge pixel
        (:func:`source_coverage` says where that happens).
    """
    grid = _resize_flow(deformation, size)
    source = source.expand(grid.shape[0], -1, -1, -1) if source.shape[0] == 1 else source
    if source.device.type == "cpu" and source.dtype in (torch.float16, torch.bfloat16):
        return warp_source(source.float(), deformation.float(), size).to(source.dtype)
    return F.grid_sample(source, grid.to(source.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def source_coverage(deformation: torch.Tensor, size: tuple[int, int], source_size: tuple[int, int]) -> torch.Tensor:
    """Where the flow samples inside the source: ``[B, 1, *size]`` in ``[0, 1]`` (1 inside, 0 from one
    source pixel outside on), for ``deformation`` ``[B, h, w, 2]`` resized to ``size`` and a source of
    ``source_size`` pixels."""
    grid = _resize_flow(deformation, size)
    height, width = source_size
    inside_x = (1 + (1 - grid[..., 0].abs()) * (width - 1) / 2).clamp(0, 1)
    inside_y = (1 + (1 - grid[..., 1].abs()) * (height - 1) / 2).clamp(0, 1)
    return (inside_x * inside_y).unsqueeze(1)


def consistency_trust(warped: torch.Tensor, sample: torch.Tensor, tolerance: float = DEFAULT_TOLERANCE) -> torch.Tensor:
    """How far the warped source can be trusted, from its agreement with the model output.

    Their difference at the model size is resized to the analysis size (the model size, at most
    :data:`ANALYSIS_SIZE` per side), band-passed (:data:`CONSISTENCY_SIGMAS`), averaged over channels, and turned
    into ``exp(-(e / tolerance)^2)``.

    Args:
        warped: ``[B, 3, H, W]`` warped source in ``[0, 1]``.
        sample: ``[B, 3, h, w]`` model output in ``[0, 1]``.
        tolerance: disagreement at which the trust is ``1/e``.

    Returns:
        ``[B, 1, a_h, a_w]`` trust in ``[0, 1]`` at the analysis size.
    """
    model_size = tuple(sample.shape[-2:])
    analysis = tuple(min(side, ANALYSIS_SIZE) for side in model_size)
    scale = min(analysis) / ANALYSIS_SIZE
    # Compared at the model size first, so that a source the model reproduces exactly (its own input)
    # gives exactly zero whatever the sizes.
    difference = _resize_image(_resize_image(warped, model_size) - sample, analysis)
    fine, coarse = (sigma * scale for sigma in CONSISTENCY_SIGMAS)
    band = gaussian_blur(difference, fine) - gaussian_blur(difference, coarse)
    disagreement = band.abs().mean(dim=1, keepdim=True)
    return torch.exp(-(disagreement / tolerance).square())


def transfer_detail(
    sample: torch.Tensor,
    source: torch.Tensor,
    deformation: torch.Tensor,
    occlusion: torch.Tensor | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> DetailTransferOutput:
    """Compose output frames at the source's resolution from the model output and the warped source.

    Args:
        sample: ``[B, 3, h, w]`` model output in ``[0, 1]`` at the model size.
        source: ``[3, H, W]``, ``[1, 3, H, W]`` or ``[B, 3, H, W]`` source (crop) in ``[0, 1]`` at the
            *output* size ``H x W``; the one the model's input was resized from.
        deformation: ``[B, f_h, f_w, 2]`` the model's final backward flow (driving -> source), a
            sampling grid (x, y) in ``[-1, 1]`` with ``align_corners=True``
            (``GeneratorOutput.deformations[-1]``), at any resolution.
        occlusion: ``[B, 1, o_h, o_w]`` visibility of the source in ``[0, 1]`` (1: visible) at any
            resolution (``GeneratorOutput.occlusions[-1]``), or ``None`` (all visible).
        tolerance: band-pass disagreement (mean absolute, ``[0, 1]`` units) between the warped source
            and the model output at which the warped source's weight falls to ``1/e``; larger keeps
            more source detail, smaller follows the model more closely.

    Returns:
        :class:`DetailTransferOutput`: ``sample`` ``[B, 3, H, W]`` and ``weight`` ``[B, 1, H, W]``, on
        ``source``'s device and in its dtype (computed in float32, float64 stays float64). The other
        inputs are moved there.

    Raises:
        ValueError: the shapes do not fit together, or ``tolerance`` is not positive.
    """
    if source.dim() == 3:
        source = source.unsqueeze(0)
    _check_shapes(sample, source, deformation, occlusion)
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    out_dtype, device = source.dtype, source.device
    dtype = torch.float64 if out_dtype == torch.float64 else torch.float32
    source = source.to(dtype)
    sample = sample.to(device=device, dtype=dtype)
    deformation = deformation.to(device=device, dtype=dtype)
    size = tuple(source.shape[-2:])

    warped = warp_source(source, deformation, size)
    # Every weight is a smooth map: combine them at the analysis size and upsample once.
    weight = consistency_trust(warped, sample, tolerance)
    analysis = tuple(weight.shape[-2:])
    weight = weight * source_coverage(deformation, analysis, size)
    if occlusion is not None:
        weight = weight * resize(occlusion.to(device=device, dtype=dtype), analysis)
    weight = _resize_image(weight, size)
    frames = torch.lerp(_resize_image(sample, size), warped, weight)
    return DetailTransferOutput(sample=frames.to(out_dtype), weight=weight.to(out_dtype))


def _check_shapes(sample, source, deformation, occlusion) -> None:
    batch = sample.shape[0]
    if sample.dim() != 4 or sample.shape[1] != 3:
        raise ValueError(f"sample must be [B, 3, h, w], got {list(sample.shape)}")
    if source.dim() != 4 or source.shape[1] != 3 or source.shape[0] not in (1, batch):
        raise ValueError(f"source must be [3, H, W], [1, 3, H, W] or [{batch}, 3, H, W], got {list(source.shape)}")
    if deformation.dim() != 4 or deformation.shape[-1] != 2 or deformation.shape[0] != batch:
        raise ValueError(f"deformation must be [{batch}, h, w, 2], got {list(deformation.shape)}")
    if occlusion is not None and (occlusion.dim() != 4 or occlusion.shape[:2] != (batch, 1)):
        raise ValueError(f"occlusion must be [{batch}, 1, h, w], got {list(occlusion.shape)}")
    if min(source.shape[-2:]) < 2:
        raise ValueError(f"the output size must be at least 2x2, got {list(source.shape[-2:])}")
