# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Output composition: turn the frames the model renders (square, at its size) into the output frames.

Without a face crop the rendered frames are resized to the output size. With one, each rendered
crop is resized to the face box and blended into the source photo (at the output resolution) with a
feathered mask (:func:`~mcc_hf.face.crop.paste_back`). :meth:`FrameComposer.to_uint8` does the same
for video files while touching only the face region: the background is the unchanged photo, so the
memory a frame costs stays that of one ``uint8`` output frame, however large the photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .face.crop import CropBox, feather_mask, paste_back
from .image_processing import resize_to, to_uint8

__all__ = ["FrameComposer"]


@dataclass
class FrameComposer:
    """How rendered frames become output frames.

    Args:
        output_size: ``(H, W)`` of the output frames.
        background: ``[3, H, W]`` source photo at the output size in ``[0, 1]`` when pasting back, else ``None``.
        box: where the face crop goes in ``background``.
        mask: ``[1, size, size]`` blending weight of the crop (:func:`~mcc_hf.face.crop.feather_mask`).
    """

    output_size: tuple[int, int]
    background: torch.Tensor | None = None
    box: CropBox | None = None
    mask: torch.Tensor | None = None
    _background_uint8: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def resize(cls, output_size: tuple[int, int]) -> "FrameComposer":
        """Rendered frames resized to ``output_size`` ``(H, W)``."""
        return cls(output_size=tuple(output_size))

    @classmethod
    def paste(cls, background: torch.Tensor, box: CropBox) -> "FrameComposer":
        """Rendered crops pasted into ``background`` ``[3, H, W]`` at ``box`` with a feathered edge."""
        size = tuple(background.shape[-2:])
        return cls(output_size=size, background=background, box=box, mask=feather_mask(box, size).to(background))

    def to(self, device: torch.device | str) -> "FrameComposer":
        """The same composer with its images on ``device`` (compose where the frames are rendered)."""
        if self.background is None or self.background.device == torch.device(device):
            return self
        return FrameComposer(self.output_size, self.background.to(device), self.box, self.mask.to(device))

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, 3, h, w]`` rendered frames in ``[0, 1]`` -> ``[B, 3, H, W]`` output frames in ``[0, 1]`` (float32)."""
        frames = frames.float()
        if self.background is None:
            return resize_to(frames, self.output_size)
        return paste_back(self.background, frames, self.box, self.mask)

    def to_uint8(self, frames: torch.Tensor) -> np.ndarray:
        """Like :meth:`__call__`, as ``[B, H, W, 3]`` ``uint8`` on the CPU, computing only the face region."""
        if self.background is None:
            return to_uint8(self(frames))
        if self._background_uint8 is None:
            self._background_uint8 = to_uint8(self.background[None])[0]
        region = paste_back(self.box.crop(self.background), frames.float(), CropBox(0, 0, self.box.size), self.mask)
        output = np.repeat(self._background_uint8[None], len(frames), axis=0)
        output[:, self.box.top : self.box.bottom, self.box.left : self.box.right] = to_uint8(region)
        return output
