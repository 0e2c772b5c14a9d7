# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""mcc-hf: one-shot talking-head video generation with multi-scale compensatory codebooks
(Zhao et al., "Synergizing Motion and Appearance", CVPR 2025), as Hugging Face Diffusers components.

``import mcc_hf`` is cheap: torch and diffusers are imported when a name below is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_getattr

__version__ = "0.1.0"

from .defaults import DEFAULT_MODEL, DEFAULT_MODEL_NAME  # noqa: E402  (plain strings, cheap)

_LAZY = {
    "TalkingHeadPipeline": "mcc_hf.pipelines.pipeline_talking_head",
    "TalkingHeadPipelineOutput": "mcc_hf.pipelines.pipeline_talking_head",
    "KeypointDetector": "mcc_hf.motion.keypoint_detector",
    "DenseMotionNetwork": "mcc_hf.motion.dense_motion",
    "DenseMotionOutput": "mcc_hf.motion.dense_motion",
    "Keypoints": "mcc_hf.motion.keypoints",
    "normalize_keypoints": "mcc_hf.motion.keypoints",
    "CompensatoryGenerator": "mcc_hf.generator",
    "GeneratorOutput": "mcc_hf.generator",
    "Animator": "mcc_hf.animator",
    "PRESETS": "mcc_hf.presets",
    "get_preset": "mcc_hf.presets",
    "convert_official_checkpoint": "mcc_hf.conversion",
    "load_pipeline": "mcc_hf.loading",
    **{name: "mcc_hf.errors" for name in (
        "CheckpointConversionError", "InvalidInputError", "ModelLoadingError", "NoFaceFoundError", "UserInputError",
    )},
}

__all__ = sorted(_LAZY) + ["DEFAULT_MODEL", "DEFAULT_MODEL_NAME", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .animator import Animator
    from .conversion import convert_official_checkpoint
    from .errors import CheckpointConversionError, InvalidInputError, ModelLoadingError, NoFaceFoundError, UserInputError
    from .loading import load_pipeline
    from .generator import CompensatoryGenerator, GeneratorOutput
    from .motion.dense_motion import DenseMotionNetwork, DenseMotionOutput
    from .motion.keypoint_detector import KeypointDetector
    from .motion.keypoints import Keypoints, normalize_keypoints
    from .pipelines.pipeline_talking_head import TalkingHeadPipeline, TalkingHeadPipelineOutput
    from .presets import PRESETS, get_preset


__getattr__ = lazy_getattr("mcc_hf", globals(), _LAZY)


def __dir__():
    return __all__
