# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Unsupervised keypoint detector with local Jacobians (FOMM design)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from ..layers import AntiAliasDownsample, Float32Conv2d
from .hourglass import Hourglass, checkpoint_keeping_batch_norm_statistics
from .keypoints import Keypoints, keypoints_from_heatmaps

__all__ = ["KeypointDetector", "KeypointDetectorOutput"]


@dataclass(eq=False)
class KeypointDetectorOutput(Keypoints, BaseOutput):
    """
    The detector's output: a :class:`~mcc_hf.motion.keypoints.Keypoints` that is also a diffusers
    ``BaseOutput`` (``to_tuple()``, ``output["value"]``).

    Indexing with a string reads a field; indexing with an int or a slice selects batch elements, as for
    any :class:`~mcc_hf.motion.keypoints.Keypoints` (so ``output[0]`` is the first image's keypoints, not
    the first field: use ``output.to_tuple()[0]`` or ``output.value`` for that).

    Args:
        value: ``[B, K, 2]`` keypoint positions (x, y) in ``[-1, 1]``, float32 or wider.
        jacobian: ``[B, K, 2, 2]`` local affine transformation around each keypoint, float32 or wider.
    """

    value: torch.Tensor
    jacobian: torch.Tensor | None = None  # always set by the model; the default lets a mapping rebuild the output

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str):
            return BaseOutput.__getitem__(self, index)
        return Keypoints.__getitem__(self, index)

    def to(self, *args, **kwargs) -> "KeypointDetectorOutput":
        """Both tensors moved or cast (``Tensor.to`` arguments); the result is again a detector output."""
        return KeypointDetectorOutput(value=self.value.to(*args, **kwargs), jacobian=self.jacobian.to(*args, **kwargs))


class KeypointDetector(ModelMixin, ConfigMixin):
    r"""Predicts ``num_keypoints`` keypoints and a 2x2 Jacobian per keypoint from an image.

    The image is downsampled by ``scale_factor`` with an anti-aliasing filter, passed through an
    hourglass, and a 7x7 convolution *without padding* produces one heatmap per keypoint
    (so a 64x64 input gives 58x58 heatmaps, as in the released model). A softmax over all
    positions of ``logits / temperature`` turns each map into a distribution; the keypoint is its
    expected coordinate and the Jacobian is the heatmap-weighted average of four predicted maps
    (read row-major as ``[[a, b], [c, d]]``).

    The two heads (``kp``, ``jacobian``) compute in float32 or wider, and half-precision loading keeps
    their weights in float32 (``_keep_in_fp32_modules``): the temperature-0.1 softmax amplifies logit
    errors, and the Jacobians are inverted downstream. Keypoints are therefore float32 (float64 in a
    float64 model) whatever the model's dtype.

    Parameters:
        num_keypoints (`int`, defaults to 15): number of keypoints K.
        in_channels (`int`, defaults to 3): image channels.
        block_expansion (`int`, defaults to 32): hourglass base width.
        max_features (`int`, defaults to 1024): hourglass width cap.
        num_blocks (`int`, defaults to 5): hourglass depth; the downsampled size must be divisible by ``2**num_blocks``.
        temperature (`float`, defaults to 0.1): softmax temperature of the heatmaps.
        scale_factor (`float`, defaults to 0.25): input downsampling factor (``1/n``; 1 disables it).
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["Hourglass"]
    _keep_in_fp32_modules = ["kp", "jacobian"]
    _group_offload_block_modules = ["predictor", "encoder", "decoder"]

    @register_to_config
    def __init__(
        self,
        num_keypoints: int = 15,
        in_channels: int = 3,
        block_expansion: int = 32,
        max_features: int = 1024,
        num_blocks: int = 5,
        temperature: float = 0.1,
        scale_factor: float = 0.25,
    ):
        super().__init__()
        self.down = AntiAliasDownsample(in_channels, scale_factor) if scale_factor != 1 else nn.Identity()
        self.predictor = Hourglass(block_expansion, in_channels, num_blocks, max_features)
        self.kp = Float32Conv2d(self.predictor.out_channels, num_keypoints, kernel_size=7)
        self.jacobian = Float32Conv2d(self.predictor.out_channels, 4 * num_keypoints, kernel_size=7)
        # Start every Jacobian at the identity.
        nn.init.zeros_(self.jacobian.weight)
        with torch.no_grad():
            self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(num_keypoints))

    def enable_gradient_checkpointing(self, gradient_checkpointing_func: Callable | None = None) -> None:
        """Recompute the hourglass blocks in the backward pass instead of storing their activations.

        The default function (:func:`~mcc_hf.motion.hourglass.checkpoint_keeping_batch_norm_statistics`)
        keeps the BatchNorm running statistics exactly as a step without checkpointing leaves them.
        """
        super().enable_gradient_checkpointing(gradient_checkpointing_func or checkpoint_keeping_batch_norm_statistics)

    def forward(self, image: torch.Tensor, return_dict: bool = True) -> KeypointDetectorOutput | tuple:
        """
        Args:
            image: ``[B, C, H, W]`` images normalised to ``[-1, 1]``.
            return_dict: return a :class:`KeypointDetectorOutput` instead of the tuple ``(value, jacobian)``.

        Returns:
            :class:`KeypointDetectorOutput` with ``value [B, K, 2]`` and ``jacobian [B, K, 2, 2]``.
        """
        features = self.predictor(self.down(image))
        logits = self.kp(features)  # [B, K, h, w], float32 or wider
        b, k, h, w = logits.shape
        jacobian_maps = self.jacobian(features).reshape(b, k, 4, h, w)
        # Softmax, expectation and Jacobian averaging in float32 or wider (also under autocast).
        keypoints = keypoints_from_heatmaps(logits, jacobian_maps, self.config.temperature)
        if not return_dict:
            return keypoints.value, keypoints.jacobian
        return KeypointDetectorOutput(value=keypoints.value, jacobian=keypoints.jacobian)
