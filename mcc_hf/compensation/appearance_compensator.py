# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Appearance compensation: repair warped source features at one scale by querying the appearance codebook."""

from __future__ import annotations

import torch
from torch import nn

from diffusers.utils.accelerate_utils import apply_forward_hook

from ..motion.geometry import resize_flow
from .codebook import Codebook, CodebookMatch
from .transformer import CompensationTransformerLayer, ProjectedMemory, image_to_tokens, tokens_to_image

__all__ = ["AppearanceCompensator"]


class AppearanceCompensator(nn.Module):
    r"""Turns a warped, occlusion-masked feature map into a compensated one.

    At scale k the feature ``[B, C_k, s, s]`` is cut into ``p x p`` patches with ``p = s / grid``
    and each patch is embedded into one of ``grid x grid`` tokens of width ``dim`` (a strided
    ``p x p`` convolution; ``p = 1`` at the coarsest scale). Two transformer layers attend to the
    nested appearance-codebook prefix of the scale, and a 1x1 convolution plus pixel shuffle maps
    the tokens back to ``[B, C_k, s, s]``. The result replaces the warped feature.

    In the first layer's self-attention, tokens whose flow samples outside the source image
    (either coordinate of the flow, resized to the token grid, outside ``[-1, 1]``) are not used as
    keys. If that would exclude every token of a sample, nothing is excluded for it.

    Args:
        feature_channels: channels of the feature at each scale, coarse to fine.
        feature_sizes: side of the feature at each scale.
        dim: token width (``embed_dim_app`` of the release, 256).
        num_layers, num_heads: transformer depth and heads.
        codebook_size: number of appearance codes.
        grid_size: side of the token map.
    """

    def __init__(
        self,
        feature_channels: list[int],
        feature_sizes: list[int],
        dim: int,
        num_layers: int,
        num_heads: int,
        codebook_size: int,
        grid_size: int,
    ):
        super().__init__()
        self.grid_size = grid_size
        patch_sizes = [size // grid_size for size in feature_sizes]
        self.codebook = Codebook(codebook_size, dim, len(feature_channels))
        self.position_embedding = nn.Parameter(torch.zeros(grid_size * grid_size, dim))
        self.patch_embed = nn.ModuleList(
            nn.Conv2d(c, dim, kernel_size=p, stride=p) for c, p in zip(feature_channels, patch_sizes)
        )
        self.patch_unembed = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, c * p * p, kernel_size=1), nn.PixelShuffle(p))
            for c, p in zip(feature_channels, patch_sizes)
        )
        self.layers = nn.ModuleList(
            CompensationTransformerLayer(dim, num_heads, 2 * dim) for _ in range(num_layers)
        )

    def key_mask(self, deformation: torch.Tensor) -> torch.Tensor:
        """``[B, grid*grid]`` boolean, True for tokens whose flow stays inside the source image."""
        flow = resize_flow(deformation, (self.grid_size, self.grid_size))
        inside = (flow.abs() <= 1).all(dim=-1).flatten(1)
        return inside | ~inside.any(dim=1, keepdim=True)

    @apply_forward_hook
    def project_codes(self) -> list[ProjectedMemory]:
        """(Inference) every layer's cross-attention keys and values of the whole codebook; pass the
        result to :meth:`forward` to skip projecting the codes for every frame. Recompute after any
        weight change."""
        codes = self.codebook()
        return [layer.project_codes(codes) for layer in self.layers]

    @apply_forward_hook
    def match(self, scale_index: int, features: torch.Tensor) -> CodebookMatch:
        """(Training) embed ``features [B, C_k, s, s]`` and match the tokens against the codebook prefix."""
        return self.codebook.quantize(self.patch_embed[scale_index](features), scale_index)

    def forward(
        self,
        scale_index: int,
        features: torch.Tensor,
        deformation: torch.Tensor,
        projected_codes: list[ProjectedMemory] | None = None,
    ) -> torch.Tensor:
        """
        Args:
            scale_index: position of the scale in the coarse-to-fine list.
            features: ``[B, C_k, s, s]`` warped and occlusion-masked source feature.
            deformation: ``[B, h, w, 2]`` the flow that warped it.
            projected_codes: optional result of :meth:`project_codes` (inference cache).

        Returns:
            ``[B, C_k, s, s]`` compensated feature.
        """
        tokens = image_to_tokens(self.patch_embed[scale_index](features))  # [B, grid*grid, dim]
        prefix = self.codebook.prefix_size(scale_index)
        mask = self.key_mask(deformation)
        for i, layer in enumerate(self.layers):
            codes = self.codebook(scale_index) if projected_codes is None else projected_codes[i].prefix(prefix)
            tokens = layer(tokens, codes, self.position_embedding, self.grid_size, mask if i == 0 else None)
        return self.patch_unembed[scale_index](tokens_to_image(tokens, self.grid_size, self.grid_size))
