# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Loading a talking-head pipeline from a local folder or a Hub id, with errors that name the problem.

:func:`load_pipeline` resolves the model to a local folder first (downloading a Hub repository into
the Hugging Face cache), checks every component's weights against its configuration (tensor names
and shapes, read from the safetensors headers without loading any weight), and only then calls
``TalkingHeadPipeline.from_pretrained``. Failures are told apart by their exception types and by
these checks, never by the wording of another library's messages.
"""

from __future__ import annotations

import json
import logging
import os

import torch

from .defaults import DEFAULT_MODEL, DEFAULT_MODEL_NAME
from .errors import ModelLoadingError

logger = logging.getLogger(__name__)

__all__ = ["check_weights_match_config", "load_pipeline", "resolve_model"]

#: The pipeline's components, in ``model_index.json`` order.
COMPONENTS = ("keypoint_detector", "dense_motion", "generator")


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


def _local_folder(model: str, **download_kwargs) -> str:
    """A local pipeline folder for ``model`` (a folder path, or a Hub id downloaded into the cache)."""
    looks_local = os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model)
    if looks_local:
        path = os.path.expanduser(model)
        if not os.path.isdir(path):
            raise ModelLoadingError(f"model folder not found: {model}")
        if not os.path.isfile(os.path.join(path, "model_index.json")):
            raise ModelLoadingError(f"{model} is not a pipeline folder (it has no model_index.json)")
        return path
    from huggingface_hub.errors import HFValidationError

    from .pipelines.pipeline_talking_head import TalkingHeadPipeline

    try:
        return TalkingHeadPipeline.download(model, **download_kwargs)
    except HFValidationError as e:
        raise ModelLoadingError(f"{model!r} is neither a pipeline folder nor a valid Hub repo id") from e
    except OSError as e:  # not found, offline without a cached copy, no access, network errors
        raise ModelLoadingError(f"cannot load the Hub repository {model!r}: {str(e).splitlines()[0]}") from e


def check_weights_match_config(folder: str) -> None:
    """Compare each component's saved tensors with the model its ``config.json`` describes.

    Raises:
        ModelLoadingError: naming the component and the first missing, unexpected or mis-shaped tensors.
    """
    from accelerate import init_empty_weights
    from safetensors import safe_open

    from .generator import CompensatoryGenerator
    from .motion.dense_motion import DenseMotionNetwork
    from .motion.keypoint_detector import KeypointDetector

    classes = {"keypoint_detector": KeypointDetector, "dense_motion": DenseMotionNetwork, "generator": CompensatoryGenerator}
    for name in COMPONENTS:
        component = os.path.join(folder, name)
        weights = sorted(f for f in os.listdir(component) if f.endswith(".safetensors")) if os.path.isdir(component) else []
        if not weights:
            continue  # a .bin checkpoint or a missing folder: from_pretrained reports it
        with open(os.path.join(component, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        try:
            with init_empty_weights():
                model = classes[name].from_config(config)
        except (TypeError, ValueError) as e:
            raise ModelLoadingError(f"the {name} configuration in {folder} is not valid: {e}") from e
        expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
        saved = {}
        for file in weights:
            with safe_open(os.path.join(component, file), framework="pt") as handle:
                saved.update({key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()})
        problems = [f"{k} has shape {list(saved[k])}, the config needs {list(v)}"
                    for k, v in expected.items() if k in saved and saved[k] != v]
        problems += [f"missing {k}" for k in expected if k not in saved]
        problems += [f"unexpected {k}" for k in saved if k not in expected]
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise ModelLoadingError(
                f"the weights in {folder!r} do not match its configuration: {name}: {'; '.join(problems[:3])}{more}"
            )


def load_pipeline(model: str | None = None, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, **kwargs):
    """Load a :class:`~mcc_hf.TalkingHeadPipeline` in eval mode on ``device`` in ``dtype``.

    Args:
        model: a local pipeline folder (with ``model_index.json``), a Hugging Face Hub repo id, or
            ``None`` / ``"mcc-hf-default"`` for the bundled default model.
        kwargs: passed to ``TalkingHeadPipeline.from_pretrained`` (and, for a Hub id, to its download:
            ``revision``, ``token``, ``cache_dir``, ...).

    Raises:
        ModelLoadingError: the folder is missing or incomplete, the Hub id cannot be fetched, or a
            component's weights do not match its configuration.
    """
    from .pipelines.pipeline_talking_head import TalkingHeadPipeline

    model = resolve_model(model)
    download_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
    folder = _local_folder(model, **download_kwargs)
    check_weights_match_config(folder)
    try:
        pipe = TalkingHeadPipeline.from_pretrained(folder, dtype=dtype, **kwargs)
    except OSError as e:
        raise ModelLoadingError(f"cannot load {model!r}: {str(e).splitlines()[0]}") from e
    except ModelLoadingError:
        raise
    except ValueError as e:  # a component refused its configuration, or the components do not fit together
        raise ModelLoadingError(f"cannot load {model!r}: {str(e).splitlines()[0]}") from e
    for component in (pipe.keypoint_detector, pipe.dense_motion, pipe.generator):
        component.eval()
    return pipe.to(device)
