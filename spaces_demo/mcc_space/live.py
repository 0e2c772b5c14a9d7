# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Live animation from a webcam stream: camera frames in (:func:`decode_camera_frame`, in memory), animated
frames out (:func:`inline_jpeg`), paced per session (:class:`FrameBudget`, :class:`FrameRate`,
:class:`LiveSession`), behind the Live tab's ``/live`` stream and Recalibrate button (:class:`LiveDemo`).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Mapping

import gradio as gr
import PIL.Image

from mcc_hf.errors import NoFaceFoundError

from .rendering import PipelineHolder, RenderOptions, render_error
from .settings import SpaceSettings
from .uploads import UploadFolder, check_source_image, open_image

#: The image types a streamed camera frame may be (data-URL media type -> the only Pillow decoder used for it).
FRAME_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+);base64,", re.ASCII)
#: A live session's prepared source photo is released after this long without a camera frame.
LIVE_IDLE_SECONDS = 600
#: How long "recalibrated" stays in the live status line.
RECALIBRATED_NOTE_SECONDS = 2.0
#: A gap between camera frames this long (or four frame times, if longer) is a new stream (Record pressed
#: again, or the time limit reached): its first frame becomes the neutral pose.
LIVE_PAUSE_SECONDS = 5.0
NO_FACE_IN_CAMERA = ("**No face in the camera picture.** Face the camera in good light: the animation starts as "
                     "soon as a face is found (or untick 'Crop and paste back' to use the whole picture).")


def decode_camera_frame(payload: Any, settings: SpaceSettings) -> PIL.Image.Image:
    """A frame of the Live tab's camera stream as an RGB PIL image. Raises ``gr.Error``.

    The browser sends every frame inline, as a ``data:image/jpeg;base64,...`` URL in the payload: no file is
    involved, so no path is ever opened for a frame (a payload naming a file is refused like any other bad
    frame, without looking at the file). The frame gets the upload limits: the upload size, the decoders in
    :data:`FRAME_TYPES` only, and the largest side, checked from the header before the pixels are decoded.
    """
    invalid = gr.Error("A camera frame is not an image that can be read (the page sends JPEG frames).",
                       title="Invalid camera frame")
    url = payload.get("url") if isinstance(payload, Mapping) else None
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    if match is None or match["type"] not in FRAME_TYPES:
        raise invalid
    encoded = url[match.end():]
    if len(encoded) // 4 * 3 > settings.max_upload_bytes:
        raise gr.Error(f"A camera frame is larger than {settings.max_upload_mb:g} MB.", title="Frame too large")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise invalid from None
    with open_image(io.BytesIO(data), [FRAME_TYPES[match["type"]]], "A camera frame", settings, invalid) as image:
        return image.convert("RGB")


def inline_jpeg(image: PIL.Image.Image, quality: int = 85) -> dict[str, Any]:
    """``image`` as a ``gr.Image`` value holding an inline JPEG (a data URL): shown by the browser as it is, with
    nothing written to the server's disk (the stream's outputs skip gradio's postprocessing)."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return {"path": None, "url": "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")}


class FrameBudget:
    """Paces one live session to ``fps`` frames per second: a frame that arrives before its turn is skipped.

    Frames never queue up anyway: the browser sends one every ``1 / fps`` seconds and gradio keeps only the
    newest frame of a stream while the previous one renders (a new frame replaces the waiting one), so a slow
    server renders fewer frames, not older ones. This budget holds a client that sends faster than ``fps`` to
    that rate.
    Credit accrues at ``fps`` frames per second up to ``burst`` frames, so network jitter costs no frames.
    """

    def __init__(self, fps: float, burst: float = 2.0):
        self.interval = 1.0 / fps
        self.burst = burst
        self._credit = burst
        self._last: float | None = None

    def take(self, now: float) -> bool:
        """Whether a frame arriving at ``now`` (monotonic seconds) may be rendered; if so, it spends one frame of
        credit."""
        if self._last is not None:
            self._credit = min(self.burst, self._credit + (now - self._last) / self.interval)
        self._last = now
        if self._credit < 1.0:
            return False
        self._credit -= 1.0
        return True


class FrameRate:
    """Frames per second over the last ``window`` seconds (over the last two frames when they are further apart):
    the rate the Live tab reports as achieved."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._times: deque[float] = deque()

    def add(self, now: float) -> None:
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > self.window:
            self._times.popleft()

    def reset(self) -> None:
        self._times.clear()

    @property
    def fps(self) -> float | None:
        """``None`` until two frames have been counted."""
        if len(self._times) < 2:
            return None
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-6)


