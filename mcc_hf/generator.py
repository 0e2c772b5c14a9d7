# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The compensatory generator: encoder, multi-scale motion and appearance codebook compensation, decoder."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import torch
from torch import nn

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from diffusers.utils.accelerate_utils import apply_forward_hook

from .autoencoder import Decoder, Encoder
from .compensation.appearance_compensator import AppearanceCompensator
from .compensation.codebook import CodebookMatch
from .compensation.fusion import FeatureFusion
from .compensation.motion_compensator import MotionCompensator
from .compensation.motion_compensator import MotionStep
from .compensation.transformer import ProjectedMemory
from .layers import is_power_of_two, log2_int
from .motion.geometry import resize, warp

__all__ = ["CompensatoryGenerator", "GeneratorOutput", "SourceFeatures"]


@dataclass
class SourceFeatures:
    """Everything the generator needs from the source image; it does not depend on the driving frame.

    Args:
        scale_features: per compensation scale, coarse to fine, the source feature ``[B, C_k, s_k, s_k]``
            (the encoder output at the coarsest scale, the level features at the finer ones).
        cache_codes: whether renderings without autograd may keep the codebook keys and values of both
            transformers in ``motion_codes`` and ``appearance_codes`` (computed by the first such
            rendering, reused by the next ones). They are valid for the weights they were computed with.
        motion_codes, appearance_codes: that cache (:meth:`MotionCompensator.project_codes`), or ``None``.
    """

    scale_features: list[torch.Tensor]
    _: KW_ONLY  # the cache fields by name only: a positional call cannot put codes in the wrong field
    cache_codes: bool = False
    motion_codes: list[ProjectedMemory] | None = None
    appearance_codes: list[ProjectedMemory] | None = None

    @property
    def batch_size(self) -> int:
        return self.scale_features[0].shape[0]

    def contiguous(self, memory_format: torch.memory_format) -> "SourceFeatures":
        """The same features laid out in ``memory_format`` (e.g. ``torch.channels_last``)."""
        return SourceFeatures(
            [f.contiguous(memory_format=memory_format) for f in self.scale_features],
            cache_codes=self.cache_codes,
            motion_codes=self.motion_codes,
            appearance_codes=self.appearance_codes,
        )

    def expand(self, batch_size: int) -> "SourceFeatures":
        """Broadcast a batch of one to ``batch_size`` without copying."""
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise ValueError(f"cannot broadcast source features of batch {self.batch_size} to {batch_size}")
        return SourceFeatures(
            [f.expand(batch_size, -1, -1, -1) for f in self.scale_features],
            cache_codes=self.cache_codes,
            motion_codes=self.motion_codes,
            appearance_codes=self.appearance_codes,
        )


@dataclass
class GeneratorOutput(BaseOutput):
    """
    The per-scale fields are tuples (of tensors, or of :class:`CodebookMatch` outputs), one entry per
    compensation scale. The flows and occlusion maps have the dtype the dense motion gave them (float32
    or wider), ``sample`` the model's. The model always sets the first four fields (their defaults only
    let the output be rebuilt from a mapping, as accelerate's device hooks do); the training fields are
    set in training mode.

    Args:
        sample: ``[B, 3, H, W]`` generated frame, nominally in ``[-1, 1]`` (not clamped).
        deformations: the flows ``M^0 ... M^N`` (``[B, h, w, 2]`` each); ``M^0`` is the dense-motion flow.
        occlusions: the occlusion maps ``O^1 ... O^N`` (``[B, 1, h, w]``).
        residual_deformations: the per-scale flow residuals ``M^k - M^(k-1)`` (normalised units).
        low_res_sample: (training) ``[B, 3, H, W]`` decode of the compensated coarsest feature alone.
        motion_matches: (training) per scale, the motion embedding matched against the motion codebook.
        motion_reconstructions: (training) per scale, the displacement decoded from the matched codes
            (normalised, ``[B, h, w, 2]``); its target is ``M^(k-1)`` minus the identity grid.
    """

    sample: torch.Tensor
    deformations: tuple[torch.Tensor, ...] | None = None
    occlusions: tuple[torch.Tensor, ...] | None = None
    residual_deformations: tuple[torch.Tensor, ...] | None = None
    low_res_sample: torch.Tensor | None = None
    motion_matches: tuple[CodebookMatch, ...] | None = None
    motion_reconstructions: tuple[torch.Tensor, ...] | None = None


