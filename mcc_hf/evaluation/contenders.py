# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The things being compared: a talking-head pipeline (with or without detail transfer), or a baseline:
``static`` (the source repeated) or ``warped-source`` (the source at the evaluation resolution warped by
a model's final flow, nothing else: what detail transfer builds on)."""

from __future__ import annotations

import torch

from ..image_processing import resize_to

__all__ = ["Contender", "PipelineContender", "StaticContender", "WarpedSourceContender"]


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
    (relative motion with the first driving frame as reference). Without ``detail_transfer`` its output
    at the model size is resized to the evaluation resolution; with it the pipeline composes the frames
    at the evaluation resolution with detail transfer (``output_size``, ``detail_transfer=True``)."""

    def __init__(self, name: str, pipeline, source: str, batch_size: int = 4, relative: bool = True,
                 detail_transfer: bool = False):
        self.name = name
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.relative = relative
        self.detail_transfer = detail_transfer
        self.description = f"pipeline {source} ({pipeline.sample_size}x{pipeline.sample_size})"
        if detail_transfer:
            self.description += ", with detail transfer from the source at the evaluation resolution"

    def animate(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        options = {"output_size": driving.shape[-2], "detail_transfer": True} if self.detail_transfer else {}
        frames = self.pipeline(
            source, driving, relative=self.relative, crop=False, batch_size=self.batch_size, output_type="pt", **options
        ).frames
        return resize_to(frames.float().cpu(), tuple(driving.shape[-2:]))


class WarpedSourceContender(Contender):
    """The source at the evaluation resolution warped by a pipeline's final flow (``deformations[-1]``),
    black where the flow samples beyond the source: the pipeline's motion without its rendering (the
    motion is transferred as :class:`PipelineContender` does: relative, adapt-scale, first frame as reference)."""

    def __init__(self, pipeline, name: str = "warped-source", model_name: str = "the model", batch_size: int = 4,
                 relative: bool = True):
        self.name = name
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.relative = relative
        self.description = f"the source warped by the final flow of {model_name}, alone"

    def animate(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        from ..animator import MotionTransfer
        from ..detail_transfer import source_coverage, warp_source

        pipe, size = self.pipeline, tuple(driving.shape[-2:])
        frames = []
        with pipe._inference():
            animator = pipe.animator
            prepared = animator.prepare_source(pipe.preprocess(source[None]))
            motion = MotionTransfer(prepared, relative=self.relative, adapt_scale=True)
            for start in range(0, len(driving), self.batch_size):
                keypoints = motion(animator.detect_keypoints(pipe.preprocess(driving[start:start + self.batch_size])))
                flow = animator.render(prepared, keypoints).generator_output.deformations[-1].float().cpu()
                warped = warp_source(source[None].float(), flow, size) * source_coverage(flow, size, size)
                frames.append(warped)
        return torch.cat(frames)