class LiveSession:
    """One browser session's live animation, kept in a ``gr.State``.

    Holds the pipeline's ``LiveAnimation`` for one source photo and set of options (``key``: a new photo or new
    options start a new session), the frame budget, and what the status line reports. A pause longer than
    :data:`LIVE_PAUSE_SECONDS` (or four frame times) between two frames is a new stream: its first frame
    becomes the neutral pose, and the rate is measured afresh.
    """

    def __init__(self, key: tuple[Path, RenderOptions], animation: Any, fps: float,
                 clock: Callable[[], float] = time.monotonic):
        self.key = key
        self.animation = animation
        self.clock = clock
        self.budget = FrameBudget(fps)
        self.rate = FrameRate()
        self.rendered = 0
        self.skipped = 0
        self.seconds_per_frame = 0.0
        self.recalibrate_requested = False
        self.recalibrated_at: float | None = None
        self.finished_at: float | None = None

    def admit(self) -> bool:
        """Whether the frame arriving now fits the budget (else it is counted as skipped)."""
        if self.budget.take(self.clock()):
            return True
        self.skipped += 1
        return False

    def render(self, frame: PIL.Image.Image) -> PIL.Image.Image:
        """Animate one camera frame (``NoFaceFoundError`` when no face is found where one is needed)."""
        started = self.clock()
        if self.finished_at is not None and started - self.finished_at > max(LIVE_PAUSE_SECONDS,
                                                                              4 * self.seconds_per_frame):
            self.recalibrate_requested = True
            self.rate.reset()
        self.finished_at = started  # also when no face is found: the stream goes on
        recalibrate, self.recalibrate_requested = self.recalibrate_requested, False
        if recalibrate:
            self.animation.set_reference(None)  # this frame becomes the neutral pose
        try:
            result = self.animation(frame)
        except NoFaceFoundError:  # the reference is still to be set: by the next frame that shows a face
            self.recalibrate_requested = recalibrate
            raise
        self.finished_at = self.clock()
        if recalibrate:
            self.recalibrated_at = self.finished_at
        seconds = self.finished_at - started
        self.seconds_per_frame = seconds if self.rendered == 0 else 0.8 * self.seconds_per_frame + 0.2 * seconds
        self.rendered += 1
        self.rate.add(self.finished_at)
        return result

    def status(self) -> str:
        """The status line under the result: achieved frame rate, time per frame, counts."""
        fps = self.rate.fps
        parts = [f"**{fps:.1f} frames/s**" if fps is not None else "**first frame**",
                 f"{1000 * self.seconds_per_frame:.0f} ms per frame", f"{self.rendered} frames"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (over {1 / self.budget.interval:g} frames/s)")
        if self.recalibrated_at is not None and self.clock() - self.recalibrated_at < RECALIBRATED_NOTE_SECONDS:
            parts.append("recalibrated: this pose is now the neutral one")
        return " · ".join(parts)


class LiveDemo:
    """The handler behind the Live tab: the ``/live`` stream (one camera frame in, one animated frame out) and
    the Recalibrate button.

    Args:
        settings: the limits and model to serve.
        pipelines: loads the model once (share the Video tab's); default: from ``settings``.
        uploads: where the source photo must be; default: gradio's upload folder when the handler is created.
        clock: monotonic seconds (a parameter for tests).
    """

    def __init__(self, settings: SpaceSettings, pipelines: PipelineHolder | None = None,
                 uploads: UploadFolder | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.pipelines = pipelines or PipelineHolder(settings)
        self.uploads = uploads or UploadFolder.of_gradio()
        self.clock = clock

    def frame(self, frame: Any, session: LiveSession | None, source: Any, motion: str = "Relative",
              adapt_scale: bool = True, crop: bool = True, smoothing: float = 0.0,
              output_size: int = 256, detail_transfer: bool = True) -> tuple[Any, LiveSession, Any]:
        """One camera frame -> ``(animated frame, session, status markdown)``.

        The session is made on the first frame (and again when the photo or an option changes). A frame over
        the session's budget is skipped (the outputs stay as they are); a frame without a face keeps the last
        animated frame and says so. Everything else that goes wrong ends the stream with an error message.
        """
        options = RenderOptions.from_ui(motion, adapt_scale, False, crop, smoothing, output_size, detail_transfer)
        source_path = self.uploads.resolve(source, "source image")
        if session is None or session.key != (source_path, options):
            session = self.start(source_path, options)
        if not session.admit():
            return gr.skip(), session, gr.skip()
        image = decode_camera_frame(frame, self.settings)
        try:
            result = session.render(image)
        except NoFaceFoundError:
            return gr.skip(), session, NO_FACE_IN_CAMERA
        except Exception as e:
            raise render_error(e, {source_path: "the source image"}) from None
        return inline_jpeg(result), session, session.status()

    def start(self, source_path: Path, options: RenderOptions) -> LiveSession:
        """Check the source photo and prepare it for live animation with ``options``."""
        check_source_image(source_path, self.settings)
        pipe = self.pipelines.for_request()
        try:
            animation = pipe.live(str(source_path), **options.live_kwargs(), fps=self.settings.live_fps,
                                  output_type="pil")
        except NoFaceFoundError:
            raise gr.Error("No face found in the source image. Use a clearer, front-facing face, or untick 'Crop and "
                           "paste back' if the photo is already a face crop.", title="No face found") from None
        except Exception as e:
            raise render_error(e, {source_path: "the source image"}) from None
        return LiveSession((source_path, options), animation, self.settings.live_fps, self.clock)

    def recalibrate(self, session: LiveSession | None) -> str:
        """Make the next camera frame the neutral pose (applied by the stream, between two frames)."""
        if session is None:
            return "Start the camera first (click the camera box, then **Record**)."
        session.recalibrate_requested = True
        return "Recalibrating: hold a neutral pose facing the camera."

