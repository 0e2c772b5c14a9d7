# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Faster inference: mixed precision for the per-frame loop and regional ``torch.compile``.

* :func:`inference_autocast` runs the convolutional trunks and the attention in bfloat16 or
  float16 while the geometry stays in float32: keypoint softmax and expectation, Jacobians and their
  inverses, relative motion, identity and sampling grids, flow blending and accumulation (see
  :mod:`mcc_hf.motion.geometry`). The weights stay in float32; autocast casts them per call.
* :func:`compile_per_frame` compiles, in place, the modules that run for every driving frame (the
  keypoint detector, the dense motion network, the generator's decoder blocks, fusion modules and
  compensators) rather than the whole pipeline, so compilation takes minutes, not tens of minutes.

Typical use (the pipeline's frame loop does the same)::

    from mcc_hf.precision import compile_per_frame, inference_autocast

    animator = Animator(keypoint_detector, dense_motion, generator)
    compile_per_frame(keypoint_detector, dense_motion, generator)  # optional; first frames compile
    with torch.inference_mode():
        source = animator.prepare_source(source_image)  # float32, once per video
        with inference_autocast(device, torch.bfloat16):
            for batch in driving_batches:
                frames = animator.render(source, animator.detect_keypoints(batch)).sample.float()

How close each mode is to float32, per device, is measured in ``docs/performance.md``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from torch import nn

__all__ = [
    "HALF_DTYPES",
    "compile_per_frame",
    "default_half_dtype",
    "inference_autocast",
    "per_frame_modules",
]

logger = logging.getLogger(__name__)

#: The reduced-precision dtypes :func:`inference_autocast` accepts (float32 turns it off).
HALF_DTYPES = (torch.bfloat16, torch.float16)


def default_half_dtype(device: str | torch.device) -> torch.dtype:
    """The reduced precision to use on ``device``: bfloat16 on CPUs and on GPUs that support it
    (its float32 exponent range cannot overflow), else float16."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16


def inference_autocast(device: str | torch.device, dtype: torch.dtype | None = torch.bfloat16):
    """Context manager for mixed-precision inference on ``device``.

    Inside it, convolutions, linear layers and attention run in ``dtype`` (bfloat16 or float16) with
    float32 weights; the geometry functions of :mod:`mcc_hf.motion` keep computing in float32, so
    keypoints, Jacobians, sampling grids and flows are not rounded. Wrap the whole frame loop (not
    each frame): autocast then casts each weight that requires grad once per context instead of
    once per call. Prepare the source outside it to keep the cached source features in float32.

    Args:
        device: the device the models run on (``"cpu"``, ``"cuda"``, ``torch.device("cuda:1")``, ...).
        dtype: ``torch.bfloat16``, ``torch.float16``, or ``torch.float32``/``None`` for a context that
            changes nothing (so callers need no branch).

    Raises:
        ValueError: for any other dtype, or a device type autocast does not support.
    """
    device_type = torch.device(device).type
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    if dtype not in HALF_DTYPES:
        raise ValueError(f"mixed precision needs torch.bfloat16 or torch.float16, got {dtype}")
    if not torch.amp.is_autocast_available(device_type):
        raise ValueError(f"autocast is not available on {device_type!r} devices")
    return torch.autocast(device_type=device_type, dtype=dtype)


def per_frame_modules(keypoint_detector: nn.Module, dense_motion: nn.Module, generator: nn.Module) -> list[nn.Module]:
    """The modules that run once per driving frame (or batch of frames), in order of first use.

    The keypoint detector and the dense motion network as a whole; of the generator, every decoder
    block, every fusion module and both compensators (if present). Not the source encoder, which
    runs once per video, and not the generator's forward itself, whose loop over scales would make
    one very large graph. Lone ``torch.nn`` layers (a single convolution or norm) are left out.
    """
    modules: list[nn.Module] = [keypoint_detector, dense_motion]
    for compensator in (generator.motion_compensator, generator.appearance_compensator):
        if compensator is not None:
            modules.append(compensator)
    modules += list(generator.decoder.blocks)
    modules += list(generator.fusion)
    # A lone torch.nn layer (the decoder's first convolution, its closing norm and convolution) is one
    # kernel already: compiling it alone gains nothing.
    return [module for module in modules if not type(module).__module__.startswith("torch.nn.")]


def compile_per_frame(
    keypoint_detector: nn.Module,
    dense_motion: nn.Module,
    generator: nn.Module,
    *,
    dynamic: bool | None = False,
    **compile_options: Any,
) -> list[nn.Module]:
    """Regional compilation: ``module.compile()`` (in place) on each of :func:`per_frame_modules`.

    Compilation happens on first use, module by module, for each distinct input shape (a new batch
    size compiles again; keep the batch size fixed). The modules keep their parameters and state
    dict, and the same object may be saved, moved or wrapped in autocast afterwards. Eager speed
    comes back only by rebuilding the modules (e.g. reloading the pipeline).

    Args:
        keypoint_detector, dense_motion, generator: the pipeline's components.
        dynamic: passed to ``torch.compile``; ``False`` (the default) compiles static shapes, which
            suits a fixed frame size and batch size and gives the fastest CPU code.
        compile_options: further ``torch.compile`` arguments (``mode``, ``backend``, ``fullgraph``, ...).

    Returns:
        The modules that were compiled.
    """
    modules = per_frame_modules(keypoint_detector, dense_motion, generator)
    for module in modules:
        module.compile(dynamic=dynamic, **compile_options)
    logger.info("compiling %d per-frame modules on first use", len(modules))
    return modules
