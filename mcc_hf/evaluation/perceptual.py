# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""LPIPS and FID, computed only from weights the user supplies (no pretrained backbone ships in a
wheel, and scores from random weights would be meaningless, so nothing here initialises one).

- LPIPS (VGG16 variant of Zhang et al. 2018): the VGG16 ``features`` convolutions are defined
  here (torchvision is not needed); load ImageNet VGG16 weights in torchvision's key layout
  (``features.0.weight`` ...) and the LPIPS linear heads (``lin0.model.1.weight`` ... as in the
  ``lpips`` package's ``weights/v0.1/vgg.pth``).
- FID: a TorchScript Inception feature extractor called as ``model(images_uint8, return_features=True)``
  returning ``[N, 2048]`` (the interface of NVIDIA's ``inception-2015-12-05.pt`` used by StyleGAN2-ADA
  and clean-fid).

Weights are given as a local file or a Hub file ``hf://owner/repo/path/in/repo``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ..errors import ModelLoadingError
from ..image_processing import to_uint8

__all__ = ["FIDFeatures", "LPIPSVGG", "frechet_distance", "load_lpips", "resolve_weights"]

# VGG16 "features" in torchvision's layout: ints are 3x3 convolutions (+ ReLU), "M" a 2x2 max pool.
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
# Indices (in the features Sequential) of the ReLUs LPIPS taps: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_TAPS = (3, 8, 15, 22, 29)
_TAP_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS input scaling (applied to images in [-1, 1]).
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def resolve_weights(spec: str) -> str:
    """A local file path, or ``hf://owner/repo/path`` downloaded (or read from the cache) with huggingface_hub."""
    if spec.startswith("hf://"):
        parts = spec[len("hf://"):].split("/", 2)
        if len(parts) != 3 or not all(parts):
            raise ModelLoadingError(f"a Hub weights file is written hf://owner/repo/path/in/repo, got {spec!r}")
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(repo_id=f"{parts[0]}/{parts[1]}", filename=parts[2])
        except Exception as e:  # noqa: BLE001  (network, auth, missing file: all reported the same way)
            raise ModelLoadingError(f"cannot fetch {spec}: {str(e).splitlines()[0]}") from e
    path = os.path.expanduser(spec)
    if not os.path.isfile(path):
        raise ModelLoadingError(f"weights file not found: {spec}")
    return path


def _load_state_dict(path: str) -> dict[str, torch.Tensor]:
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadingError(f"cannot read weights from {path}: {str(e).splitlines()[0]}") from e
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadingError(f"{path} does not hold a state dict")
    return state


class LPIPSVGG(nn.Module):
    """LPIPS distance with a VGG16 backbone: unit-normalised features of five ReLU layers, squared
    differences weighted per channel by the linear heads, averaged over space and summed over layers."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG16:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _TAP_CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    def _taps(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = ((images * 2 - 1) - self.shift) / self.scale
        taps = []
        for index, layer in enumerate(self.features[: _TAPS[-1] + 1]):
            x = layer(x)
            if index in _TAPS:
                taps.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10))
        return taps

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
        features = {k[len("features."):]: v for k, v in backbone.items() if k.startswith("features.")}
        missing, _ = self.features.load_state_dict(features, strict=False)
        if missing:
            raise ModelLoadingError(f"the VGG16 weights lack {len(missing)} tensors (e.g. features.{missing[0]})")
        for index, head in enumerate(self.heads):
            key = next((k for k in (f"lin{index}.model.1.weight", f"lin{index}.weight") if k in heads), None)
            if key is None:
                raise ModelLoadingError(f"the LPIPS heads lack lin{index}.model.1.weight")
            head.weight.data.copy_(heads[key].reshape(head.weight.shape))


def load_lpips(backbone: str, heads: str, device: str | torch.device = "cpu") -> LPIPSVGG:
    """LPIPS-VGG from a VGG16 state dict file and an LPIPS heads file (paths or ``hf://`` files)."""
    model = LPIPSVGG()
    try:
        model.load_weights(_load_state_dict(resolve_weights(backbone)), _load_state_dict(resolve_weights(heads)))
    except RuntimeError as e:  # shape mismatch from load_state_dict / copy_
        raise ModelLoadingError(f"the LPIPS weights do not fit VGG16: {str(e).splitlines()[0]}") from e
    return model.eval().to(device)


class FIDFeatures:
    """Inception pool features from a TorchScript file (``model(uint8 [N, 3, H, W], return_features=True)``)."""

    def __init__(self, weights: str, device: str | torch.device = "cpu", batch_size: int = 16):
        path = resolve_weights(weights)
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
