# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Image features of a transformers vision backbone, for FD_DINO (Fréchet distance on DINOv2 features,
Stein et al. 2023) and DINO_SIM (cosine similarity of the features of a result and its reference frame).

The backbone is loaded with ``transformers.AutoModel.from_pretrained`` from a Hub id (e.g.
``facebook/dinov2-base``, the field's usual choice is ``facebook/dinov2-large``) or a local folder.
DINOv2 is the intended backbone; CLIP (``openai/clip-vit-base-patch32``: its vision tower is used)
and other ViT-style image encoders work the same way. The feature of a frame is the model's pooled
output (for DINOv2 and CLIP: the final-layer-normed class token), or the class token when a model has
no pooler.

Preprocessing (fixed, on ``[0, 1]`` tensors, no PIL round trip): the whole square frame is resized to
``resolution`` x ``resolution`` (bicubic, antialiased; default: the model's image-processor crop size,
224 for the DINOv2 and CLIP checkpoints, else ``config.image_size``) and normalised with the
image-processor mean/std (ImageNet's when the model has no ``preprocessor_config.json``). There is no
centre crop: talking-head frames are square crops already, and a crop would cut the face's border.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ModelLoadingError

__all__ = ["DINOFeatures", "is_local"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def is_local(name_or_path: str) -> bool:
    """Whether ``name_or_path`` means a local folder (an absolute or ``.``/``~`` path, or an existing one) rather than a Hub id."""
    return os.path.isabs(name_or_path) or name_or_path.startswith((".", "~")) or os.path.exists(name_or_path)


def _preprocessing(name_or_path: str, config) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """``(resolution, mean, std)`` from the model's ``preprocessor_config.json``, else ``config.image_size`` and ImageNet's."""
    from transformers import ImageProcessingMixin

    try:
        processor, _ = ImageProcessingMixin.get_image_processor_dict(name_or_path)
    except OSError:  # no preprocessor_config.json
        processor = {}
    crop = processor.get("crop_size") or {}
    size = crop.get("height") if isinstance(crop, dict) else crop
    vision = getattr(config, "vision_config", None) or config
    resolution = int(size or getattr(vision, "image_size", 224))
    return resolution, tuple(processor.get("image_mean", IMAGENET_MEAN)), tuple(processor.get("image_std", IMAGENET_STD))


class DINOFeatures:
    """Pooled features of a vision backbone (see the module docstring for the preprocessing).

    Args:
        model: a transformers vision model called as ``model(pixel_values=...)`` with a ``pooler_output``
            or ``last_hidden_state`` (e.g. ``Dinov2Model``, ``CLIPVisionModel``).
        resolution: side of the square input, in pixels.
        mean, std: per-channel normalisation of images in ``[0, 1]``.
        name: the Hub id or folder, for reports.
        batch_size: frames per forward pass.
    """

    def __init__(self, model, resolution: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, name: str = "",
                 batch_size: int = 16):
        self.model = model.eval().requires_grad_(False)
        self.resolution = int(resolution)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.name = name
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, device: str | torch.device = "cpu", resolution: int | None = None,
                        batch_size: int = 16) -> "DINOFeatures":
        """Load the backbone with ``AutoModel.from_pretrained`` (a dual encoder such as CLIP: its vision tower).

        Raises:
            ModelLoadingError: the folder is missing or holds no usable model, or the Hub id cannot be
                fetched (offline and not in the cache, no network, no such repository).
        """
        try:
            from transformers import AutoModel
        except ImportError as e:
            raise ModelLoadingError('the DINO metrics need transformers: pip install "mcc-hf[metrics]"') from e

        local = is_local(name_or_path)
        path = os.path.expanduser(name_or_path) if local else name_or_path
        if local and not os.path.isdir(path):
            raise ModelLoadingError(f"DINO model folder not found: {name_or_path}")
        try:
            model = AutoModel.from_pretrained(path)
        except OSError as e:
            where = "folder" if local else "Hub model"
            raise ModelLoadingError(f"cannot load the DINO {where} {name_or_path!r}: {str(e).splitlines()[0]}") from e
        except (ValueError, KeyError) as e:  # not a model transformers knows
            raise ModelLoadingError(f"{name_or_path} is not a transformers vision model: {str(e).splitlines()[0]}") from e
        default_resolution, mean, std = _preprocessing(path, model.config)
        vision = getattr(model, "vision_model", model)  # dual encoders (CLIP, SigLIP): the image tower
        return cls(vision.to(device), resolution or default_resolution, mean, std, name=name_or_path, batch_size=batch_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """``[T, 3, H, W]`` in ``[0, 1]`` -> ``[T, 3, R, R]`` normalised model input (float32)."""
        size = (self.resolution, self.resolution)
        images = frames.float()
        if tuple(images.shape[-2:]) != size:
            images = F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        return (images - self.mean) / self.std

    @torch.no_grad()
    def features(self, frames: torch.Tensor) -> np.ndarray:
        """``[T, 3, H, W]`` in ``[0, 1]`` -> ``[T, D]`` float64 pooled features."""
        chunks = []
        for start in range(0, len(frames), self.batch_size):
            pixels = self.preprocess(frames[start:start + self.batch_size].cpu()).to(self.device)
            output = self.model(pixel_values=pixels)
            pooled = getattr(output, "pooler_output", None)
            if pooled is None:
                pooled = output.last_hidden_state[:, 0]
            chunks.append(pooled.double().cpu())
        return torch.cat(chunks).numpy()
