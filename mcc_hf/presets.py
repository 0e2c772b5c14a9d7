# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Named model configurations.

``vox-256`` is the released configuration of the paper (VoxCeleb, 256x256). The ``tiny-*`` presets
keep the same architecture at toy widths for tests and CPU experiments. A preset can also be read
from a JSON file with the keys ``keypoint_detector``, ``dense_motion`` and ``generator``, each
holding the constructor arguments of that component.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRESETS", "ModelPreset", "get_preset"]


@dataclass(frozen=True)
class ModelPreset:
    """Constructor arguments of the three components of a talking-head model."""

    name: str
    description: str
    keypoint_detector: dict[str, Any] = field(default_factory=dict)
    dense_motion: dict[str, Any] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "keypoint_detector": dict(self.keypoint_detector),
            "dense_motion": dict(self.dense_motion),
            "generator": dict(self.generator),
        }

    def build(self):
        """Instantiate ``(keypoint_detector, dense_motion, generator)`` with freshly initialised weights."""
        from .generator import CompensatoryGenerator
        from .motion.dense_motion import DenseMotionNetwork
        from .motion.keypoint_detector import KeypointDetector

        return (
            KeypointDetector(**self.keypoint_detector),
            DenseMotionNetwork(**self.dense_motion),
            CompensatoryGenerator(**self.generator),
        )


def _tiny(sample_size: int, block_out_channels: tuple[int, ...], motion_scale: float, hourglass_blocks: int):
    num_keypoints = 10
    grid = sample_size // 2 ** (len(block_out_channels) - 1)
    return dict(
        keypoint_detector=dict(
            num_keypoints=num_keypoints, block_expansion=16, max_features=128,
            num_blocks=hourglass_blocks, temperature=0.1, scale_factor=motion_scale,
        ),
        dense_motion=dict(
            num_keypoints=num_keypoints, block_expansion=16, max_features=128,
            num_blocks=hourglass_blocks, scale_factor=motion_scale,
        ),
        generator=dict(
            sample_size=sample_size,
            block_out_channels=block_out_channels,
            layers_per_block=1,
            attention_resolutions=(grid,),
            norm_num_groups=8,
            compensation_resolutions=tuple(grid * 2**i for i in range(len(block_out_channels))),
            num_keypoints=num_keypoints,
            motion_size=int(sample_size * motion_scale),
            motion_embed_dim=16,
            motion_codebook_size=128,
            motion_num_layers=2,
            motion_refine_channels=32,
            appearance_embed_dim=64,
            appearance_codebook_size=256,
            appearance_num_layers=2,
            num_attention_heads=4,
        ),
    )


PRESETS: dict[str, ModelPreset] = {
    "vox-256": ModelPreset(
        "vox-256",
        "The released configuration (VoxCeleb, 256x256, 15 keypoints, 1024-entry codebooks).",
        keypoint_detector=dict(
            num_keypoints=15, block_expansion=32, max_features=1024, num_blocks=5, temperature=0.1, scale_factor=0.25
        ),
        dense_motion=dict(
            num_keypoints=15, block_expansion=64, max_features=1024, num_blocks=5, scale_factor=0.25,
            keypoint_variance=0.01,
        ),
        generator=dict(
            sample_size=256,
            block_out_channels=(64, 128, 128, 256),
            layers_per_block=2,
            attention_resolutions=(32,),
            norm_num_groups=32,
            compensation_resolutions=(32, 64, 128, 256),
            num_keypoints=15,
            motion_size=64,
            motion_embed_dim=32,
            motion_codebook_size=1024,
            motion_num_layers=2,
            appearance_embed_dim=256,
            appearance_codebook_size=1024,
            appearance_num_layers=2,
            num_attention_heads=8,
        ),
    ),
    "tiny-64": ModelPreset(
        "tiny-64", "Toy widths at 64x64 (tests, CPU smoke runs).",
        **_tiny(64, (16, 32, 32), motion_scale=0.5, hourglass_blocks=3),
    ),
    "tiny-128": ModelPreset(
        "tiny-128", "Toy widths at 128x128 (tests, CPU smoke runs).",
        **_tiny(128, (16, 32, 32, 64), motion_scale=0.25, hourglass_blocks=3),
    ),
    "tiny-512": ModelPreset(
        "tiny-512", "Toy widths at 512x512 with five levels (tests the size generalisation).",
        **_tiny(512, (8, 16, 16, 32, 32), motion_scale=0.25, hourglass_blocks=4),
    ),
}


def get_preset(name_or_path: str) -> ModelPreset:
    """Return a named preset, or read one from a JSON file."""
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    if os.path.isfile(name_or_path):
        try:
            with open(name_or_path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read model config {name_or_path!r}: {e}") from e
        missing = {"keypoint_detector", "dense_motion", "generator"} - set(data)
        if missing:
            raise ValueError(f"model config {name_or_path!r} lacks the section(s) {sorted(missing)}")
        name = data.get("name", os.path.splitext(os.path.basename(name_or_path))[0])
        return ModelPreset(
            name, data.get("description", f"read from {name_or_path}"),
            data["keypoint_detector"], data["dense_motion"], data["generator"],
        )
    raise ValueError(f"unknown model config {name_or_path!r}: use one of {sorted(PRESETS)} or a JSON file path")
