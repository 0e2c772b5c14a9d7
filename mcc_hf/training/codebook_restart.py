# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Dead-code restarts for the codebooks (a training-only remedy for codebook collapse).

With the released recipe most motion codes are never the nearest neighbour of any motion embedding:
in the bundled model 13-15 of the 42/85/128 codes of the three prefixes are used. The VQ loss then
measures how far the embeddings lie from a handful of codes, and it grows as the (unnormalised)
embeddings grow (16 at step 1500). Re-seeding every unused code with an embedding from the current
batch (as in Jukebox and SoundStream) puts codes where the embeddings are, so the quantisation error
and the loss drop and more codes carry information. Off by default (``--codebook_restart_steps 0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..compensation.codebook import Codebook, CodebookMatch

__all__ = ["CodebookRestarter"]


class CodebookRestarter:
    """Counts how often each code of ``codebook`` is selected and re-seeds the unused ones.

    Call :meth:`observe` with every micro-batch's matches and :meth:`restart` once per optimisation
    step; every ``every`` steps the codes selected by no match since the last restart are replaced by
    randomly chosen embeddings of the current batch, taken from the coarsest scale whose prefix holds
    the code (so every scale can select them), and their Adam moments are cleared.

    Args:
        codebook: the codebook to maintain.
        every: optimisation steps between restarts.
        seed: seeds the choice of embeddings (with the step), so resumed runs repeat it.
    """

    def __init__(self, codebook: Codebook, every: int, seed: int = 0):
        if every < 1:
            raise ValueError(f"restart interval must be at least 1 step, got {every}")
        self.codebook = codebook
        self.every = every
        self.seed = seed
        self.usage = torch.zeros(codebook.embedding.shape[0], dtype=torch.long)
        self._features: list[torch.Tensor] = []

    def observe(self, matches: Sequence[CodebookMatch]) -> None:
        """Count the selected codes of one micro-batch (one match per scale, coarse to fine) and keep its embeddings."""
        for match in matches:
            self.usage += torch.bincount(match.indices.flatten().cpu(), minlength=self.usage.numel())
        self._features = [m.features.detach().permute(0, 2, 3, 1).reshape(-1, m.features.shape[1]) for m in matches]

    def _scale_of(self, index: int) -> int:
        return next(k for k in range(self.codebook.num_scales) if index < self.codebook.prefix_size(k))

    @torch.no_grad()
    def restart(self, global_step: int, optimizer: torch.optim.Optimizer | None = None, accelerator=None) -> int:
        """Re-seed the unused codes if ``global_step`` is a restart step; returns how many were re-seeded.

        With several processes, usage is summed over all of them and the main process's new codes are
        broadcast, so the replicas stay identical.
        """
        if global_step % self.every or not self._features:
            return 0
        usage = self.usage
        if accelerator is not None and accelerator.num_processes > 1:
            usage = accelerator.reduce(usage.to(accelerator.device), reduction="sum").cpu()
        dead = (usage == 0).nonzero().flatten().tolist()
        embedding = self.codebook.embedding
        if dead:
            state = np.random.SeedSequence([self.seed, global_step]).generate_state(1)[0]
            generator = torch.Generator().manual_seed(int(state))
            for index in dead:
                pool = self._features[self._scale_of(index)]
                pick = int(torch.randint(pool.shape[0], (1,), generator=generator))
                embedding[index] = pool[pick].to(embedding.dtype)
            if accelerator is not None and accelerator.num_processes > 1:
                from accelerate.utils import broadcast

                embedding.copy_(broadcast(embedding.detach().clone(), from_process=0))
            if optimizer is not None:
                self._clear_moments(optimizer, dead)
        self.usage.zero_()
        return len(dead)

    def _clear_moments(self, optimizer: torch.optim.Optimizer, rows: list[int]) -> None:
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper
        for value in inner.state.get(self.codebook.embedding, {}).values():
            if isinstance(value, torch.Tensor) and value.shape == self.codebook.embedding.shape:
                value[rows] = 0

    def state_dict(self) -> dict:
        return {"usage": self.usage.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.usage.copy_(state["usage"])
