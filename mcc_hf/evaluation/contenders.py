# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The things being compared: a talking-head pipeline, or the ``static`` baseline."""

from __future__ import annotations

import torch

from ..image_processing import resize_to

__all__ = ["Contender", "PipelineContender", "StaticContender"]


class Contender:
    """Animates a source image with driving frames, at the evaluation resolution.

    Args:
        name: the display name in reports.
    """

    name: str
    description: str

    def animate(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        """``source`` ``[3, S, S]`` and ``driving`` ``[T, 3, S, S]`` in ``[0, 1]`` -> ``[T, 3, S, S]`` in ``[0, 1]``."""
        raise NotImplementedError


class StaticContender(Contender):
    """The source image repeated for every driving frame: the score of doing nothing."""

    def __init__(self, name: str = "static"):
        self.name = name
        self.description = "the source image repeated"

    def animate(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        return source[None].expand(len(driving), -1, -1, -1).clone()


class PipelineContender(Contender):
    """A :class:`~mcc_hf.TalkingHeadPipeline` called through its public ``__call__``
    (relative motion with the first driving frame as reference); its output is resized to the
    evaluation resolution when the model works at another size."""

    def __init__(self, name: str, pipeline, source: str, batch_size: int = 4, relative: bool = True):
        self.name = name
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.relative = relative
        self.description = f"pipeline {source} ({pipeline.sample_size}x{pipeline.sample_size})"

    def animate(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        frames = self.pipeline(
            source, driving, relative=self.relative, crop=False, batch_size=self.batch_size, output_type="pt"
        ).frames
        return resize_to(frames.float().cpu(), tuple(driving.shape[-2:]))
