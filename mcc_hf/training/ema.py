# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Exponential moving average of a model's parameters, with the released schedule (constant decay)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage:
    """``shadow = decay * shadow + (1 - decay) * param`` after every optimizer step, from a copy at start.

    Unlike ``diffusers.training_utils.EMAModel`` the decay is constant from the first update (the
    released recipe: 0.995, no warm-up). Only parameters are averaged; buffers are copied as they
    are when the average is applied. ``state_dict``/``load_state_dict`` make it checkpointable with
    ``accelerator.register_for_checkpointing``.
    """

    def __init__(self, model: nn.Module, decay: float = 0.995):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.shadow = [p.detach().clone().float() for p in model.parameters()]

    @torch.no_grad()
    def step(self, model: nn.Module) -> None:
        params = list(model.parameters())
        if len(params) != len(self.shadow):
            raise ValueError("the model does not match the EMA it was created from")
        torch._foreach_lerp_(self.shadow, [p.detach().float() for p in params], 1.0 - self.decay)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the averaged parameters into ``model`` (same architecture)."""
        for s, p in zip(self.shadow, model.parameters()):
            p.copy_(s.to(device=p.device, dtype=p.dtype))

    def to(self, device) -> "ExponentialMovingAverage":
        self.shadow = [s.to(device) for s in self.shadow]
        return self

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": list(self.shadow)}

    def load_state_dict(self, state: dict) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError(
                f"EMA state holds {len(state['shadow'])} tensors, the model has {len(self.shadow)} parameters"
            )
        device = self.shadow[0].device if self.shadow else "cpu"
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        self.shadow = [s.to(device=device, dtype=torch.float32) for s in state["shadow"]]
