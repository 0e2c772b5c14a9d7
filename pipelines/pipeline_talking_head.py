# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``TalkingHeadPipeline``: animate a source face with the motion of driving frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import PIL.Image
import torch

from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput, replace_example_docstring

from mcc_hf.animator import Animator, PreparedSource
from mcc_hf.generator import CompensatoryGenerator
from mcc_hf.image_processing import (
    ImageInput,
    InvalidInputError,
    from_model_range,
    iter_frames,
    load_image,
    postprocess,
    resize_to,
    to_model_range,
)
from mcc_hf.motion.dense_motion import DenseMotionNetwork
from mcc_hf.motion.keypoint_detector import KeypointDetector
from mcc_hf.motion.keypoints import Keypoints

__all__ = ["TalkingHeadPipeline", "TalkingHeadPipelineOutput"]

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from mcc_hf import TalkingHeadPipeline
        >>> pipe = TalkingHeadPipeline.from_pretrained("path/to/pipeline")  # a local folder or a Hub id
        >>> frames = pipe("face.png", driving_frames, output_type="pil").frames
        ```
"""


@dataclass
class TalkingHeadPipelineOutput(BaseOutput):
    """
    Args:
        frames: the animated frames: ``[T, 3, H, W]`` float tensor in ``[0, 1]`` (``"pt"``),
            ``[T, H, W, 3]`` float array in ``[0, 1]`` (``"np"``) or a list of ``T`` PIL images (``"pil"``).
    """

    frames: Union[torch.Tensor, np.ndarray, list[PIL.Image.Image]]


def check_compatible(keypoint_detector: KeypointDetector, dense_motion: DenseMotionNetwork,
                     generator: CompensatoryGenerator) -> None:
    """Raise ``ValueError`` naming the mismatch if the three components cannot work together."""
    kp, dm, gen = keypoint_detector.config, dense_motion.config, generator.config
    problems = []
    if not kp.num_keypoints == dm.num_keypoints == gen.num_keypoints:
        problems.append(
            f"num_keypoints differ (keypoint_detector {kp.num_keypoints}, dense_motion {dm.num_keypoints}, "
            f"generator {gen.num_keypoints})"
        )
    motion_size = gen.sample_size * dm.scale_factor
    if motion_size != gen.motion_size:
        problems.append(
            f"the dense motion grid ({gen.sample_size} x {dm.scale_factor} = {motion_size:g}) differs from the "
            f"generator's motion_size {gen.motion_size}"
        )
    if problems:
        raise ValueError("incompatible pipeline components: " + "; ".join(problems))


class TalkingHeadPipeline(DiffusionPipeline):
    r"""Pipeline for one-shot talking-head video generation with multi-scale compensatory codebooks.

    Components:
        keypoint_detector ([`KeypointDetector`]): keypoints and Jacobians of source and driving frames.
        dense_motion ([`DenseMotionNetwork`]): dense flow and occlusion from keypoints.
        generator ([`CompensatoryGenerator`]): renders the frame with motion and appearance compensation.
    """

    model_cpu_offload_seq = "keypoint_detector->dense_motion->generator"

    def __init__(self, keypoint_detector: KeypointDetector, dense_motion: DenseMotionNetwork,
                 generator: CompensatoryGenerator):
        super().__init__()
        check_compatible(keypoint_detector, dense_motion, generator)
        self.register_modules(keypoint_detector=keypoint_detector, dense_motion=dense_motion, generator=generator)

    @classmethod
    def from_preset(cls, preset: str = "vox-256") -> "TalkingHeadPipeline":
        """A pipeline with freshly initialised (untrained) weights from a named preset or a JSON config file."""
        from mcc_hf.presets import get_preset

        keypoint_detector, dense_motion, generator = get_preset(preset).build()
        pipe = cls(keypoint_detector=keypoint_detector, dense_motion=dense_motion, generator=generator)
        for module in (keypoint_detector, dense_motion, generator):
            module.eval()
        return pipe

    @property
    def sample_size(self) -> int:
        """Side of the square images the model works on."""
        return self.generator.config.sample_size

    @property
    def animator(self) -> Animator:
        return Animator(self.keypoint_detector, self.dense_motion, self.generator)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in ``[0, 1]`` -> model input: resized, in ``[-1, 1]``, on the model's device and dtype."""
        images = resize_to(images, self.sample_size)
        return to_model_range(images).to(device=self._execution_device, dtype=self.generator.dtype)

    @torch.no_grad()
    def prepare_source(self, source_image: ImageInput) -> PreparedSource:
        """Load a source image and compute its keypoints and generator features (once per video)."""
        return self.animator.prepare_source(self.preprocess(load_image(source_image)[None]))

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        source_image: ImageInput,
        driving_frames,
        *,
        relative: bool = True,
        adapt_scale: bool = True,
        reference_frame: ImageInput | None = None,
        batch_size: int = 4,
        output_type: Literal["pil", "np", "pt"] = "pil",
        return_dict: bool = True,
    ) -> TalkingHeadPipelineOutput | tuple:
        r"""Animate ``source_image`` with the motion of ``driving_frames``.

        Args:
            source_image: the face to animate: a PIL image, a numpy array ``(H, W, C)`` (uint8, uint16 or
                float in ``[0, 1]``), a tensor ``[C, H, W]`` in ``[0, 1]`` or an image path. It is resized to
                the model size; pass a face crop.
            driving_frames: the driving video as a sequence or iterator of such images, a tensor
                ``[T, 3, H, W]`` in ``[0, 1]`` or an array ``[T, H, W, 3]``.
            relative: transfer the driving motion *relative* to the first driving frame (or
                ``reference_frame``) onto the source keypoints (FOMM relative mode, with relative
                Jacobians). With ``False`` the driving keypoints are used as they are (absolute mode).
            adapt_scale: in relative mode, scale the motion by the ratio of the source and reference
                keypoint-hull sizes.
            reference_frame: the driving frame whose pose matches the source (default: the first driving frame).
            batch_size: driving frames rendered per forward pass.
            output_type: ``"pil"``, ``"np"`` or ``"pt"`` (see :class:`TalkingHeadPipelineOutput`).
            return_dict: return a :class:`TalkingHeadPipelineOutput` instead of a tuple.

        Examples:
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        source = self.prepare_source(source_image)
        animator = self.animator
        reference: Keypoints | None = None
        movement_scale = 1.0
        if relative and reference_frame is not None:
            reference = animator.detect_keypoints(self.preprocess(load_image(reference_frame)[None]))
            movement_scale = animator.movement_scale(source, reference, adapt_scale)

        outputs = []
        batch: list[torch.Tensor] = []
        progress = self.progress_bar(total=len(driving_frames) if hasattr(driving_frames, "__len__") else None)

        def render(frames: list[torch.Tensor]) -> None:
            nonlocal reference, movement_scale
            images = self.preprocess(torch.stack(frames))
            keypoints = animator.detect_keypoints(images)
            if relative:
                if reference is None:
                    reference = keypoints[0]
                    movement_scale = animator.movement_scale(source, reference, adapt_scale)
                keypoints = animator.transfer_keypoints(source, keypoints, reference, movement_scale)
            result = animator.render(source, keypoints)
            outputs.append(from_model_range(result.sample.float()).cpu())
            progress.update(len(frames))

        for frame in iter_frames(driving_frames):
            batch.append(resize_to(frame[None], self.sample_size)[0])
            if len(batch) == batch_size:
                render(batch)
                batch = []
        if batch:
            render(batch)
        progress.close()
        if not outputs:
            raise InvalidInputError("no driving frames were given")

        frames = postprocess(torch.cat(outputs), output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return TalkingHeadPipelineOutput(frames=frames)
