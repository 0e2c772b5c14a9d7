# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Loading a talking-head pipeline from a local folder or a Hub id, with errors that name the problem."""

from __future__ import annotations

import logging
import os

import torch

from .defaults import DEFAULT_MODEL, DEFAULT_MODEL_NAME
from .errors import ModelLoadingError

logger = logging.getLogger(__name__)

__all__ = ["load_pipeline", "resolve_model"]


def resolve_model(model: str | None) -> str:
    """``None`` or the default name -> the bundled default folder; anything else is returned unchanged."""
    if model is None or model == DEFAULT_MODEL_NAME:
        if not os.path.isfile(os.path.join(DEFAULT_MODEL, "model_index.json")):
            raise ModelLoadingError(
                f"the bundled default model is missing from this installation ({DEFAULT_MODEL}); "
                "reinstall mcc-hf or pass a model folder or Hub id"
            )
        return DEFAULT_MODEL
    return model


def load_pipeline(model: str | None = None, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, **kwargs):
    """Load a :class:`~mcc_hf.TalkingHeadPipeline` in eval mode on ``device`` in ``dtype``.

    Args:
        model: a local pipeline folder (with ``model_index.json``), a Hugging Face Hub repo id, or
            ``None`` / ``"mcc-hf-default"`` for the bundled default model.
        kwargs: passed to ``TalkingHeadPipeline.from_pretrained``.

    Raises:
        ModelLoadingError: the folder is missing or incomplete, the Hub id cannot be fetched, or a
            component's weights do not match its configuration.
    """
    from .pipelines.pipeline_talking_head import TalkingHeadPipeline

    model = resolve_model(model)
    looks_local = os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model)
    if looks_local:
        path = os.path.expanduser(model)
        if not os.path.isdir(path):
            raise ModelLoadingError(f"model folder not found: {model}")
        if not os.path.isfile(os.path.join(path, "model_index.json")):
            raise ModelLoadingError(f"{model} is not a pipeline folder (it has no model_index.json)")
        model = path
    try:
        pipe = TalkingHeadPipeline.from_pretrained(model, dtype=dtype, **kwargs)
    except (OSError, EnvironmentError) as e:
        where = "folder" if looks_local else "Hub repository"
        raise ModelLoadingError(f"cannot load the {where} {model!r}: {str(e).splitlines()[0]}") from e
    except ValueError as e:
        message = str(e).splitlines()[0]
        if "expected shape" in message or "size mismatch" in message or "incompatible" in message:
            raise ModelLoadingError(f"the weights in {model!r} do not match its configuration: {message}") from e
        if "neither a valid local path nor a valid repo id" in message:
            raise ModelLoadingError(f"{model!r} is neither a pipeline folder nor a Hub repo id") from e
        raise ModelLoadingError(f"cannot load {model!r}: {message}") from e
    for component in (pipe.keypoint_detector, pipe.dense_motion, pipe.generator):
        component.eval()
    return pipe.to(device)
