# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The one place that turns a user's weights argument into a state dict (no pretrained weights ship
with mcc-hf; the perceptual training loss, LPIPS and FID all read their weights through here).

A weights argument is one of:

- a local file: ``.safetensors``, or a torch state dict (``.pth`` / ``.pt`` / ``.bin``, read with
  ``weights_only=True``; a ``{"state_dict": ...}`` wrapper is unwrapped);
- a local folder: its ``model.safetensors`` or ``pytorch_model.bin``, else its only weights file;
- a Hub file, in huggingface_hub's URL syntax ``hf://owner/repo[@revision][/path/in/repo]``
  (``hf://datasets/...`` and ``hf://spaces/...`` for other repository types). Without a path the
  repository's ``model.safetensors`` is used (e.g. ``hf://timm/vgg19.tv_in1k``). The file is
  downloaded once into the Hugging Face cache; with ``HF_HUB_OFFLINE=1`` only the cache is used.
"""

from __future__ import annotations

import os

import torch

from ..errors import ModelLoadingError

__all__ = ["HUB_PREFIX", "load_state_dict", "resolve_weights"]

HUB_PREFIX = "hf://"
#: The file of a Hub repository (or local folder) used when none is named.
DEFAULT_FILE = "model.safetensors"
_FOLDER_FILES = (DEFAULT_FILE, "pytorch_model.bin")
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
_REPO_TYPES = {"datasets": "dataset", "spaces": "space"}


def _with_hint(message: str, hint: str) -> str:
    return f"{message}. {hint}" if hint else message


def _hub_download(spec: str, hint: str) -> str:
    """``hf://[datasets/|spaces/]owner/repo[@revision][/path]`` -> a local file in the Hub cache."""
    parts = spec[len(HUB_PREFIX):].split("/")
    repo_type = _REPO_TYPES.get(parts[0]) if len(parts) > 2 else None
    if repo_type is not None:
        parts = parts[1:]
    if len(parts) < 2 or not all(parts):
        raise ModelLoadingError(_with_hint(f"a Hub weights file is written hf://owner/repo[/path/in/repo], got {spec!r}", hint))
    name, _, revision = parts[1].partition("@")
    repo_id, filename = f"{parts[0]}/{name}", "/".join(parts[2:]) or DEFAULT_FILE
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision or None)
    except Exception as e:  # noqa: BLE001  (offline, missing repo or file, auth: all reported the same way)
        raise ModelLoadingError(_with_hint(f"cannot fetch {spec}: {str(e).splitlines()[0]}", hint)) from e


def _folder_file(folder: str, hint: str) -> str:
    for name in _FOLDER_FILES:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    found = sorted(n for n in os.listdir(folder) if n.endswith(_WEIGHT_SUFFIXES))
    if len(found) == 1:
        return os.path.join(folder, found[0])
    what = "no weights file" if not found else f"{len(found)} weights files ({', '.join(found)})"
    raise ModelLoadingError(_with_hint(f"{what} in folder {folder}; name the file", hint))


def resolve_weights(spec: str, hint: str = "") -> str:
    """The local path of the weights file ``spec`` names (see the module docstring for the forms).

    Args:
        spec: a local file or folder, or ``hf://owner/repo[@revision][/path/in/repo]``.
        hint: a sentence appended to every error, telling the user how to provide the weights.

    Raises:
        ModelLoadingError: the file does not exist or cannot be fetched.
    """
    if spec.startswith(HUB_PREFIX):
        return _hub_download(spec, hint)
    path = os.path.expanduser(spec)
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        return _folder_file(path, hint)
    repo, _, filename = spec.partition(":")  # 'owner/name:file' was the perceptual loss's old Hub syntax
    advice = ""
    if repo.count("/") == 1 and not repo.startswith((".", "/", "~")):
        advice = f" (a Hub file is written {HUB_PREFIX}{repo}{'/' + filename if filename else '[/path/in/repo]'})"
    raise ModelLoadingError(_with_hint(f"weights file not found: {spec}{advice}", hint))


def load_state_dict(spec: str, hint: str = "") -> dict[str, torch.Tensor]:
    """Read the tensors of the weights file ``spec`` names (on the CPU, as stored).

    Raises:
        ModelLoadingError: the file cannot be found, fetched or read, or does not hold a state dict.
    """
    path = resolve_weights(spec, hint)
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (corrupt file, pickle with code, wrong format)
        raise ModelLoadingError(_with_hint(f"cannot read weights from {path}: {str(e).splitlines()[0]}", hint)) from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadingError(_with_hint(f"{path} does not hold a state dict", hint))
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
