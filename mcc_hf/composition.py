# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Output composition: turn the frames the model renders (square, at its size) into the output frames.

Without a face crop the rendered frames are resized to the output size. With one, each rendered
crop is resized to the face box and blended into the source photo (at the output resolution) with a
feathered mask (:func:`~mcc_hf.face.crop.paste_back`). :meth:`FrameComposer.to_uint8` does the same
for video files while touching only the face region: the background is the unchanged photo, so the
memory a frame costs stays that of one ``uint8`` output frame, however large the photo.

With *detail transfer* (:meth:`FrameComposer.with_detail`) the composer also holds the source face at
the size it is composed at (the face box, or the output size without a crop; computed once per
video) and :meth:`FrameComposer.add_detail` turns each rendered batch into frames at that size with
:func:`~mcc_hf.detail_transfer.transfer_detail` (the full-resolution source warped by the model's
final flow where it is visible and consistent with the rendering), before they are pasted or resized.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .detail_transfer import DEFAULT_TOLERANCE, transfer_detail
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
        detail_source: ``[3, *face_size]`` the source face in ``[0, 1]`` at :attr:`face_size`, with detail
            transfer on (see :meth:`with_detail`), else ``None``.
        detail_tolerance: see :func:`~mcc_hf.detail_transfer.transfer_detail`.
    """

    output_size: tuple[int, int]
    background: torch.Tensor | None = None
    box: CropBox | None = None
    mask: torch.Tensor | None = None
    detail_source: torch.Tensor | None = None
    detail_tolerance: float = DEFAULT_TOLERANCE
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

    @property
    def face_size(self) -> tuple[int, int]:
        """``(H, W)`` at which a rendered frame lands in the output: the face box, or the output size."""
        return (self.box.size, self.box.size) if self.box is not None else tuple(self.output_size)

    def with_detail(self, source: torch.Tensor | None = None, tolerance: float = DEFAULT_TOLERANCE) -> "FrameComposer":
        """The same composer with detail transfer on.

        Args:
            source: ``[3, h, w]`` the source face in ``[0, 1]`` (the image the model's input was resized
                from), resized here to :attr:`face_size` once. Default when pasting back: the face box
                of the background (the photo at the output size; a view, no copy).
            tolerance: see :func:`~mcc_hf.detail_transfer.transfer_detail`.
        """
        if source is None:
            if self.background is None:
                raise ValueError("with_detail needs the source face when the composer has no background")
            source = self.box.crop(self.background)
        source = resize_to(source[None].float(), self.face_size)[0]
        return replace(self, detail_source=source, detail_tolerance=tolerance)

    def add_detail(self, frames: torch.Tensor, deformation: torch.Tensor,
                   occlusion: torch.Tensor | None) -> torch.Tensor:
        """Rendered frames ``[B, 3, h, w]`` in ``[0, 1]`` -> ``[B, 3, *face_size]`` float32 frames with the
        source's detail (the model's final flow ``deformation`` ``[B, f, f, 2]`` and ``occlusion``
        ``[B, 1, o, o]``); without detail transfer the frames are returned as they are. Pure: no state."""
        if self.detail_source is None:
            return frames
        return transfer_detail(frames, self.detail_source, deformation, occlusion, tolerance=self.detail_tolerance).sample

    def to(self, device: torch.device | str) -> "FrameComposer":
        """The same composer with its images on ``device`` (compose where the frames are rendered)."""
        images = [image for image in (self.background, self.detail_source) if image is not None]
        if all(image.device == torch.device(device) for image in images):
            return self

        def moved(image):
            return None if image is None else image.to(device)

        return replace(self, background=moved(self.background), mask=moved(self.mask),
                       detail_source=moved(self.detail_source))

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
