# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The transformer layer both compensators use: self-attention over the token grid, cross-attention
to codebook entries, and a convolutional feed-forward block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Attention", "CompensationTransformerLayer"]


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v/output projections (batch-first tokens).

    ``query [B, Lq, E]``, ``key [B or 1, Lk, E]``, ``value [B or 1, Lk, E]`` -> ``[B, Lq, E]``.
    Keys and values with a batch of one (e.g. codebook entries) are broadcast without copying.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        # [b, L, E] -> [batch, heads, L, E / heads]
        b, length, dim = x.shape
        return x.view(b, length, self.num_heads, dim // self.num_heads).transpose(1, 2).expand(batch, -1, -1, -1)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``attention_mask``: optional boolean ``[B, 1, 1, Lk]``, True where a key may be attended."""
        batch, length, dim = query.shape
        q = self._heads(self.to_q(query), batch)
        k = self._heads(self.to_k(key), batch)
        v = self._heads(self.to_v(value), batch)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask)
        return self.to_out(out.transpose(1, 2).reshape(batch, length, dim))


class CompensationTransformerLayer(nn.Module):
    """Pre-norm layer over a ``grid x grid`` token map that queries a codebook.

    1. ``x += SelfAttn(q = k = LN1(x) + pos, v = LN1(x))`` (optional key mask),
    2. ``x += CrossAttn(q = LN2(x) + pos, k = v = codebook entries)``,
    3. ``x += Conv3x3(GELU(Conv3x3(LN3(x))))`` with the tokens laid out as an image.

    Tokens are ``[B, grid*grid, dim]`` in row-major order.
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim)
        self.conv1 = nn.Conv2d(dim, ffn_dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(ffn_dim, dim, kernel_size=3, padding=1)

    def forward(
        self,
        tokens: torch.Tensor,
        codes: torch.Tensor,
        position: torch.Tensor,
        grid_size: int,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            tokens: ``[B, L, dim]`` with ``L = grid_size**2``.
            codes: ``[N, dim]`` codebook entries (keys and values of the cross-attention).
            position: ``[L, dim]`` learned position embedding (added to queries and self-attention keys).
            key_mask: optional boolean ``[B, L]``, True for tokens that may be attended in self-attention.
        """
        h = self.norm1(tokens)
        qk = h + position
        attention_mask = None if key_mask is None else key_mask[:, None, None, :]
        tokens = tokens + self.self_attn(qk, qk, h, attention_mask)

        codes = codes.unsqueeze(0)
        tokens = tokens + self.cross_attn(self.norm2(tokens) + position, codes, codes)

        batch, length, dim = tokens.shape
        image = self.norm3(tokens).transpose(1, 2).reshape(batch, dim, grid_size, grid_size)
        image = self.conv2(F.gelu(self.conv1(image)))
        return tokens + image.flatten(2).transpose(1, 2)
