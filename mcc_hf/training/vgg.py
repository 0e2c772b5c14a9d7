# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The frozen VGG19 features of the perceptual loss: the shared trunk of :mod:`mcc_hf.evaluation.vgg`
up to ``relu5_1``, with the released normalisation. No weights ship with this package: the user passes
a local file or folder, or a Hub file ``hf://owner/repo[/path]`` (see :mod:`mcc_hf.evaluation.weights`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..evaluation.vgg import VGGTrunk

__all__ = ["VGG19Features", "VGG_LAYER_SLICES", "WEIGHTS_HELP", "vgg_l1"]

# Feature slices ending after relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 (torchvision indices).
VGG_LAYER_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WEIGHTS_HELP = (
    "The perceptual loss needs ImageNet VGG19 weights in torchvision's layout (keys 'features.N.weight'): "
    "pass --vgg_weights with a local .safetensors/.pth file or folder, or a Hub file such as "
    "'hf://timm/vgg19.tv_in1k' (hf://owner/repo[/path/in/repo]), or turn the perceptual loss off explicitly "
    "with --perceptual_weight 0."
)


class VGG19Features(VGGTrunk):
    """VGG19 trunk up to ``relu5_1``, frozen, returning the outputs of the five slices
    (:data:`VGG_LAYER_SLICES`): ``[B, 64, H, W]``, ``[B, 128, H/2, W/2]``, ... ``[B, 512, H/16, W/16]``.

    Input: ``[B, 3, H, W]`` images. As in the released training code, the ImageNet mean/std
    normalisation is applied to the image as given (the model range ``[-1, 1]``), without first
    mapping it to ``[0, 1]``.
    """

    weights_help = WEIGHTS_HELP

    def __init__(self):
        super().__init__("vgg19", num_layers=VGG_LAYER_SLICES[-1][1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        return self.activations(x, tuple(end - 1 for _, end in VGG_LAYER_SLICES))


def vgg_l1(vgg: VGG19Features, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the five slices of ``mean |vgg(prediction) - vgg(target)|`` (target features detached)."""
    with torch.no_grad():
        target_features = vgg(target)
    return sum(F.l1_loss(p, t.detach()) for p, t in zip(vgg(prediction), target_features))
