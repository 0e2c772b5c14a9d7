# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Motion compensation: refine the flow and the occlusion map at one scale by querying the motion codebook."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from diffusers.utils.accelerate_utils import apply_forward_hook

from ..layers import Downsample, Float32Conv2d, ResnetBlock, Upsample, group_norm
from ..motion.geometry import displacement_scale, identity_grid, resize, warp
from .codebook import Codebook, CodebookMatch
from .transformer import CompensationTransformerLayer, ProjectedMemory, image_to_tokens, tokens_to_image

__all__ = ["FlowRefinementHead", "MotionCompensator", "MotionEncoder", "MotionStep"]

@dataclass
class MotionStep:
    """Result of motion compensation at one scale.

    Args:
        deformation: ``[B, h, w, 2]`` compensated flow ``M^k``.
        occlusion: ``[B, 1, h, w]`` compensated occlusion ``O^k``.
        residual: ``[B, h, w, 2]`` normalised flow residual ``M^k - M^(k-1)``.
        codebook_match: (training) the motion embedding matched against the codebook prefix.
        reconstruction: (training) ``[B, h, w, 2]`` normalised displacement decoded from the matched codes.
    """

    deformation: torch.Tensor
    occlusion: torch.Tensor
    residual: torch.Tensor
    codebook_match: CodebookMatch | None = None
    reconstruction: torch.Tensor | None = None


