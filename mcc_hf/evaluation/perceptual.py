# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""LPIPS and FID, computed only from weights the user supplies (no pretrained backbone ships in a
wheel, and scores from random weights would be meaningless, so nothing here initialises one).

- LPIPS (VGG16 variant of Zhang et al. 2018) on the shared VGG trunk (:mod:`mcc_hf.evaluation.vgg`,
  torchvision is not needed): load ImageNet VGG16 weights in torchvision's key layout
  (``features.0.weight`` ...) and the LPIPS linear heads (``lin0.model.1.weight`` ... as in the
  ``lpips`` package's ``weights/v0.1/vgg.pth``).
- FID: a TorchScript Inception feature extractor called as ``model(images_uint8, return_features=True)``
  returning ``[N, 2048]`` (the interface of NVIDIA's ``inception-2015-12-05.pt`` used by StyleGAN2-ADA
  and clean-fid).

Weights are read with :mod:`mcc_hf.evaluation.weights`: a local file, or a Hub file
``hf://owner/repo[@revision]/path/in/repo``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ModelLoadingError
from ..image_processing import to_uint8
from .vgg import VGGTrunk
from .weights import load_state_dict, resolve_weights

__all__ = ["FIDFeatures", "LPIPSVGG", "frechet_distance", "load_lpips"]

# Indices (in the VGG16 features) of the ReLUs LPIPS taps: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_TAPS = (3, 8, 15, 22, 29)
_TAP_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS input scaling (applied to images in [-1, 1]).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)

LPIPS_HELP = (
    "LPIPS needs --lpips-backbone (ImageNet VGG16 weights, torchvision layout) and --lpips-heads (the lpips "
    "package's weights/v0.1/vgg.pth), each a local file or a Hub file hf://owner/repo/path/in/repo"
)
FID_HELP = "FID needs --fid-model: a TorchScript Inception feature extractor, a local file or hf://owner/repo/path/in/repo"


class LPIPSVGG(VGGTrunk):
    """LPIPS distance with a VGG16 backbone: unit-normalised features of five ReLU layers, squared
    differences weighted per channel by the linear heads, averaged over space and summed over layers."""

    weights_help = LPIPS_HELP

    def __init__(self):
        super().__init__("vgg16", num_layers=_TAPS[-1] + 1)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _TAP_CHANNELS).requires_grad_(False)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    def _taps(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = ((images * 2 - 1) - self.shift) / self.scale
        return [a / (a.square().sum(1, keepdim=True).sqrt() + 1e-10) for a in self.activations(x, _TAPS)]

    @torch.no_grad()
    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``[T, 3, H, W]`` pairs in ``[0, 1]`` -> ``[T]`` distances (0 for identical images), on the model's device."""
        prediction = prediction.to(self.shift.device, self.shift.dtype)
        target = target.to(self.shift.device, self.shift.dtype)
        distance = torch.zeros(len(prediction), device=prediction.device)
        for head, a, b in zip(self.heads, self._taps(prediction), self._taps(target)):
            distance += head((a - b).square()).mean(dim=(1, 2, 3))
        return distance

    def load_weights(self, backbone: dict[str, torch.Tensor], heads: dict[str, torch.Tensor]) -> None:
        """Load torchvision-layout VGG16 weights and LPIPS heads; every parameter must be present."""
        self.load_features(backbone, "the VGG16 weights")
        for index, head in enumerate(self.heads):
            key = next((k for k in (f"lin{index}.model.1.weight", f"lin{index}.weight") if k in heads), None)
            if key is None:
                raise self._error(f"the LPIPS heads lack lin{index}.model.1.weight")
            if heads[key].numel() != head.weight.numel():
                raise self._error(f"the LPIPS head lin{index} has {heads[key].numel()} weights, VGG16 needs {head.weight.numel()}")
            head.weight.data.copy_(heads[key].reshape(head.weight.shape))


def load_lpips(backbone: str, heads: str, device: str | torch.device = "cpu") -> LPIPSVGG:
    """LPIPS-VGG from a VGG16 state dict file and an LPIPS heads file (paths or ``hf://`` files)."""
    model = LPIPSVGG()
    model.load_weights(load_state_dict(backbone, LPIPS_HELP), load_state_dict(heads, LPIPS_HELP))
    return model.to(device)


class FIDFeatures:
    """Inception pool features from a TorchScript file (``model(uint8 [N, 3, H, W], return_features=True)``)."""

    def __init__(self, weights: str, device: str | torch.device = "cpu", batch_size: int = 16):
        path = resolve_weights(weights, FID_HELP)
        try:
            self.model = torch.jit.load(path, map_location=device).eval()
        except Exception as e:  # noqa: BLE001
            raise ModelLoadingError(f"{weights} is not a TorchScript Inception feature extractor: {str(e).splitlines()[0]}") from e
        self.device = device
        self.batch_size = batch_size

    @torch.no_grad()
    def features(self, frames: torch.Tensor) -> np.ndarray:
        """``[T, 3, H, W]`` in ``[0, 1]`` -> ``[T, D]`` float64."""
        images = torch.from_numpy(to_uint8(frames.float().cpu())).permute(0, 3, 1, 2)
        chunks = [
            self.model(images[i:i + self.batch_size].to(self.device), return_features=True).double().cpu()
            for i in range(0, len(images), self.batch_size)
        ]
        return torch.cat(chunks).numpy()


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``[N, D]``:
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. Needs at least 2 samples each; with
    fewer samples than dimensions the covariances are singular and the value is biased upwards."""
    import scipy.linalg

    if len(features_a) < 2 or len(features_b) < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples per set")
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    sigma_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    sigma_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    root = scipy.linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(root).all():
        offset = np.eye(len(sigma_a)) * 1e-6
        root = scipy.linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    root = root.real
    return float(np.square(mu_a - mu_b).sum() + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(root))
