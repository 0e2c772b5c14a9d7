# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Inputs: the folder they may come from (:class:`UploadFolder`) and the checks they pass before any model
work (file headers only, cheapest first): :func:`check_source_image`, :func:`check_driving_video`,
:func:`check_audio_track`. Every problem is a ``gr.Error`` with one plain sentence for the user.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Mapping, Sequence

import gradio as gr
import numpy as np
import PIL.Image

from mcc_hf.errors import UserInputError
from mcc_hf.image_processing import IMAGE_EXTENSIONS
from mcc_hf.video import VIDEO_EXTENSIONS, VideoInfo, VideoWriter, probe_video, read_frames

from .settings import SpaceSettings

logger = logging.getLogger(__name__)

#: The only image decoders the source image may use (Pillow format names; JPEG covers multi-picture JPEGs).
SOURCE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")


class UploadFolder:
    """The folder gradio stores this server's uploads in: the only place the handler reads inputs from.

    gradio checks ``FileData`` inputs that carry ``meta`` against its upload folder itself, but not an
    image sent without ``meta``, and the handler receives the raw payloads (``preprocess=False``). So
    every input path is checked here again, the same way whatever is wrong with it: a path outside the
    folder, a missing file, a folder and an expired upload get one message, and whether a path outside
    the folder exists is never even looked up.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(os.path.realpath(root))

    @classmethod
    def of_gradio(cls) -> "UploadFolder":
        """The folder gradio uses now (``GRADIO_TEMP_DIR``, else ``<tmp>/gradio``)."""
        from gradio.utils import get_upload_folder

        return cls(get_upload_folder())

    def resolve(self, payload: Any, what: str) -> Path:
        """The real path of an uploaded file from a ``FileData`` dict (or a path string). Raises ``gr.Error``."""
        path = payload.get("path") if isinstance(payload, Mapping) else payload
        if path is None or path == "":
            raise gr.Error(f"Please add a {what} first.", title="Missing input")
        refused = gr.Error(
            f"The {what} is not a file uploaded to this page, or it has expired; please upload it again.",
            title="Upload not found",
        )
        if not isinstance(path, str) or "\x00" in path:
            raise refused
        try:
            real = Path(os.path.realpath(path))
            inside = real != self.root and real.is_relative_to(self.root)
            if not (inside and real.is_file()):  # is_file() only runs for paths inside the folder
                raise refused
        except OSError:  # e.g. a name too long
            raise refused from None
        return real


def check_file_size(path: Path, what: str, settings: SpaceSettings) -> None:
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise gr.Error(
            f"The {what} is {size / 2**20:.1f} MB; this Space accepts files up to {settings.max_upload_mb:g} MB.",
            title="File too large",
        )


def check_side(what: str, width: int, height: int, settings: SpaceSettings) -> None:
    """Refuse a picture wider or taller than ``settings.max_image_side``; ``what`` names it ("The source image"),
    its last word the message's title ("Image too large")."""
    if max(width, height) > settings.max_image_side:
        raise gr.Error(f"{what} is {width} x {height} pixels; the largest side accepted is {settings.max_image_side} "
                       "pixels.", title=f"{what.split()[-1].capitalize()} too large")


@contextlib.contextmanager
def open_image(file: Path | IO[bytes], formats: Sequence[str], what: str, settings: SpaceSettings,
               invalid: gr.Error) -> Iterator[PIL.Image.Image]:
    """Open an image with the Pillow decoders in ``formats`` only (not, e.g., Pillow's EPS reader, which runs
    Ghostscript), its size checked from the header (:func:`check_side`) before the caller decodes the pixels.
    Anything Pillow cannot read, here or in the caller's block, raises ``invalid``."""
    try:
        with PIL.Image.open(file, formats=formats) as image:
            check_side(what, *image.size, settings)
            yield image
    except gr.Error:
        raise
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError):
        raise invalid from None