class MotionEncoder(nn.Module):
    """Encodes a displacement field together with the motion-context feature (MRFA-style).

    ``displacement [B, 2, h, w]`` (pixels), ``context [B, C, h, w]`` -> ``[B, R, h, w]``
    (``R - 2`` learned channels followed by the displacement itself). The released model has
    ``R = 128`` (inner widths 128, 96, 128, 64, as in MRFA); other widths scale in proportion.
    """

    def __init__(self, context_channels: int, channels: int = 128):
        super().__init__()
        self.convc1 = nn.Conv2d(context_channels, channels, kernel_size=1)
        self.convc2 = nn.Conv2d(channels, channels * 3 // 4, kernel_size=3, padding=1)
        self.convf1 = nn.Conv2d(2, channels, kernel_size=7, padding=3)
        self.convf2 = nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1)
        self.conv = nn.Conv2d(channels * 3 // 4 + channels // 2, channels - 2, kernel_size=3, padding=1)

    def forward(self, displacement: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        context = F.relu(self.convc2(F.relu(self.convc1(context), inplace=True)), inplace=True)
        flow = F.relu(self.convf2(F.relu(self.convf1(displacement), inplace=True)), inplace=True)
        merged = F.relu(self.conv(torch.cat([context, flow], dim=1)), inplace=True)
        return torch.cat([merged, displacement], dim=1)


class FlowRefinementHead(nn.Module):
    """Predicts a displacement residual (2 channels, pixels) and an occlusion delta (1 channel).

    ``motion_feature [B, R, h, w]``, ``warped_context [B, 3R/2, h, w]`` -> ``[B, 3, h, w]``
    (``R = 128`` in the released model). It computes in float32 or wider (:class:`~mcc_hf.layers.Float32Conv2d`).
    """

    def __init__(self, channels: int = 128):
        super().__init__()
        self.convc1 = Float32Conv2d(channels * 3 // 2, channels, kernel_size=3, padding=1)
        self.conv1 = Float32Conv2d(2 * channels, channels, kernel_size=3, padding=1)
        self.conv2 = Float32Conv2d(channels, 2, kernel_size=3, padding=1)
        self.convo1 = Float32Conv2d(2 * channels, channels, kernel_size=3, padding=1)
        self.convo2 = Float32Conv2d(channels, 1, kernel_size=3, padding=1)

    def forward(self, motion_feature: torch.Tensor, warped_context: torch.Tensor) -> torch.Tensor:
        context = F.relu(self.convc1(warped_context), inplace=True)
        joint = torch.cat([motion_feature.to(context.dtype), context], dim=1)
        flow = self.conv2(F.relu(self.conv1(joint), inplace=True))
        occlusion = self.convo2(F.relu(self.convo1(joint), inplace=True))
        return torch.cat([flow, occlusion], dim=1)


class MotionCompensator(nn.Module):
    r"""Refines the flow ``M^(k-1) -> M^k`` and occlusion ``O^(k-1) -> O^k`` at every scale.

    The query combines three signals on the ``grid x grid`` token map: an embedding of the current
    (detached) displacement, the source feature of the scale warped by the current flow, and the
    driving-keypoint heatmaps. Two transformer layers let it attend to the nested motion-codebook
    prefix of the scale. A flow-refinement head then turns the motion context, the displacement and
    the warped source feature into a displacement residual and an occlusion delta:
    ``M^k = M^(k-1) + residual`` and ``O^k = sigmoid(O^(k-1) + delta)``. (The update adds the
    delta to a probability, not a logit, exactly as the released model does.)

    Args:
        feature_channels: channels of the source feature at each scale, coarse to fine.
        num_keypoints: channels of the driving heatmap.
        dim: token width (``embed_dim_motion`` of the release, 32).
        num_layers, num_heads: transformer depth and heads.
        codebook_size: number of motion codes.
        grid_size: side of the token map.
        motion_size: side of the flow grid (a power-of-two multiple of ``grid_size``).
        num_groups: GroupNorm groups of the embedding blocks.
        refine_channels: width ``R`` of the flow-refinement head (128 in the release; a multiple of 4).
    """

    def __init__(
        self,
        feature_channels: list[int],
        num_keypoints: int,
        dim: int,
        num_layers: int,
        num_heads: int,
        codebook_size: int,
        grid_size: int,
        motion_size: int,
        num_groups: int,
        refine_channels: int = 128,
    ):
        super().__init__()
        if refine_channels % 4 or refine_channels < 8:
            raise ValueError(f"refine_channels must be a multiple of 4 (at least 8), got {refine_channels}")
        num_scales = len(feature_channels)
        num_resamples = (motion_size // grid_size).bit_length() - 1
        if motion_size % grid_size or grid_size << num_resamples != motion_size:
            raise ValueError(f"motion grid {motion_size} is not a power-of-two multiple of the token grid {grid_size}")
        self.grid_size = grid_size

        self.codebook = Codebook(codebook_size, dim, num_scales)
        self.position_embedding = nn.Parameter(torch.zeros(grid_size * grid_size, dim))
        self.keypoint_proj = nn.Conv2d(num_keypoints, dim, kernel_size=1)
        self.warped_proj = nn.ModuleList(nn.Conv2d(c, dim, kernel_size=1) for c in feature_channels)
        self.query_fuse = nn.Conv2d(2 * dim, dim, kernel_size=1)
        self.displacement_embed = nn.Sequential(
            nn.Conv2d(2, dim, kernel_size=3, padding=1),
            *(Downsample(dim) for _ in range(num_resamples)),
            ResnetBlock(dim, dim, num_groups),
        )
        self.query_merge = nn.Conv2d(2 * dim, dim, kernel_size=1)
        self.layers = nn.ModuleList(
            CompensationTransformerLayer(dim, num_heads, 2 * dim) for _ in range(num_layers)
        )
        self.motion_encoder = MotionEncoder(dim, refine_channels)
        self.context_proj = nn.ModuleList(
            nn.Conv2d(c, refine_channels * 3 // 2, kernel_size=1) for c in feature_channels
        )
        self.refine = FlowRefinementHead(refine_channels)
        # Training only: decodes matched codes back into a displacement for the reconstruction loss.
        self.to_displacement = nn.Sequential(
            *(Upsample(dim) for _ in range(num_resamples)),
            ResnetBlock(dim, dim, num_groups),
            group_norm(dim, num_groups),
            nn.Conv2d(dim, 2, kernel_size=3, padding=1),
        )

    @apply_forward_hook
    def project_codes(self) -> list[ProjectedMemory]:
        """(Inference) every layer's cross-attention keys and values of the whole codebook; pass the
        result to :meth:`forward` to skip projecting the codes for every frame. Recompute after any
        weight change."""
        codes = self.codebook()
        return [layer.project_codes(codes) for layer in self.layers]

    @apply_forward_hook
    def encode_keypoints(self, driving_heatmap: torch.Tensor) -> torch.Tensor:
        """``[B, K, h, w]`` driving Gaussians -> ``[B, dim, grid, grid]`` keypoint query feature (once per frame)."""
        return F.relu(self.keypoint_proj(resize(driving_heatmap, (self.grid_size, self.grid_size))), inplace=True)

    def forward(
        self,
        scale_index: int,
        source_feature: torch.Tensor,
        deformation: torch.Tensor,
        occlusion: torch.Tensor,
        keypoint_feature: torch.Tensor,
        projected_codes: list[ProjectedMemory] | None = None,
    ) -> MotionStep:
        """
        Args:
            scale_index: position of the scale in the coarse-to-fine list.
            source_feature: ``[B, C_k, s, s]`` source feature of the scale.
            deformation: ``[B, h, w, 2]`` incoming flow ``M^(k-1)``.
            occlusion: ``[B, 1, h, w]`` incoming occlusion ``O^(k-1)``.
            keypoint_feature: ``[B, dim, grid, grid]`` from :meth:`encode_keypoints`.
            projected_codes: optional result of :meth:`project_codes` (inference cache).

        The flow and occlusion stay in their own dtype (float32 or wider); the embeddings and the
        transformer run in the source feature's.
        """
        _, h, w, _ = deformation.shape
        grid = (self.grid_size, self.grid_size)
        pixels = displacement_scale(h, w, device=deformation.device, dtype=deformation.dtype)
        displacement = ((deformation - identity_grid(h, w, device=deformation.device, dtype=deformation.dtype))
                        * pixels).permute(0, 3, 1, 2)  # [B, 2, h, w] in pixels of the flow grid

        warped = warp(source_feature, deformation)  # [B, C_k, s, s]
        warped_query = F.relu(self.warped_proj[scale_index](resize(warped, grid)), inplace=True)
        query = self.query_fuse(torch.cat([warped_query, keypoint_feature], dim=1))
        motion_embedding = self.displacement_embed(displacement.detach().to(source_feature.dtype))  # [B, dim, grid, grid]
        query = self.query_merge(torch.cat([motion_embedding, query], dim=1))

        tokens = image_to_tokens(query)  # [B, grid*grid, dim]
        prefix = self.codebook.prefix_size(scale_index)
        for i, layer in enumerate(self.layers):
            codes = self.codebook(scale_index) if projected_codes is None else projected_codes[i].prefix(prefix)
            tokens = layer(tokens, codes, self.position_embedding, self.grid_size)
        context = resize(tokens_to_image(tokens, self.grid_size, self.grid_size), (h, w))

        motion_feature = self.motion_encoder(displacement.to(context.dtype), context)
        warped_context = resize(F.relu(self.context_proj[scale_index](warped), inplace=True), (h, w))
        update = self.refine(motion_feature, warped_context)  # [B, 3, h, w]

        update = update.to(deformation.dtype)
        residual = update[:, :2].permute(0, 2, 3, 1) / pixels
        step = MotionStep(
            deformation=deformation + residual,
            occlusion=torch.sigmoid(occlusion + update[:, 2:]),
            residual=residual,
        )
        if self.training:
            step.codebook_match = self.codebook.quantize(motion_embedding, scale_index)
            decoded = self.to_displacement(step.codebook_match.straight_through)
            step.reconstruction = decoded.permute(0, 2, 3, 1) / pixels
        return step
