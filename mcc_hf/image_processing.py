# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Conversion of user images (PIL, numpy, torch, paths) to model tensors and back."""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import PIL.ExifTags
import PIL.Image
import PIL.ImageOps
import torch
import torch.nn.functional as F

from .errors import InvalidInputError

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageInput",
    "InvalidInputError",
    "from_model_range",
    "image_size",
    "load_image",
    "postprocess",
    "resize_to",
    "to_model_range",
]

#: File extensions taken for images when a folder is scanned or a file is uploaded.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

ImageInput = Union[PIL.Image.Image, np.ndarray, torch.Tensor, str, os.PathLike]


def _pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        array = array / (65535.0 if array.max() > 255 else 255.0)
        return np.repeat(array[..., None], 3, axis=2)
    if image.mode == "RGBA" or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        # Composite transparent areas onto white, a neutral background for a portrait.
        background = PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PIL.Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"))


def _array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """HWC / HW numpy image -> ``[3, H, W]`` float32 in ``[0, 1]``."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InvalidInputError(f"expected an image array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.dtype == np.uint8:
        tensor = torch.from_numpy(array.astype(np.float32)) / 255.0
    elif array.dtype == np.uint16:
        tensor = torch.from_numpy(array.astype(np.float32)) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        tensor = torch.from_numpy(array.astype(np.float32))  # a copy: read-only arrays are fine
        if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
            raise InvalidInputError("float image arrays must hold values in [0, 1]")
    else:
        raise InvalidInputError(f"unsupported image array dtype {array.dtype}")
    if tensor.shape[2] == 4:
        alpha = tensor[..., 3:]
        tensor = tensor[..., :3] * alpha + (1 - alpha)
    elif tensor.shape[2] == 1:
        tensor = tensor.expand(-1, -1, 3)
    return tensor.permute(2, 0, 1).contiguous()


def _open_file(path: str) -> PIL.Image.Image:
    """Open an image file lazily (header only), with errors that say what is wrong with it."""
    if not os.path.isfile(path):
        raise InvalidInputError(f"image file not found: {path}")
    try:
        return PIL.Image.open(path)
    except PIL.Image.DecompressionBombError as e:
        raise InvalidInputError(f"the image is too large to process safely: {path} ({e})") from e
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InvalidInputError(f"not a readable image: {path} ({e})") from e


def _upright_size(image: PIL.Image.Image) -> tuple[int, int]:
    """``(H, W)`` of a PIL image once its EXIF orientation is applied (orientations 5-8 swap the sides)."""
    width, height = image.size
    orientation = image.getexif().get(PIL.ExifTags.Base.Orientation, 1)
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def image_size(image: ImageInput) -> tuple[int, int]:
    """``(H, W)`` of an image as :func:`load_image` returns it; for a file only its header is read."""
    if isinstance(image, (str, os.PathLike)):
        with _open_file(os.fspath(image)) as opened:
            return _upright_size(opened)
    if isinstance(image, PIL.Image.Image):
        return _upright_size(image)
    return tuple(load_image(image).shape[-2:])


def _decode(image: PIL.Image.Image, size: tuple[int, int] | None, name: str) -> np.ndarray:
    """Decode a PIL image upright (EXIF orientation applied), resized to ``size`` ``(H, W)`` in PIL if given."""
    try:
        if size is not None and image.format == "JPEG":
            upright = _upright_size(image)
            swapped = upright != (image.size[1], image.size[0])
            image.draft("RGB", (size[0], size[1]) if swapped else (size[1], size[0]))  # decode at a reduced scale
        image = PIL.ImageOps.exif_transpose(image)
        if size is not None and (image.size[1], image.size[0]) != size:
            mode = image.mode if image.mode in ("RGB", "RGBA", "L", "LA") else ("RGBA" if "A" in image.getbands() else "RGB")
            image = image.convert(mode).resize((size[1], size[0]), PIL.Image.BICUBIC, reducing_gap=3.0)
        return _pil_to_array(image)
    except PIL.Image.DecompressionBombError as e:
        raise InvalidInputError(f"the image is too large to process safely: {name} ({e})") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise InvalidInputError(f"not a readable image: {name} ({e})") from e


def load_image(image: ImageInput, *, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Load one image as ``[3, H, W]`` float32 RGB in ``[0, 1]``.

    Accepts a PIL image (any mode: grayscale, RGBA, 16-bit are converted), a numpy array
    ``(H, W[, C])`` (uint8, uint16, or float in ``[0, 1]``), a torch tensor ``[C, H, W]`` or
    ``[1, C, H, W]`` in ``[0, 1]``, or a path to an image file. Files and PIL images are turned
    upright by their EXIF orientation (as phone cameras store them).

    Args:
        size: ``(H, W)`` to resize to. Files and PIL images are resized before they are converted to
            float (JPEGs are even decoded at a reduced scale), so a huge photo costs little memory.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        with _open_file(path) as opened:
            return _array_to_tensor(_decode(opened, size, path))
    if isinstance(image, PIL.Image.Image):
        return _array_to_tensor(_decode(image, size, "the image"))
    tensor = _load_in_memory(image)
    return tensor if size is None else resize_to(tensor[None], size)[0]


def _load_in_memory(image) -> torch.Tensor:
    if isinstance(image, np.ndarray):
        return _array_to_tensor(image)
    if isinstance(image, torch.Tensor):
        tensor = image.detach()
        if tensor.ndim == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
            raise InvalidInputError(f"expected an image tensor [C, H, W] or [1, C, H, W] with 1 or 3 channels, got {list(image.shape)}")
        tensor = tensor.to(torch.float32)
        if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
            raise InvalidInputError("image tensors must hold values in [0, 1]")
        return tensor.expand(3, -1, -1).cpu().contiguous()
    raise InvalidInputError(f"unsupported image type {type(image).__name__}")


def resize_to(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` to ``size`` (bilinear, antialiased when shrinking); a no-op at the same size."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == size:
        return images
    shrinking = images.shape[-2] > size[0] or images.shape[-1] > size[1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrinking).clamp_(0, 1)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` -> ``[-1, 1]`` exactly as the reference preprocessing (``(x - 0.5) / 0.5``)."""
    return (images - 0.5) / 0.5


def from_model_range(images: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` model output -> ``[0, 1]``, clamped."""
    return ((images.clamp(-1, 1) + 1) / 2).clamp_(0, 1)


def postprocess(frames: torch.Tensor, output_type: str) -> Union[torch.Tensor, np.ndarray, list[PIL.Image.Image]]:
    """``[T, 3, H, W]`` in ``[0, 1]`` -> ``"pt"`` (same tensor), ``"np"`` (``[T, H, W, 3]`` float) or ``"pil"``."""
    if output_type == "pt":
        return frames
    array = frames.permute(0, 2, 3, 1).float().cpu().numpy()
    if output_type == "np":
        return array
    if output_type == "pil":
        return [PIL.Image.fromarray(np.round(a * 255).astype(np.uint8)) for a in array]
    raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``[T, 3, H, W]`` in ``[0, 1]`` -> ``[T, H, W, 3]`` uint8 (rounded)."""
    return (frames.permute(0, 2, 3, 1) * 255).round_().to(torch.uint8).cpu().numpy()
