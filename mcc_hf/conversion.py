# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Conversion of the authors' released checkpoints into an mcc-hf pipeline folder.

The official release ships two BasicSR checkpoints: ``net_g_latest.pth`` (``{"params", "params_ema"}``,
the generator ``AppMotionCompFormer``) and ``net_motion_estimator_latest.pth`` (``{"params"}``, the
keypoint detector and dense motion network). :func:`convert_official_checkpoint` maps their keys to
the layout of :class:`~mcc_hf.generator.CompensatoryGenerator`,
:class:`~mcc_hf.motion.keypoint_detector.KeypointDetector` and
:class:`~mcc_hf.motion.dense_motion.DenseMotionNetwork`, refuses anything that does not map exactly,
and writes a folder that ``TalkingHeadPipeline.from_pretrained`` loads.

Converted weights are a derivative of the authors' CC BY-NC 4.0 release and keep that licence.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

import torch

from .atomic import atomic_folder
from .errors import CheckpointConversionError
from .layers import AntiAliasDownsample

logger = logging.getLogger(__name__)

__all__ = [
    "CheckpointConversionError",
    "convert_generator_state_dict",
    "convert_motion_estimator_state_dict",
    "convert_official_checkpoint",
    "load_official_state_dict",
]

Transform = Callable[[torch.Tensor], torch.Tensor]

MODEL_CARD = """---
license: cc-by-nc-4.0
library_name: mcc-hf
tags:
- talking-head
- image-to-video
- mcc
---

# MCC talking-head model (converted official weights)

These weights were converted with `mcc-hf convert-official` from the checkpoints released by the
authors of *Synergizing Motion and Appearance: Multi-Scale Compensatory Codebooks for Talking Head
Video Generation* (Zhao, Hong, Huang, Xu, CVPR 2025; arXiv 2412.00719;
repository ShaelynZ/synergize-motion-appearance).

**Licence: CC BY-NC 4.0.** The original code and weights are released under the Creative Commons
Attribution-NonCommercial 4.0 International licence; these converted weights are a derivative and
keep that licence: non-commercial use only, with attribution to the authors. The mcc-hf code that
loads them is Apache-2.0; that does not change the licence of the weights.

- Generator source: `{generator}` (state dict `{param_key}`)
- Motion estimator source: `{motion_estimator}`
- Configuration: `{preset}`

```python
from mcc_hf import TalkingHeadPipeline
pipe = TalkingHeadPipeline.from_pretrained("{output}")
```
"""


