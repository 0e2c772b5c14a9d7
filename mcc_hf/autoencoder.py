# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""VQGAN-style convolutional encoder and decoder (without a quantiser) of the compensatory generator.

Both keep their blocks in one flat ``nn.ModuleList`` (the layout of the released checkpoints) and
record, while building, where the multi-scale features are read (encoder) and where compensated
features are fused (decoder), so those points follow the configuration instead of a fixed table.
With gradient checkpointing enabled on the generator, every block is recomputed in the backward pass
instead of keeping its activations.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import Downsample, ResnetBlock, SpatialSelfAttention, Upsample, group_norm

__all__ = ["Decoder", "Encoder"]


class Encoder(nn.Module):
    r"""Image ``[B, in_channels, S, S]`` -> latent ``[B, C_last, S / 2^(L-1), S / 2^(L-1)]``.

    Level ``i`` (``i = 0`` is the full resolution) has ``layers_per_block`` residual blocks of width
    ``block_out_channels[i]`` (each followed by self-attention when the resolution is in
    ``attention_resolutions``) and, except for the last level, a downsampling block. A middle
    block (residual, attention, residual), GroupNorm and a 3x3 convolution follow.

    :meth:`forward` also returns one feature per level: the level's output before downsampling for
    the finer levels, and the output of the first residual unit of the coarsest level (the feature
    the released model uses for its coarsest appearance-codebook loss).
    """

    def __init__(
        self,
        in_channels: int,
        block_out_channels: tuple[int, ...],
        layers_per_block: int,
        attention_resolutions: tuple[int, ...],
        sample_size: int,
        num_groups: int,
    ):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)]
        self.level_output_indices: list[int] = []
        width, resolution = block_out_channels[0], sample_size
        last_level = len(block_out_channels) - 1
        for level, out_width in enumerate(block_out_channels):
            for layer in range(layers_per_block):
                blocks.append(ResnetBlock(width, out_width, num_groups))
                width = out_width
                if resolution in attention_resolutions:
                    blocks.append(SpatialSelfAttention(width, num_groups))
                if level == last_level and layer == 0:
                    self.level_output_indices.append(len(blocks) - 1)
            if level != last_level:
                self.level_output_indices.append(len(blocks) - 1)
                blocks.append(Downsample(width))
                resolution //= 2
        blocks += [
            ResnetBlock(width, width, num_groups),
            SpatialSelfAttention(width, num_groups),
            ResnetBlock(width, width, num_groups),
            group_norm(width, num_groups),
            nn.Conv2d(width, width, kernel_size=3, padding=1),
        ]
        self.blocks = nn.ModuleList(blocks)
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns ``(latent, level_features)`` with ``level_features[i]`` of shape ``[B, C_i, S/2^i, S/2^i]``."""
        wanted = set(self.level_output_indices)
        level_features = []
        for i, block in enumerate(self.blocks):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x)
            else:
                x = block(x)
            if i in wanted:
                level_features.append(x)
        return x, level_features


class Decoder(nn.Module):
    r"""Latent ``[B, C_last, s, s]`` -> image ``[B, out_channels, S, S]`` (no output activation).

    A 3x3 convolution and a middle block (residual, attention, residual), then the levels from
    coarse to fine: ``layers_per_block`` residual blocks (with attention at ``attention_resolutions``)
    and, except at the finest level, an upsampling block. GroupNorm and a 3x3 convolution close it.

    ``fusion_indices[level]`` is the block after which the generator fuses the compensated feature
    of that level: the first residual unit of each level finer than the latent.
    """

    def __init__(
        self,
        out_channels: int,
        block_out_channels: tuple[int, ...],
        layers_per_block: int,
        attention_resolutions: tuple[int, ...],
        sample_size: int,
        num_groups: int,
    ):
        super().__init__()
        last_level = len(block_out_channels) - 1
        width = block_out_channels[-1]
        resolution = sample_size // 2**last_level
        blocks: list[nn.Module] = [
            nn.Conv2d(width, width, kernel_size=3, padding=1),
            ResnetBlock(width, width, num_groups),
            SpatialSelfAttention(width, num_groups),
            ResnetBlock(width, width, num_groups),
        ]
        self.fusion_indices: dict[int, int] = {}
        for level in reversed(range(len(block_out_channels))):
            for layer in range(layers_per_block):
                blocks.append(ResnetBlock(width, block_out_channels[level], num_groups))
                width = block_out_channels[level]
                if resolution in attention_resolutions:
                    blocks.append(SpatialSelfAttention(width, num_groups))
                if layer == 0 and level != last_level:
                    self.fusion_indices[level] = len(blocks) - 1
            if level != 0:
                blocks.append(Upsample(width))
                resolution *= 2
        blocks += [group_norm(width, num_groups), nn.Conv2d(width, out_channels, kernel_size=3, padding=1)]
        self.blocks = nn.ModuleList(blocks)
        self.gradient_checkpointing = False

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Plain decode without fusion (the generator's low-resolution training branch)."""
        x = latent
        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x)
            else:
                x = block(x)
        return x
