# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The three graphs a talking-head model is exported as, written as small ``nn.Module`` wrappers.

Every image input and output is ``[B, 3, S, S]`` float32 in ``[0, 1]`` at the model size ``S``
(the wrappers convert to and from the model range ``[-1, 1]`` exactly as the pipeline does), so the
graphs can be used without any PyTorch code around them.

* :class:`SourceGraph` (once per video): the source image -> its keypoints and generator features.
* :class:`KeypointGraph` (once per video, for the motion reference): frames -> keypoints.
* :class:`FrameGraph` (every batch of driving frames, dynamic batch): driving frames plus everything
  the source graph returned -> animated frames. It detects the driving keypoints and, when
  ``relative`` is true, transfers their motion since the reference frame onto the source keypoints
  (FOMM relative mode); the codebook keys and values are constants of the graph.
"""

from __future__ import annotations

import torch
from torch import nn

from ..compensation.transformer import ProjectedMemory
from ..generator import CompensatoryGenerator, SourceFeatures
from ..image_processing import from_model_range, to_model_range
from ..motion.dense_motion import DenseMotionNetwork
from ..motion.keypoint_detector import KeypointDetector
from ..motion.keypoints import Keypoints, normalize_keypoints

__all__ = ["FrameGraph", "KeypointGraph", "SourceGraph"]


class SourceGraph(nn.Module):
    """``source [1, 3, S, S]`` in ``[0, 1]`` -> ``(source_value [1, K, 2], source_jacobian [1, K, 2, 2],
    feature_0, ..., feature_{N-1})``, the generator's source feature at each of its N compensation
    scales, coarse to fine (``[1, C_k, s_k, s_k]``)."""

    def __init__(self, keypoint_detector: KeypointDetector, generator: CompensatoryGenerator):
        super().__init__()
        self.keypoint_detector = keypoint_detector
        self.generator = generator

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, ...]:
        image = to_model_range(source)
        keypoints = self.keypoint_detector(image)
        features = self.generator.encode_source(image)
        return (keypoints.value, keypoints.jacobian, *features.scale_features)


class KeypointGraph(nn.Module):
    """``frames [B, 3, S, S]`` in ``[0, 1]`` -> ``(value [B, K, 2], jacobian [B, K, 2, 2])``."""

    def __init__(self, keypoint_detector: KeypointDetector):
        super().__init__()
        self.keypoint_detector = keypoint_detector

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keypoints = self.keypoint_detector(to_model_range(frames))
        return keypoints.value, keypoints.jacobian


class FrameGraph(nn.Module):
    """Renders a batch of driving frames on a prepared source.

    Inputs: ``driving [B, 3, S, S]`` and ``source [1, 3, S, S]`` in ``[0, 1]``; the source keypoints
    ``source_value [1, K, 2]``, ``source_jacobian [1, K, 2, 2]`` and the reference-frame keypoints
    ``reference_value``, ``reference_jacobian`` (same shapes); ``movement_scale`` (float32 scalar) and
    ``relative`` (bool scalar); ``features``, the N source features of :class:`SourceGraph` (each
    one input of the ONNX graph).

    Output: ``frames [B, 3, S, S]`` in ``[0, 1]``.

    The codebook keys and values of both compensators' transformer layers are projected once, here,
    and stored as constants of the graph (they depend only on the weights). Call it under
    ``torch.no_grad()`` (as :func:`~mcc_hf.export.export_onnx` does): the generator uses such
    cached codes only while autograd is off.
    """

    def __init__(self, keypoint_detector: KeypointDetector, dense_motion: DenseMotionNetwork,
                 generator: CompensatoryGenerator):
        super().__init__()
        self.keypoint_detector = keypoint_detector
        self.dense_motion = dense_motion
        self.generator = generator
        with torch.no_grad():
            motion = generator.motion_compensator.project_codes() if generator.motion_compensator is not None else []
            appearance = (generator.appearance_compensator.project_codes()
                          if generator.appearance_compensator is not None else [])
        self.motion_codes = _constants(motion)
        self.appearance_codes = _constants(appearance)
        self.has_motion = generator.motion_compensator is not None
        self.has_appearance = generator.appearance_compensator is not None

    def forward(
        self,
        driving: torch.Tensor,
        source: torch.Tensor,
        source_value: torch.Tensor,
        source_jacobian: torch.Tensor,
        reference_value: torch.Tensor,
        reference_jacobian: torch.Tensor,
        movement_scale: torch.Tensor,
        relative: torch.Tensor,
        features: list[torch.Tensor],
    ) -> torch.Tensor:
        source_keypoints = Keypoints(source_value, source_jacobian)
        detected = self.keypoint_detector(to_model_range(driving))
        transferred = normalize_keypoints(
            source_keypoints, detected, Keypoints(reference_value, reference_jacobian), movement_scale=movement_scale
        )
        keypoints = Keypoints(
            torch.where(relative, transferred.value, detected.value),
            torch.where(relative, transferred.jacobian, detected.jacobian),
        )
        motion = self.dense_motion(to_model_range(source), keypoints, source_keypoints)
        cached = SourceFeatures(
            list(features),
            motion_codes=_memories(self.motion_codes) if self.has_motion else None,
            appearance_codes=_memories(self.appearance_codes) if self.has_appearance else None,
        )
        output = self.generator(cached, motion.deformation, motion.occlusion, motion.driving_heatmap)
        return from_model_range(output.sample)


def _constants(memories: list[ProjectedMemory]) -> nn.ParameterList:
    """Projected keys and values as frozen parameters, alternating key, value per layer."""
    tensors = [t for memory in memories for t in (memory.key, memory.value)]
    return nn.ParameterList(nn.Parameter(t.detach().clone(), requires_grad=False) for t in tensors)


def _memories(constants: nn.ParameterList) -> list[ProjectedMemory]:
    return [ProjectedMemory(constants[i], constants[i + 1]) for i in range(0, len(constants), 2)]
