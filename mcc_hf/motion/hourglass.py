# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The FOMM hourglass (U-Net with BatchNorm) shared by the keypoint detector and the dense motion network."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from ..layers import UpsampleConv2d

__all__ = ["Hourglass", "checkpoint_keeping_batch_norm_statistics"]


class DownBlock(nn.Module):
    """conv3x3 -> BatchNorm -> ReLU -> 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x)), inplace=True), kernel_size=2)


class UpBlock(nn.Module):
    """Nearest x2 upsample -> conv3x3 (one :class:`~mcc_hf.layers.UpsampleConv2d`) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = UpsampleConv2d(in_channels, out_channels)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)), inplace=True)


class HourglassEncoder(nn.Module):
    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        widths = [in_channels] + [min(max_features, block_expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock(widths[i], widths[i + 1]) for i in range(num_blocks))
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = [x]
        for block in self.down_blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                outputs.append(self._gradient_checkpointing_func(block, outputs[-1]))
            else:
                outputs.append(block(outputs[-1]))
        return outputs


class HourglassDecoder(nn.Module):
    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            width_in = min(max_features, block_expansion * 2 ** (i + 1)) * (1 if i == num_blocks - 1 else 2)
            blocks.append(UpBlock(width_in, min(max_features, block_expansion * 2**i)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_channels = block_expansion + in_channels
        self.gradient_checkpointing = False

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[-1]
        for block, skip in zip(self.up_blocks, reversed(skips[:-1])):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x)
            else:
                x = block(x)
            x = torch.cat([x, skip], dim=1)
        return x


class Hourglass(nn.Module):
    """Encoder-decoder with skip concatenations.

    Input ``[B, in_channels, H, W]`` (H and W divisible by ``2**num_blocks``) ->
    output ``[B, block_expansion + in_channels, H, W]`` (the last decoder feature concatenated with the input).

    With gradient checkpointing enabled on the model that holds it, each down and up block is recomputed
    in the backward pass instead of keeping its intermediate activations.
    """

    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = HourglassEncoder(block_expansion, in_channels, num_blocks, max_features)
        self.decoder = HourglassDecoder(block_expansion, in_channels, num_blocks, max_features)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@contextlib.contextmanager
def _batch_norm_statistics_restored(module: nn.Module) -> Iterator[None]:
    """Put the running statistics of every BatchNorm in ``module`` back as they were on entry."""
    saved = [
        (norm, norm.running_mean.clone(), norm.running_var.clone(), norm.num_batches_tracked.clone())
        for norm in module.modules()
        if isinstance(norm, nn.modules.batchnorm._BatchNorm) and norm.track_running_stats
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for norm, mean, var, count in saved:
                norm.running_mean.copy_(mean)
                norm.running_var.copy_(var)
                norm.num_batches_tracked.copy_(count)


def checkpoint_keeping_batch_norm_statistics(module: nn.Module, *args) -> torch.Tensor:
    """Gradient checkpointing (``torch.utils.checkpoint``, non-reentrant) for blocks with BatchNorm.

    In training mode a BatchNorm updates its running statistics on every forward, so the recomputation
    in the backward pass would update them a second time; here the recomputation leaves them as the
    first pass set them, so a checkpointed step changes the statistics exactly as a plain one.
    """
    return torch.utils.checkpoint.checkpoint(
        module.__call__,
        *args,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(), _batch_norm_statistics_restored(module)),
    )