class CompensatoryGenerator(ModelMixin, ConfigMixin):
    r"""Renders the driving frame from the source image and the dense motion, with multi-scale
    motion and appearance codebook compensation (Zhao et al., CVPR 2025).

    The encoder turns the source into a latent (``sample_size / 2^(L-1)`` wide, the *token grid*)
    and level features. For every compensation scale, coarse to fine:

    1. motion compensation refines the flow and the occlusion map with the motion codebook;
    2. the scale's source feature is warped by the new flow and multiplied by the occlusion map;
    3. appearance compensation repairs it with the appearance codebook.

    The compensated latent is the decoder input; the compensated finer features are fused into the
    decoder (SFT, then addition) after the first residual unit of their level. Each scale sees a
    nested prefix of both codebooks (the finest the whole codebook). In training mode
    (``model.train()``) the output also carries what the training losses need.

    Parameters:
        sample_size (`int`, defaults to 256): image side S (a power of two).
        in_channels (`int`, defaults to 3), out_channels (`int`, defaults to 3): image channels.
        block_out_channels (`tuple[int]`, defaults to `(64, 128, 128, 256)`): width of each encoder/decoder
            level, fine to coarse; the last is also the latent width. L levels give a token grid of ``S / 2^(L-1)``.
        layers_per_block (`int`, defaults to 2): residual blocks per level.
        attention_resolutions (`tuple[int]`, defaults to `(32,)`): resolutions with spatial self-attention.
        norm_num_groups (`int`, defaults to 32): GroupNorm groups.
        compensation_resolutions (`tuple[int]`, defaults to `(32, 64, 128, 256)`): scales that are
            compensated (and fused), coarse to fine; the first must be the token grid.
        num_keypoints (`int`, defaults to 15): channels of the driving heatmap.
        motion_size (`int`, defaults to 64): side of the dense-motion flow grid.
        motion_embed_dim (`int`, defaults to 32), motion_codebook_size (`int`, defaults to 1024),
        motion_num_layers (`int`, defaults to 2): motion codebook and transformer.
        motion_refine_channels (`int`, defaults to 128): width of the flow-refinement head (MRFA-style).
        appearance_embed_dim (`int`, defaults to 256), appearance_codebook_size (`int`, defaults to 1024),
        appearance_num_layers (`int`, defaults to 2): appearance codebook and transformer.
        num_attention_heads (`int`, defaults to 8): heads of both transformers.
        use_motion_compensation (`bool`, defaults to `True`): with `False` the dense-motion flow and
            occlusion are used at every scale (ablation).
        use_appearance_compensation (`bool`, defaults to `True`): with `False` the warped features are
            used as they are (ablation).

    Half-precision loading keeps the flow-refinement head (``motion_compensator.refine``) in float32
    (``_keep_in_fp32_modules``); the flows and occlusion maps stay in the precision the dense motion
    gives them (float32 or wider) while the features run in the model's dtype. Gradient checkpointing
    (``enable_gradient_checkpointing()``) recomputes the encoder and decoder blocks in the backward pass.
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["ResnetBlock", "SpatialSelfAttention", "MotionCompensator", "AppearanceCompensator",
                         "FeatureFusion"]
    _keep_in_fp32_modules = ["refine"]
    # Block-level group offloading: the encoder and decoder blocks form the groups (so the source encoder
    # onloads its own blocks); the compensators are onloaded with the generator's forward.
    _group_offload_block_modules = ["encoder", "decoder"]

    @register_to_config
    def __init__(
        self,
        sample_size: int = 256,
        in_channels: int = 3,
        out_channels: int = 3,
        block_out_channels: tuple[int, ...] = (64, 128, 128, 256),
        layers_per_block: int = 2,
        attention_resolutions: tuple[int, ...] = (32,),
        norm_num_groups: int = 32,
        compensation_resolutions: tuple[int, ...] = (32, 64, 128, 256),
        num_keypoints: int = 15,
        motion_size: int = 64,
        motion_embed_dim: int = 32,
        motion_codebook_size: int = 1024,
        motion_num_layers: int = 2,
        motion_refine_channels: int = 128,
        appearance_embed_dim: int = 256,
        appearance_codebook_size: int = 1024,
        appearance_num_layers: int = 2,
        num_attention_heads: int = 8,
        use_motion_compensation: bool = True,
        use_appearance_compensation: bool = True,
    ):
        super().__init__()
        levels = len(block_out_channels)
        grid_size = sample_size // 2 ** (levels - 1)
        if not is_power_of_two(sample_size) or grid_size < 1:
            raise ValueError(f"sample_size must be a power of two of at least 2^{levels - 1}, got {sample_size}")
        resolutions = list(compensation_resolutions)
        level_resolutions = [sample_size // 2**i for i in range(levels)]
        if not resolutions or resolutions[0] != grid_size or resolutions != sorted(set(resolutions)) or any(
            r not in level_resolutions for r in resolutions
        ):
            raise ValueError(
                f"compensation_resolutions must increase from the token grid {grid_size} through level "
                f"resolutions {sorted(level_resolutions)}, got {resolutions}"
            )
        # Level (0 = finest) of each compensation scale, coarse to fine.
        self.scale_levels = [log2_int(sample_size // r) for r in resolutions]
        channels = [block_out_channels[level] for level in self.scale_levels]

        self.encoder = Encoder(
            in_channels, block_out_channels, layers_per_block, attention_resolutions, sample_size, norm_num_groups
        )
        self.decoder = Decoder(
            out_channels, block_out_channels, layers_per_block, attention_resolutions, sample_size, norm_num_groups
        )
        self.motion_compensator = (
            MotionCompensator(
                channels, num_keypoints, motion_embed_dim, motion_num_layers, num_attention_heads,
                motion_codebook_size, grid_size, motion_size, norm_num_groups, motion_refine_channels,
            )
            if use_motion_compensation
            else None
        )
        self.appearance_compensator = (
            AppearanceCompensator(
                channels, resolutions, appearance_embed_dim, appearance_num_layers, num_attention_heads,
                appearance_codebook_size, grid_size,
            )
            if use_appearance_compensation
            else None
        )
        self.fusion = nn.ModuleList(FeatureFusion(c, norm_num_groups) for c in channels[1:])
        # Decoder block index -> compensation scale fused after it.
        self.fuse_after = {self.decoder.fusion_indices[level]: k for k, level in enumerate(self.scale_levels) if k}
        self.gradient_checkpointing = False

    @apply_forward_hook
    def encode_source(self, source_image: torch.Tensor, project_codes: bool = False) -> SourceFeatures:
        """``[B, 3, H, W]`` in ``[-1, 1]`` -> :class:`SourceFeatures` (compute once per source image).

        With ``project_codes`` (for inference), the first rendering from these features without autograd
        also stores the codebook keys and values of both transformers in them, so that later frames skip
        that work (see :attr:`SourceFeatures.cache_codes`).
        """
        return self._encode_source(source_image, project_codes)

    def _encode_source(self, source_image: torch.Tensor, project_codes: bool) -> SourceFeatures:
        latent, level_features = self.encoder(source_image)
        return SourceFeatures(
            [latent if k == 0 else level_features[level] for k, level in enumerate(self.scale_levels)],
            cache_codes=project_codes,
        )

    @apply_forward_hook
    def match_appearance(self, image: torch.Tensor) -> list[CodebookMatch]:
        """(Training) encode ``image`` (the driving frame) and match each scale's embedded level feature
        against the appearance codebook prefix of that scale; feeds the appearance codebook loss."""
        if self.appearance_compensator is None:
            return []
        _, level_features = self.encoder(image)
        return [self.appearance_compensator.match(k, level_features[level]) for k, level in enumerate(self.scale_levels)]

    def _project_codes(self, features: SourceFeatures) -> None:
        """Fill the codebook key/value cache of ``features`` (inside :meth:`forward`, where offloading hooks
        have put the compensators' weights in place)."""
        if self.motion_compensator is not None and features.motion_codes is None:
            features.motion_codes = self.motion_compensator.project_codes()
        if self.appearance_compensator is not None and features.appearance_codes is None:
            features.appearance_codes = self.appearance_compensator.project_codes()

    def _compensate_scale(
        self,
        k: int,
        feature: torch.Tensor,
        deformation: torch.Tensor,
        occlusion: torch.Tensor,
        keypoint_feature: torch.Tensor | None,
        steps: list[MotionStep],
        cache: SourceFeatures | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Motion, then appearance compensation of scale ``k`` (``cache``: features whose projected
        codes may be used).

        Returns the compensated feature ``[B, C_k, s_k, s_k]`` and the flow and occlusion after the scale.
        """
        if self.motion_compensator is not None:
            codes = None if cache is None else cache.motion_codes
            step = self.motion_compensator(k, feature, deformation, occlusion, keypoint_feature, codes)
            steps.append(step)
            deformation, occlusion = step.deformation, step.occlusion
        visibility = resize(occlusion, tuple(feature.shape[-2:])).to(feature.dtype)
        warped = warp(feature, deformation)
        warped = warped * visibility if cache is None else warped.mul_(visibility)
        if self.appearance_compensator is not None:
            warped = self.appearance_compensator(k, warped, deformation, None if cache is None else cache.appearance_codes)
        return warped, deformation, occlusion

    def forward(
        self,
        source: torch.Tensor | SourceFeatures,
        deformation: torch.Tensor,
        occlusion: torch.Tensor,
        driving_heatmap: torch.Tensor,
        return_dict: bool = True,
    ) -> GeneratorOutput | tuple:
        """
        Args:
            source: ``[B, 3, H, W]`` source image in ``[-1, 1]``, or its :class:`SourceFeatures`
                (a batch of one is broadcast over the motion batch).
            deformation: ``[B, h, w, 2]`` dense-motion flow ``M^0``.
            occlusion: ``[B, 1, h, w]`` dense-motion occlusion ``O^0`` in ``(0, 1)``.
            driving_heatmap: ``[B, K, h, w]`` driving keypoint Gaussians.
            return_dict: return a :class:`GeneratorOutput` instead of the tuple of its fields that are set
                (``sample, deformations, occlusions, residual_deformations``, then the training fields).
        """
        features = self._encode_source(source, False) if isinstance(source, torch.Tensor) else source
        # Inference caches (and in-place updates) only while autograd is off.
        if features.cache_codes and not torch.is_grad_enabled():
            self._project_codes(features)
        features = features.expand(deformation.shape[0])
        cache = None if torch.is_grad_enabled() else features
        keypoint_feature = (
            self.motion_compensator.encode_keypoints(driving_heatmap.to(features.scale_features[0].dtype))
            if self.motion_compensator is not None
            else None
        )
        motion_steps: list[MotionStep] = []
        flow, occ = deformation, occlusion

        x, flow, occ = self._compensate_scale(
            0, features.scale_features[0], flow, occ, keypoint_feature, motion_steps, cache
        )
        low_res_sample = self.decoder(x) if self.training else None
        for i, block in enumerate(self.decoder.blocks):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x)
            else:
                x = block(x)
            k = self.fuse_after.get(i)
            if k is not None:
                compensated, flow, occ = self._compensate_scale(
                    k, features.scale_features[k], flow, occ, keypoint_feature, motion_steps, cache
                )
                x = self.fusion[k - 1](x, compensated)

        training = self.training
        output = GeneratorOutput(
            sample=x,
            deformations=(deformation, *(s.deformation for s in motion_steps)),
            occlusions=tuple(s.occlusion for s in motion_steps),
            residual_deformations=tuple(s.residual for s in motion_steps),
            low_res_sample=low_res_sample,
            motion_matches=tuple(s.codebook_match for s in motion_steps) if training else None,
            motion_reconstructions=tuple(s.reconstruction for s in motion_steps) if training else None,
        )
        return output if return_dict else output.to_tuple()
