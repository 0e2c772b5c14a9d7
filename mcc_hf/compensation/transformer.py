# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The transformer layer both compensators use: self-attention over the token grid, cross-attention
to codebook entries, and a convolutional feed-forward block."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from diffusers.models.attention import AttentionModuleMixin
from diffusers.models.attention_dispatch import dispatch_attention_fn

__all__ = [
    "Attention",
    "CompensationAttnProcessor",
    "CompensationTransformerLayer",
    "ProjectedMemory",
    "tokens_to_image",
    "image_to_tokens",
]


def image_to_tokens(image: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` -> row-major tokens ``[B, H*W, C]`` (a free view for a channels-last image)."""
    b, c, h, w = image.shape
    return image.permute(0, 2, 3, 1).reshape(b, h * w, c)


def tokens_to_image(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Row-major tokens ``[B, H*W, C]`` -> ``[B, C, H, W]`` (a channels-last view of contiguous tokens)."""
    b, _, c = tokens.shape
    return tokens.reshape(b, height, width, c).permute(0, 3, 1, 2)


@dataclass
class ProjectedMemory:
    """Keys and values of a cross-attention over fixed entries, projected once (inference cache).

    Args:
        key, value: ``[1, heads, N, dim / heads]``.
    """

    key: torch.Tensor
    value: torch.Tensor

    def prefix(self, length: int) -> "ProjectedMemory":
        """The keys and values of the first ``length`` entries (a view)."""
        return ProjectedMemory(self.key[:, :, :length], self.value[:, :, :length])


class CompensationAttnProcessor:
    """Default processor of :class:`Attention`: the module's projections, then diffusers'
    ``dispatch_attention_fn`` (so ``set_attention_backend`` chooses the kernel)."""

    _attention_backend = None
    _parallel_config = None

    def __call__(
        self,
        attn: "Attention",
        query: torch.Tensor,
        key: torch.Tensor | ProjectedMemory,
        value: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        batch, length, dim = query.shape
        q = attn.split_heads(attn.to_q(query), batch)
        if isinstance(key, ProjectedMemory):
            # [1, heads, N, E / heads] -> [batch, N, heads, E / heads] (views)
            k, v = (t.transpose(1, 2).expand(batch, -1, -1, -1) for t in (key.key, key.value))
        else:
            k, v = attn.split_heads(attn.to_k(key), batch), attn.split_heads(attn.to_v(value), batch)
        out = dispatch_attention_fn(
            q, k, v, attn_mask=attention_mask, backend=self._attention_backend, parallel_config=self._parallel_config
        )
        return attn.to_out(out.reshape(batch, length, dim))


class Attention(nn.Module, AttentionModuleMixin):
    """Multi-head attention with separate q/k/v/output projections (batch-first tokens).

    ``query [B, Lq, E]``, ``key [B or 1, Lk, E]``, ``value [B or 1, Lk, E]`` -> ``[B, Lq, E]``.
    Keys and values with a batch of one (e.g. codebook entries) are broadcast without copying. The
    computation lives in the processor (:class:`CompensationAttnProcessor` by default), diffusers'
    attention-module convention: ``set_attention_backend`` selects the attention kernel.
    """

    _default_processor_cls = CompensationAttnProcessor
    _available_processors = [CompensationAttnProcessor]
    _supports_qkv_fusion = False

    def __init__(self, dim: int, num_heads: int, processor: CompensationAttnProcessor | None = None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)
        self.set_processor(processor if processor is not None else self._default_processor_cls())

    def split_heads(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """``[b, L, E]`` (``b`` is ``batch`` or 1) -> ``[batch, L, heads, E / heads]`` (a view)."""
        b, length, dim = x.shape
        return x.view(b, length, self.num_heads, dim // self.num_heads).expand(batch, -1, -1, -1)

    def project_memory(self, memory: torch.Tensor) -> ProjectedMemory:
        """Project fixed entries ``[N, E]`` (keys = values, e.g. a codebook) once for repeated :meth:`forward` calls."""
        memory = memory.unsqueeze(0)
        key, value = (self.split_heads(proj(memory), 1).transpose(1, 2) for proj in (self.to_k, self.to_v))
        return ProjectedMemory(key, value)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | ProjectedMemory,
        value: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``key`` and ``value`` are token tensors, or ``key`` is a :class:`ProjectedMemory` (and ``value``
        None). ``attention_mask``: optional boolean ``[B, 1, 1, Lk]``, True where a key may be attended."""
        return self.processor(self, query, key, value, attention_mask)


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
        codes: torch.Tensor | ProjectedMemory,
        position: torch.Tensor,
        grid_size: int,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            tokens: ``[B, L, dim]`` with ``L = grid_size**2``.
            codes: ``[N, dim]`` codebook entries (keys and values of the cross-attention), or their
                projection by :meth:`project_codes`.
            position: ``[L, dim]`` learned position embedding (added to queries and self-attention keys).
            key_mask: optional boolean ``[B, L]``, True for tokens that may be attended in self-attention.
        """
        h = self.norm1(tokens)
        qk = h + position
        attention_mask = None if key_mask is None else key_mask[:, None, None, :]
        tokens = tokens + self.self_attn(qk, qk, h, attention_mask)

        if isinstance(codes, ProjectedMemory):
            attended = self.cross_attn(self.norm2(tokens) + position, codes)
        else:
            codes = codes.unsqueeze(0)
            attended = self.cross_attn(self.norm2(tokens) + position, codes, codes)
        tokens = tokens + attended

        # The feed-forward convolutions see the tokens as a channels-last image (no copy either way).
        image = tokens_to_image(self.norm3(tokens), grid_size, grid_size)
        image = self.conv2(F.gelu(self.conv1(image)))
        return tokens + image_to_tokens(image)

    def project_codes(self, codes: torch.Tensor) -> ProjectedMemory:
        """(Inference) the cross-attention keys and values of codebook entries ``[N, dim]``, computed once."""
        return self.cross_attn.project_memory(codes)
