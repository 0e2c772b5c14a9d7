# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The VGG16 / VGG19 convolutional trunk shared by the perceptual training loss
(:class:`mcc_hf.training.vgg.VGG19Features`) and LPIPS (:class:`mcc_hf.evaluation.perceptual.LPIPSVGG`).

The layers follow torchvision's ``vgg16().features`` / ``vgg19().features`` index for index, so
ImageNet weights in that layout (``features.N.weight`` / ``features.N.bias``: a torchvision state dict,
or e.g. the safetensors of ``timm/vgg19.tv_in1k``) load directly; torchvision itself is not needed.
No weights ship with mcc-hf: they are read with :func:`mcc_hf.evaluation.weights.load_state_dict`.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from ..errors import ModelLoadingError
from .weights import load_state_dict

__all__ = ["VGG_LAYOUTS", "VGGTrunk"]

#: Convolution widths of torchvision's VGG ``features``; each is a 3x3 conv + ReLU, "M" a 2x2 max pool.
VGG_LAYOUTS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
# A conv tensor of a torchvision-layout state dict, with any prefix ("features.3.bias", "model.features.3.bias").
_KEY = re.compile(r"(?:^|\.)features\.(\d+)\.(weight|bias)$")


def _layers(layout: tuple[int | str, ...]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            channels = item
    return layers


class VGGTrunk(nn.Module):
    """The first ``num_layers`` modules of torchvision's VGG ``features``, frozen (always in eval mode,
    no gradients to its parameters; gradients still flow to the input).

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        num_layers: modules kept (30 ends both at ``relu5_1`` of VGG19 and ``relu5_3`` of VGG16).

    Subclasses define how images are normalised and which activations they use; :meth:`activations`
    runs the trunk and returns the outputs of the modules at the given indices.
    """

    #: Appended to weight-loading errors: how the user provides the weights (set by subclasses).
    weights_help: str = ""

    def __init__(self, arch: str = "vgg19", num_layers: int = 30):
        super().__init__()
        if arch not in VGG_LAYOUTS:
            raise ValueError(f"arch must be one of {', '.join(VGG_LAYOUTS)}, got {arch!r}")
        self.arch = arch
        self.features = nn.Sequential(*_layers(VGG_LAYOUTS[arch])[:num_layers])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGTrunk":
        return super().train(False)  # always frozen

    def activations(self, images: torch.Tensor, indices: tuple[int, ...]) -> list[torch.Tensor]:
        """``[B, 3, H, W]`` (already normalised) -> the outputs of ``features[i]`` for each ``i`` in ``indices`` (ascending)."""
        outputs = []
        x = images
        for index, layer in enumerate(self.features[: indices[-1] + 1]):
            x = layer(x)
            if index in indices:
                outputs.append(x)
        return outputs

    def load_features(self, state: dict[str, torch.Tensor], source: str = "the weights") -> None:
        """Load the conv tensors of a torchvision-layout state dict (other keys are ignored); every conv
        of the trunk must be present with the right shape.

        Raises:
            ModelLoadingError: a tensor is missing or has the wrong shape.
        """
        found = {f"{m.group(1)}.{m.group(2)}": v for k, v in state.items() if (m := _KEY.search(k))}
        expected = self.features.state_dict()
        missing = [k for k in expected if k not in found]
        if missing:
            raise self._error(f"{source} lack {len(missing)} of the {len(expected)} {self.arch.upper()} tensors "
                              f"this model needs (e.g. features.{missing[0]})")
        for key, tensor in expected.items():
            if found[key].shape != tensor.shape:
                raise self._error(f"{source} do not fit the {self.arch.upper()} layout: features.{key} has shape "
                                  f"{list(found[key].shape)}, {self.arch.upper()} needs {list(tensor.shape)}")
        self.features.load_state_dict({k: found[k].float() for k in expected})

    @classmethod
    def from_weights(cls, weights: str) -> "VGGTrunk":
        """Build the model and load its trunk from a file, folder or ``hf://`` Hub file
        (see :mod:`mcc_hf.evaluation.weights`)."""
        model = cls()
        model.load_features(load_state_dict(weights, cls.weights_help), f"the weights {weights!r}")
        return model

    def _error(self, message: str) -> ModelLoadingError:
        return ModelLoadingError(f"{message}. {self.weights_help}" if self.weights_help else message)
