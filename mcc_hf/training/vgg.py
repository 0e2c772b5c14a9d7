# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""A frozen VGG19 feature extractor for the perceptual loss, defined here (no torchvision needed).

The layer layout follows torchvision's ``vgg19().features`` up to ``relu5_1`` (indices 0-29), so
ImageNet weights saved in that layout (``features.N.weight`` / ``features.N.bias``, e.g. a
torchvision state dict or the ``timm/vgg19.tv_in1k`` safetensors) load directly. No weights ship
with this package: the user passes a local file or a Hub id.
"""

from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserInputError

__all__ = ["VGG19Features", "VGG_LAYER_SLICES", "load_vgg19_state_dict"]

# (in, out) channels of the conv layers up to relu5_1; "M" is a 2x2 max-pool.
_VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]
# Feature slices ending after relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1.
VGG_LAYER_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_KEY = re.compile(r"(?:^|\.)features\.(\d+)\.(weight|bias)$")

WEIGHTS_HELP = (
    "The perceptual loss needs ImageNet VGG19 weights in torchvision's layout (keys 'features.N.weight'): "
    "pass --vgg_weights with a local .safetensors/.pth file or a Hub id such as 'timm/vgg19.tv_in1k' "
    "(optionally 'repo_id:filename'), or turn the perceptual loss off explicitly with --perceptual_weight 0."
)


class VGG19Features(nn.Module):
    """VGG19 convolutional trunk up to ``relu5_1``, frozen, returning the five slice outputs.

    Input: ``[B, 3, H, W]`` images. As in the released training code, the ImageNet mean/std
    normalisation is applied to the image as given (the model range ``[-1, 1]``), without first
    mapping it to ``[0, 1]``.
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features = nn.Sequential(*layers)  # indices 0..29, as torchvision
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # always frozen

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        outputs = []
        for start, end in VGG_LAYER_SLICES:
            for layer in self.features[start:end]:
                x = layer(x)
            outputs.append(x)
        return outputs

    @classmethod
    def from_weights(cls, weights: str) -> "VGG19Features":
        model = cls()
        state = load_vgg19_state_dict(weights)
        expected = {k for k in model.features.state_dict()}
        missing = sorted(expected - set(state))
        if missing:
            raise UserInputError(
                f"VGG19 weights {weights!r} lack {len(missing)} tensor(s) of the layers up to relu5_1 "
                f"(e.g. features.{missing[0]}). {WEIGHTS_HELP}"
            )
        try:
            model.features.load_state_dict({k: state[k] for k in expected})
        except RuntimeError as e:
            raise UserInputError(f"VGG19 weights {weights!r} do not fit the VGG19 layout: {e}") from e
        return model


def _resolve_weights_file(weights: str) -> str:
    if os.path.isfile(weights):
        return weights
    if os.path.isdir(weights):
        for name in ("model.safetensors", "vgg19.safetensors", "pytorch_model.bin", "vgg19.pth"):
            if os.path.isfile(os.path.join(weights, name)):
                return os.path.join(weights, name)
        raise UserInputError(f"no VGG19 weight file found in folder {weights}. {WEIGHTS_HELP}")
    repo_id, _, filename = weights.partition(":")
    if repo_id.count("/") != 1:
        raise UserInputError(f"VGG19 weights {weights!r}: no such file, and not a Hub id 'owner/name'. {WEIGHTS_HELP}")
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, filename or "model.safetensors")
    except Exception as e:  # offline, missing repo or file: all need the same advice
        raise UserInputError(f"cannot get VGG19 weights from the Hub ({weights}): {e}. {WEIGHTS_HELP}") from e


def load_vgg19_state_dict(weights: str) -> dict[str, torch.Tensor]:
    """Read VGG19 conv weights from a file, folder or Hub id; keys are normalised to ``features.N.weight``/``bias``."""
    path = _resolve_weights_file(weights)
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            raw = load_file(path)
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
                raw = raw["state_dict"]
    except Exception as e:
        raise UserInputError(f"cannot read VGG19 weights from {path}: {e}. {WEIGHTS_HELP}") from e
    state = {}
    for key, value in raw.items():
        match = _KEY.search(key)
        if match and isinstance(value, torch.Tensor):
            state[f"{match.group(1)}.{match.group(2)}"] = value.float()
    return state


def vgg_l1(vgg: VGG19Features, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the five slices of ``mean |vgg(prediction) - vgg(target)|`` (target features detached)."""
    with torch.no_grad():
        target_features = vgg(target)
    return sum(F.l1_loss(p, t.detach()) for p, t in zip(vgg(prediction), target_features))