def load_official_state_dict(path: str, param_key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a BasicSR checkpoint safely (``weights_only=True``) and return one plain state dict.

    ``param_key`` picks the entry (``"params_ema"`` or ``"params"``); if it is ``None`` the first of
    those present is used. A file that already is a plain state dict is accepted as is. A
    ``module.`` prefix (from DataParallel/DDP) is removed.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt or unsafe pickles
        raise CheckpointConversionError(f"cannot read {path} as a PyTorch checkpoint: {e}") from e
    if not isinstance(checkpoint, Mapping):
        raise CheckpointConversionError(f"{path} holds a {type(checkpoint).__name__}, not a state dict")
    wrappers = [k for k in ("params_ema", "params") if k in checkpoint]
    if not wrappers:
        state_dict = checkpoint  # a plain state dict
    elif param_key is None:
        state_dict = checkpoint[wrappers[0]]
    elif param_key in checkpoint:
        state_dict = checkpoint[param_key]
    else:
        raise CheckpointConversionError(f"{path} has no {param_key!r} entry (it has {wrappers})")
    if not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointConversionError(f"{path}: the selected entry is not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def _split_attention(prefix_in: str, prefix_out: str, dim: int) -> dict[str, tuple[str, Transform]]:
    """Map one ``nn.MultiheadAttention`` onto separate ``to_q/to_k/to_v/to_out`` projections."""
    rules: dict[str, tuple[str, Transform]] = {}
    for i, name in enumerate(("to_q", "to_k", "to_v")):
        sl = slice(i * dim, (i + 1) * dim)
        rules[f"{prefix_out}.{name}.weight"] = (f"{prefix_in}.in_proj_weight", lambda t, sl=sl: t[sl])
        rules[f"{prefix_out}.{name}.bias"] = (f"{prefix_in}.in_proj_bias", lambda t, sl=sl: t[sl])
    rules[f"{prefix_out}.to_out.weight"] = (f"{prefix_in}.out_proj.weight", _same)
    rules[f"{prefix_out}.to_out.bias"] = (f"{prefix_in}.out_proj.bias", _same)
    return rules


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def _generator_rules(generator, official: Mapping[str, torch.Tensor]) -> dict[str, tuple[str, Transform]]:
    """For every key of our generator: the official key it comes from and how to transform it."""
    config = generator.config
    ours = generator.state_dict()
    rules: dict[str, tuple[str, Transform]] = {}

    def copy_prefix(src: str, dst: str) -> None:
        for key in ours:
            if key.startswith(dst + "."):
                rules[key] = (src + key[len(dst):], _same)

    copy_prefix("encoder.blocks", "encoder.blocks")
    copy_prefix("generator.blocks", "decoder.blocks")

    if generator.motion_compensator is not None:
        mc = "motion_compensator"
        rules[f"{mc}.codebook.embedding"] = ("quantize_motion.embedding.weight", _same)
        rules[f"{mc}.position_embedding"] = ("position_emb_motion", _same)
        copy_prefix("driving_kp_enc", f"{mc}.keypoint_proj")
        copy_prefix("motion_query_enc_1", f"{mc}.query_fuse")
        copy_prefix("motion_query_enc_2", f"{mc}.query_merge")
        copy_prefix("motion_emb", f"{mc}.displacement_embed")
        copy_prefix("to_motion", f"{mc}.to_displacement")
        copy_prefix("BasicMotionEncoder", f"{mc}.motion_encoder")
        copy_prefix("refine", f"{mc}.refine")
        for k, resolution in enumerate(config.compensation_resolutions):
            copy_prefix(f"warped_source_enc_{resolution}", f"{mc}.warped_proj.{k}")
            copy_prefix(f"to_context.{k}", f"{mc}.context_proj.{k}")
        for j in range(config.motion_num_layers):
            copy_prefix(f"motion_block.{j}", f"{mc}.layers.{j}")
            for attn in ("self_attn", "cross_attn"):
                rules.update(_split_attention(f"motion_block.{j}.{attn}", f"{mc}.layers.{j}.{attn}",
                                              config.motion_embed_dim))

    if generator.appearance_compensator is not None:
        ac = "appearance_compensator"
        dim = config.appearance_embed_dim
        rules[f"{ac}.codebook.embedding"] = ("quantize_app.embedding.weight", _same)
        rules[f"{ac}.position_embedding"] = ("position_emb_app", _same)
        for k, resolution in enumerate(config.compensation_resolutions):
            weight = ours[f"{ac}.patch_embed.{k}.weight"]  # [dim, C, p, p]
            channels, patch = weight.shape[1], weight.shape[2]
            if patch == 1:  # 1x1 convolutions in both layouts
                copy_prefix(f"app_feat_emb_{resolution}", f"{ac}.patch_embed.{k}")
                copy_prefix(f"to_app_feat_{resolution}", f"{ac}.patch_unembed.{k}.0")
                continue
            # The official patch vectors are ordered (row in patch, column in patch, channel): a Linear
            # over them equals our strided p x p convolution, and the un-embedding Linear equals our
            # 1x1 convolution + pixel shuffle, whose channels are ordered (channel, row, column).
            rules[f"{ac}.patch_embed.{k}.weight"] = (
                f"app_feat_emb_{resolution}.1.weight",
                lambda t, c=channels, p=patch: t.reshape(dim, p, p, c).permute(0, 3, 1, 2).contiguous(),
            )
            rules[f"{ac}.patch_embed.{k}.bias"] = (f"app_feat_emb_{resolution}.1.bias", _same)
            rules[f"{ac}.patch_unembed.{k}.0.weight"] = (
                f"to_app_feat_{resolution}.0.weight",
                lambda t, c=channels, p=patch: t.reshape(p, p, c, dim).permute(2, 0, 1, 3).reshape(c * p * p, dim, 1, 1),
            )
            rules[f"{ac}.patch_unembed.{k}.0.bias"] = (
                f"to_app_feat_{resolution}.0.bias",
                lambda t, c=channels, p=patch: t.reshape(p, p, c).permute(2, 0, 1).reshape(-1),
            )
        for j in range(config.appearance_num_layers):
            copy_prefix(f"app_block.{j}", f"{ac}.layers.{j}")
            for attn in ("self_attn", "cross_attn"):
                rules.update(_split_attention(f"app_block.{j}.{attn}", f"{ac}.layers.{j}.{attn}", dim))

    for k, resolution in enumerate(config.compensation_resolutions[1:]):
        copy_prefix(f"fuse_convs_dict.{resolution}.encode_enc", f"fusion.{k}.condition")
        copy_prefix(f"fuse_convs_dict.{resolution}.scale", f"fusion.{k}.scale")
        copy_prefix(f"fuse_convs_dict.{resolution}.shift", f"fusion.{k}.shift")
        copy_prefix(f"fuse_ms_dict.{resolution}", f"fusion.{k}.add")
    return rules


def _apply_rules(
    name: str,
    model: torch.nn.Module,
    rules: Mapping[str, tuple[str, Transform]],
    official: Mapping[str, torch.Tensor],
    ignored: Mapping[str, str] | None = None,
) -> dict[str, torch.Tensor]:
    """Build the converted state dict, or raise listing every missing, unexpected or mis-shaped key."""
    ours = model.state_dict()
    ignored = dict(ignored or {})
    converted: dict[str, torch.Tensor] = {}
    missing, mismatched = [], []
    for key, target in ours.items():
        if key not in rules:
            missing.append(f"{key} (no conversion rule)")
            continue
        source_key, transform = rules[key]
        if source_key not in official:
            missing.append(source_key)
            continue
        try:
            value = transform(official[source_key])
        except RuntimeError:
            value = None
        if value is None or value.shape != target.shape:
            mismatched.append(
                f"{source_key} {list(official[source_key].shape)} -> {key} expects {list(target.shape)}"
            )
            continue
        converted[key] = value.to(target.dtype).contiguous()
    used = {rules[k][0] for k in ours if k in rules}
    unexpected = sorted(k for k in official if k not in used and k not in ignored)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected: " + ", ".join(unexpected[:8]) + (" ..." if len(unexpected) > 8 else "")
        )
    if mismatched:
        problems.append(
            f"{len(mismatched)} shape mismatches: " + "; ".join(mismatched[:6]) + (" ..." if len(mismatched) > 6 else "")
        )
    if problems:
        raise CheckpointConversionError(
            f"the {name} checkpoint does not match the configuration ({model.__class__.__name__}): "
            + " | ".join(problems)
        )
    return converted


def convert_generator_state_dict(official: Mapping[str, torch.Tensor], generator) -> dict[str, torch.Tensor]:
    """Official ``AppMotionCompFormer`` state dict -> state dict of ``generator`` (a CompensatoryGenerator)."""
    return _apply_rules("generator", generator, _generator_rules(generator, official), official)


def _check_blur_kernel(official: Mapping[str, torch.Tensor], key: str, module, prefix: str) -> str:
    """The official anti-alias kernel is a saved buffer; ours is recomputed. Check that they agree."""
    if key in official and isinstance(module.down, AntiAliasDownsample):
        ours = module.down.weight
        theirs = official[key].to(ours.dtype)
        if theirs.shape != ours.shape or not torch.allclose(theirs, ours, atol=1e-6):
            raise CheckpointConversionError(
                f"the motion estimator checkpoint does not match the configuration: {prefix}.{key} is an "
                f"anti-aliasing kernel {list(theirs.shape)}, the configured scale_factor "
                f"{module.config.scale_factor} needs {list(ours.shape)}"
            )
    return key


def convert_motion_estimator_state_dict(
    official: Mapping[str, torch.Tensor], keypoint_detector, dense_motion
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Official ``Motion_Estimator_keypoint_aware`` state dict -> (keypoint detector, dense motion) state dicts."""
    parts = {}
    for prefix, module in (("kp_detector", keypoint_detector), ("dense_motion_network", dense_motion)):
        sub = {k[len(prefix) + 1:]: v for k, v in official.items() if k.startswith(prefix + ".")}
        blur = _check_blur_kernel(sub, "down.weight", module, prefix)
        rules = {key: (key, _same) for key in module.state_dict()}
        parts[prefix] = _apply_rules(f"{prefix} (motion estimator)", module, rules, sub, ignored={blur: "recomputed"})
    others = sorted(k for k in official if not k.startswith(("kp_detector.", "dense_motion_network.")))
    if others:
        raise CheckpointConversionError(
            f"the motion estimator checkpoint has {len(others)} unexpected keys: {', '.join(others[:8])}"
        )
    return parts["kp_detector"], parts["dense_motion_network"]


def convert_official_checkpoint(
    generator_path: str,
    motion_estimator_path: str,
    output_dir: str | None = None,
    *,
    generator_key: str | None = "params_ema",
    config: str = "vox-256",
    safe_serialization: bool = True,
):
    """Convert the authors' checkpoints into a :class:`~mcc_hf.TalkingHeadPipeline`.

    Args:
        generator_path: ``net_g_latest.pth`` (BasicSR format or a plain state dict).
        motion_estimator_path: ``net_motion_estimator_latest.pth``.
        output_dir: if given, the pipeline folder to write (with a model card stating the CC BY-NC 4.0
            licence). It is written to a temporary folder first and moved into place when complete.
        generator_key: entry of the generator checkpoint (``"params_ema"``, as the authors' demo, or
            ``"params"``); a plain state dict is used as is.
        config: the model configuration the checkpoints were trained with (preset name or JSON file).

    Returns:
        The loaded pipeline (in eval mode, on the CPU).
    """
    from .pipelines.pipeline_talking_head import TalkingHeadPipeline
    from .presets import get_preset

    preset = get_preset(config)
    keypoint_detector, dense_motion, generator = preset.build()

    generator_sd = load_official_state_dict(generator_path, None if generator_key is None else generator_key)
    motion_sd = load_official_state_dict(motion_estimator_path)
    generator.load_state_dict(convert_generator_state_dict(generator_sd, generator), strict=True)
    kp_sd, dm_sd = convert_motion_estimator_state_dict(motion_sd, keypoint_detector, dense_motion)
    keypoint_detector.load_state_dict(kp_sd, strict=True)
    dense_motion.load_state_dict(dm_sd, strict=True)

    pipe = TalkingHeadPipeline(keypoint_detector=keypoint_detector, dense_motion=dense_motion, generator=generator)
    for module in (keypoint_detector, dense_motion, generator):
        module.eval()

    if output_dir is not None:
        output_dir = os.path.abspath(output_dir)
        with atomic_folder(output_dir, replace=False) as staging:
            pipe.save_pretrained(staging, safe_serialization=safe_serialization)
            with open(os.path.join(staging, "README.md"), "w", encoding="utf-8") as f:
                f.write(MODEL_CARD.format(
                    generator=os.path.basename(generator_path), motion_estimator=os.path.basename(motion_estimator_path),
                    param_key=generator_key or "plain", preset=preset.name, output=output_dir,
                ))
        logger.debug("wrote converted pipeline to %s", output_dir)
    return pipe