def check_source_image(path: Path, settings: SpaceSettings) -> tuple[int, int]:
    """Validate the source image file (decoded by :data:`SOURCE_FORMATS` only); return its ``(width, height)``.
    Raises ``gr.Error``."""
    invalid = gr.Error("The source file is not an image that can be read (use a PNG, JPEG or WebP photo of a face).",
                       title="Invalid image")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise invalid
    check_file_size(path, "source image", settings)
    with open_image(path, SOURCE_FORMATS, "The source image", settings, invalid) as image:
        image.load()
        return image.size


@dataclass(frozen=True)
class DrivingInfo(VideoInfo):
    """A checked driving video: what :func:`~mcc_hf.video.probe_video` found, its frame count always known, and
    its length in seconds."""

    seconds: float = 0.0


def too_many_frames(count: int | str, settings: SpaceSettings) -> gr.Error:
    return gr.Error(
        f"The driving video has {count} frames; this Space accepts up to {settings.max_frames} frames "
        f"(for example {settings.max_frames / 30:.3g} s at 30 fps). Trim it and try again.",
        title="Video too long",
    )


def check_driving_video(path: Path, settings: SpaceSettings) -> DrivingInfo:
    """Validate the driving video (type, size, frame rate, duration, frame count). Raises ``gr.Error``.

    Only files named like videos are opened: FFmpeg picks its demuxer from the content and the name, and
    some demuxers (HLS playlists) read the other files or URLs a file names.

    The frame count is what rendering costs, so it is always known before rendering: from the header
    (MP4, MOV, AVI) or, where the container declares none (WebM, Matroska), by decoding up to one frame
    past the limit. The frame-rate limit applies to videos that declare their frame count: a WebM
    recorded by a browser declares no frame rate either, and reads as its timestamp resolution (1000 fps).
    """
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        raise gr.Error("The driving file is a still image; please upload a video.", title="Invalid video")
    invalid = gr.Error("The driving file is not a video that can be decoded (use an MP4, WebM or MOV clip).",
                       title="Invalid video")
    if suffix not in VIDEO_EXTENSIONS:
        raise invalid
    check_file_size(path, "driving video", settings)
    try:
        info = probe_video(path)
    except UserInputError:
        raise invalid from None
    fps = float(info.fps)
    declared = info.num_frames is not None
    if declared and fps > settings.max_fps:
        raise gr.Error(
            f"The driving video runs at {fps:g} fps; this Space accepts up to {settings.max_fps:g} fps. "
            "Save it at a lower frame rate and try again.",
            title="Frame rate too high",
        )
    check_side("The driving video", info.width, info.height, settings)
    num_frames = info.num_frames
    if not declared:
        try:
            num_frames = sum(1 for _ in itertools.islice(read_frames(path), settings.max_frames + 1))
        except UserInputError:
            raise invalid from None
    seconds = num_frames / fps
    if seconds > settings.max_seconds:
        raise gr.Error(
            f"The driving video is {seconds:.1f} s long; this Space accepts up to "
            f"{settings.max_seconds:g} s. Trim it and try again.",
            title="Video too long",
        )
    if num_frames > settings.max_frames:
        raise too_many_frames(num_frames if declared else f"more than {settings.max_frames}", settings)
    return DrivingInfo(**{**asdict(info), "num_frames": num_frames}, seconds=seconds)


def check_audio_track(path: Path, info: DrivingInfo, folder: Path) -> None:
    """Copy the driving video's audio into a one-frame scratch video, the way the result gets it, so an
    audio track that cannot be copied or converted is reported as such before any frame is rendered."""
    if not info.has_audio:
        return
    trial = folder / "audio-check.mp4"
    try:
        with VideoWriter(trial, info.fps, audio_from=path, preset="ultrafast") as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
    except (ValueError, OSError) as e:  # FFmpeg errors are ValueError / OSError; UserInputError is a ValueError
        logger.warning("the driving video's audio cannot be used: %s", e)
        raise gr.Error(
            "The driving video's audio track could not be copied into the result (its sound data cannot be "
            "decoded or converted to AAC). Save the clip with AAC sound, or without sound, and try again.",
            title="Unsupported audio",
        ) from None
    finally:
        trial.unlink(missing_ok=True)
