# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Learned codebooks with nested per-scale prefixes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from diffusers.utils import BaseOutput

__all__ = ["Codebook", "CodebookMatch"]


@dataclass
class CodebookMatch(BaseOutput):
    """Nearest-neighbour match of a feature map against a codebook prefix (used by the training losses).

    Args:
        features: ``[B, D, h, w]`` the features that were quantised (with their gradient).
        quantized: ``[B, D, h, w]`` the selected code vectors (gradient flows to the codebook only).
        indices: ``[B, h, w]`` indices of the selected codes.
    """

    features: torch.Tensor
    quantized: torch.Tensor | None = None  # always set; the defaults let a mapping rebuild the output
    indices: torch.Tensor | None = None

    @property
    def straight_through(self) -> torch.Tensor:
        """``quantized`` in the forward pass, gradient of ``features`` in the backward pass."""
        return self.features + (self.quantized - self.features).detach()


class Codebook(nn.Module):
    """A codebook of ``num_codes`` vectors of width ``dim``, shared by all scales.

    Scale ``k`` (0-based, coarse to fine) of ``num_scales`` sees the nested prefix of the first
    ``num_codes * (k + 1) // num_scales`` entries, so the coarsest scale uses the fewest codes and the
    finest scale the whole codebook. In the compensation transformers the entries are the keys and
    values of the cross-attention; quantisation (:meth:`quantize`) only serves the training losses.

    The entries are read through :meth:`forward` (``codebook(scale_index)``), so offloading hooks see them.
    """

    def __init__(self, num_codes: int, dim: int, num_scales: int):
        super().__init__()
        if num_codes < num_scales:
            raise ValueError(f"a codebook of {num_codes} entries cannot be split over {num_scales} scales")
        self.num_codes = num_codes
        self.num_scales = num_scales
        self.embedding = nn.Parameter(torch.empty(num_codes, dim).uniform_(-1.0 / num_codes, 1.0 / num_codes))

    def prefix_size(self, scale_index: int) -> int:
        return self.num_codes * (scale_index + 1) // self.num_scales

    def forward(self, scale_index: int | None = None) -> torch.Tensor:
        """The codes visible at ``scale_index`` (``[N_k, dim]``), or all ``[num_codes, dim]`` for ``None``.

        Returns a view of the embedding (with its gradient).
        """
        length = self.num_codes if scale_index is None else self.prefix_size(scale_index)
        return self.embedding[:length]

    def quantize(self, features: torch.Tensor, scale_index: int) -> CodebookMatch:
        """Replace every vector of ``features [B, D, h, w]`` by its nearest code (squared L2) in the prefix."""
        codes = self(scale_index)
        flat = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])
        distances = flat.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - 2 * flat @ codes.t()
        indices = distances.argmin(dim=1)
        quantized = codes[indices].view(features.shape[0], features.shape[2], features.shape[3], -1)
        return CodebookMatch(
            features=features,
            quantized=quantized.permute(0, 3, 1, 2),
            indices=indices.view(features.shape[0], features.shape[2], features.shape[3]),
        )
