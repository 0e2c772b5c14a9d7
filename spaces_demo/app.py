# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Gradio demo of mcc-hf: animate a face photo with the motion of a driving video, or live from a webcam.

Run locally with ``python spaces_demo/app.py`` (serves http://127.0.0.1:7860, no share link, no
analytics) or deploy the folder as a Hugging Face Space unchanged (the Space sets
``GRADIO_SERVER_NAME=0.0.0.0``). Settings come from environment variables, see :class:`SpaceSettings`
and ``docs/space.md`` (which also describes what the app defends against).

The file reads top to bottom: the server's private folder (:class:`SessionFolder`, made before gradio
is imported); settings; where inputs may come from and where rendering happens (:class:`UploadFolder`,
:class:`WorkArea`); input checks; user-facing error messages; rendering (:class:`TalkingHeadDemo`); live
animation from a webcam stream (:class:`LiveDemo`); the user interface (:func:`build_demo`, one function per
tab); :func:`main`.
"""

from __future__ import annotations

import os

# Before gradio is imported: no analytics / version-check requests, no Hub telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import atexit  # noqa: E402
import base64  # noqa: E402
import binascii  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Iterator, Mapping  # noqa: E402


class SessionFolder:
    """A private folder (mode 0700) for everything this server process writes, removed by :meth:`close`.

    ``uploads/`` becomes gradio's upload and cache folder (``GRADIO_TEMP_DIR``): uploads, the example
    copies and the results gradio serves. ``work/`` is the rendering scratch space (:class:`WorkArea`).
    The folder is created inside ``GRADIO_TEMP_DIR`` when the operator set it, else in the system
    temporary folder, so nothing of another process or an earlier run is ever inside it.
    """

    def __init__(self, base: str | os.PathLike | None = None):
        base = Path(base or os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="mcc-space-", dir=base)).resolve()
        self.uploads = self.root / "uploads"
        self.work = self.root / "work"
        self.uploads.mkdir()
        self.work.mkdir()

    def use_for_gradio(self) -> None:
        """Point gradio at ``uploads/``: best before gradio is imported (it reads ``GRADIO_TEMP_DIR`` then for
        a few files), at the latest before the app is built (each block reads it when created)."""
        os.environ["GRADIO_TEMP_DIR"] = str(self.uploads)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


#: The running server's private folder. As a script it is made here, before gradio is imported: gradio
#: reads ``GRADIO_TEMP_DIR`` once, at import, for some of its files.
SESSION: SessionFolder | None = None
if __name__ == "__main__":
    SESSION = SessionFolder()
    SESSION.use_for_gradio()

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402

from mcc_hf.errors import NoFaceFoundError, UserInputError  # noqa: E402
from mcc_hf.image_processing import IMAGE_EXTENSIONS  # noqa: E402
from mcc_hf.video import VIDEO_EXTENSIONS, probe_video, read_frames  # noqa: E402

logger = logging.getLogger("mcc_hf.space")

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
MOTION_MODES = ("Relative", "Absolute")
#: Output size choices: (label, side in pixels); 0 means "let the pipeline decide".
OUTPUT_SIZES = (("Auto", 0), ("256 px", 256), ("512 px", 512))
#: The only image decoders the source image may use (Pillow format names; JPEG covers multi-picture JPEGs).
SOURCE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")


def _env_number(environ: Mapping[str, str], name: str, default: float, kind: type = float) -> Any:
    value = environ.get(name)
    if value is None or value == "":
        return kind(default)
    try:
        number = kind(value)
    except ValueError:
        raise SystemExit(f"error: {name}={value!r} is not a valid {kind.__name__}") from None
    if number <= 0:
        raise SystemExit(f"error: {name} must be positive, got {value!r}")
    return number


@dataclass(frozen=True)
class SpaceSettings:
    """Deployment settings, read from environment variables by :meth:`from_env`.

    Args:
        model: ``MCC_HF_MODEL``: a local pipeline folder or a Hub repo id; unset: the bundled default model.
        device: ``MCC_HF_DEVICE``: ``cpu`` or ``cuda``; unset: ``cuda`` when available, else ``cpu``.
        max_upload_mb: ``MCC_SPACE_MAX_UPLOAD_MB``: largest accepted upload, per file (default 20).
        max_seconds: ``MCC_SPACE_MAX_SECONDS``: longest accepted driving video (default 20).
        max_fps: ``MCC_SPACE_MAX_FPS``: highest accepted driving frame rate (default 60).
        max_frames: ``MCC_SPACE_MAX_FRAMES``: most frames a driving video may have (default 600: 20 s at 30 fps).
        max_image_side: ``MCC_SPACE_MAX_IMAGE_SIDE``: largest source width or height in pixels (default 4096).
        concurrency: ``MCC_SPACE_CONCURRENCY``: videos rendered at the same time (default 1).
        queue_size: ``MCC_SPACE_QUEUE_SIZE``: requests allowed to wait in the queue (default 16).
        batch_size: ``MCC_SPACE_BATCH_SIZE``: driving frames per forward pass (default 4).
        file_lifetime: ``MCC_SPACE_FILE_LIFETIME``: seconds an upload or result is kept on the server
            (default 3600); a sweep every ``file_lifetime / 6`` seconds (at most 10 minutes) deletes older ones.
        live_seconds: ``MCC_SPACE_LIVE_SECONDS``: longest live (webcam) stream; it stops then (default 120).
        live_fps: ``MCC_SPACE_LIVE_FPS``: most camera frames per second a live session sends and has
            rendered (default 10); frames the server has no time for are skipped, never queued.
        live_sessions: ``MCC_SPACE_LIVE_SESSIONS``: live streams served at the same time (default 1); more wait
            in the queue.
    """

    model: str | None = None
    device: str | None = None
    max_upload_mb: float = 20.0
    max_seconds: float = 20.0
    max_fps: float = 60.0
    max_frames: int = 600
    max_image_side: int = 4096
    concurrency: int = 1
    queue_size: int = 16
    batch_size: int = 4
    file_lifetime: int = 3600
    live_seconds: int = 120
    live_fps: float = 10.0
    live_sessions: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "SpaceSettings":
        return cls(
            model=environ.get("MCC_HF_MODEL") or None,
            device=environ.get("MCC_HF_DEVICE") or None,
            max_upload_mb=_env_number(environ, "MCC_SPACE_MAX_UPLOAD_MB", cls.max_upload_mb),
            max_seconds=_env_number(environ, "MCC_SPACE_MAX_SECONDS", cls.max_seconds),
            max_fps=_env_number(environ, "MCC_SPACE_MAX_FPS", cls.max_fps),
            max_frames=_env_number(environ, "MCC_SPACE_MAX_FRAMES", cls.max_frames, int),
            max_image_side=_env_number(environ, "MCC_SPACE_MAX_IMAGE_SIDE", cls.max_image_side, int),
            concurrency=_env_number(environ, "MCC_SPACE_CONCURRENCY", cls.concurrency, int),
            queue_size=_env_number(environ, "MCC_SPACE_QUEUE_SIZE", cls.queue_size, int),
            batch_size=_env_number(environ, "MCC_SPACE_BATCH_SIZE", cls.batch_size, int),
            file_lifetime=_env_number(environ, "MCC_SPACE_FILE_LIFETIME", cls.file_lifetime, int),
            live_seconds=_env_number(environ, "MCC_SPACE_LIVE_SECONDS", cls.live_seconds, int),
            live_fps=_env_number(environ, "MCC_SPACE_LIVE_FPS", cls.live_fps),
            live_sessions=_env_number(environ, "MCC_SPACE_LIVE_SESSIONS", cls.live_sessions, int),
        )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def scratch_seconds(self) -> int:
        """How long a finished request's scratch folder is kept (gradio copies the results out at once)."""
        return min(60, max(10, self.file_lifetime))

    @property
    def delete_cache(self) -> tuple[int, int]:
        """gradio's ``delete_cache``: ``(sweep every n seconds, delete files older than n seconds)``."""
        return max(1, min(600, self.file_lifetime // 6)), self.file_lifetime


# ----------------------------------------------------------------------------------------------
# Files: inputs are read from the upload folder only; rendering happens in a scratch area
# ----------------------------------------------------------------------------------------------


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


class WorkArea:
    """Private scratch folders for rendered videos, one per request, under a single root.

    A failed request's folder is removed at once; a finished one is kept ``keep_seconds`` (gradio copies
    the returned files into its own cache right after the handler returns) and then removed by the next
    sweep: one runs when a request starts and, with ``sweep_every``, on a background thread. Without
    ``root`` a temporary root is made and removed when the process exits.
    """

    def __init__(self, root: str | os.PathLike | None = None, keep_seconds: float = 60.0,
                 sweep_every: float | None = None):
        if root is None:
            root = tempfile.mkdtemp(prefix="mcc-space-work-")
            atexit.register(shutil.rmtree, root, True)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep_seconds = keep_seconds
        self._active: set[Path] = set()
        self._lock = threading.Lock()
        if sweep_every:
            threading.Thread(target=self._sweep_forever, args=(sweep_every,), name="mcc-space-sweep",
                             daemon=True).start()

    def sweep(self) -> None:
        now = time.time()
        with self._lock:
            for folder in self.root.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if folder not in self._active and now - folder.stat().st_mtime > self.keep_seconds:
                        shutil.rmtree(folder, ignore_errors=True)

    def _sweep_forever(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            if not self.root.is_dir():  # removed at shutdown
                return
            try:
                self.sweep()
            except OSError as e:
                logger.warning("could not sweep %s: %s", self.root, e)

    @contextlib.contextmanager
    def request(self) -> Iterator[Path]:
        self.sweep()
        folder = Path(tempfile.mkdtemp(dir=self.root))
        with self._lock:
            self._active.add(folder)
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            with self._lock:
                self._active.discard(folder)


# ----------------------------------------------------------------------------------------------
# Input checks (cheap: file headers only, before any model work)
# ----------------------------------------------------------------------------------------------


def check_file_size(path: Path, what: str, settings: SpaceSettings) -> None:
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise gr.Error(
            f"The {what} is {size / 2**20:.1f} MB; this Space accepts files up to {settings.max_upload_mb:g} MB.",
            title="File too large",
        )


def check_source_image(path: Path, settings: SpaceSettings) -> tuple[int, int]:
    """Validate the source image file; return its ``(width, height)``. Raises ``gr.Error``.

    Only the decoders in :data:`SOURCE_FORMATS` are used (not, e.g., Pillow's EPS reader, which runs
    Ghostscript), and the size is checked from the header before the pixels are decoded.
    """
    invalid = gr.Error("The source file is not an image that can be read (use a PNG, JPEG or WebP photo of a face).",
                       title="Invalid image")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise invalid
    check_file_size(path, "source image", settings)
    try:
        with PIL.Image.open(path, formats=SOURCE_FORMATS) as image:
            width, height = image.size
            if width > settings.max_image_side or height > settings.max_image_side:
                raise gr.Error(
                    f"The source image is {width} x {height} pixels; the largest side accepted is "
                    f"{settings.max_image_side} pixels.",
                    title="Image too large",
                )
            image.load()
    except gr.Error:
        raise
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError):
        raise invalid from None
    return width, height


@dataclass(frozen=True)
class DrivingInfo:
    """What checking a driving video found: its length, frame rate, frame count and size, and whether it has sound."""

    seconds: float
    fps: float
    num_frames: int
    width: int
    height: int
    has_audio: bool


def too_many_frames(count: int | str, settings: SpaceSettings) -> gr.Error:
    return gr.Error(
        f"The driving video has {count} frames; this Space accepts up to {settings.max_frames} frames "
        f"(for example {settings.max_frames / 30:.3g} s at 30 fps). Trim it and try again.",
        title="Video too long",
    )


def count_frames(path: Path, limit: int) -> int:
    """Decode the video to count its frames, stopping after ``limit + 1`` (for containers that declare no count)."""
    count = 0
    for _ in read_frames(path):
        count += 1
        if count > limit:
            break
    return count


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
    if max(info.width, info.height) > settings.max_image_side:
        raise gr.Error(
            f"The driving video is {info.width} x {info.height} pixels; the largest side accepted is "
            f"{settings.max_image_side} pixels.",
            title="Video too large",
        )
    num_frames = info.num_frames
    if not declared:
        try:
            num_frames = count_frames(path, settings.max_frames)
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
    return DrivingInfo(seconds=seconds, fps=fps, num_frames=num_frames, width=info.width, height=info.height,
                       has_audio=info.has_audio)


def check_audio_track(path: Path, info: DrivingInfo, folder: Path) -> None:
    """Copy the driving video's audio into a one-frame scratch video, the way the result gets it, so an
    audio track that cannot be copied or converted is reported as such before any frame is rendered."""
    if not info.has_audio:
        return
    from mcc_hf.video import VideoWriter

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


@dataclass(frozen=True)
class RenderOptions:
    """The options of the UI, validated; their fields are keyword arguments of ``animate_to_file``.

    A new option is a field here, a parameter of :meth:`from_ui` (in the order of the UI's inputs) and a
    control in :func:`option_controls`.
    """

    relative: bool = True
    adapt_scale: bool = True
    find_best_frame: bool = False
    crop: bool = True
    smoothing: float = 0.0
    output_size: int | None = None
    detail_transfer: bool | None = None

    @classmethod
    def from_ui(cls, motion: Any = "Relative", adapt_scale: Any = True, find_best_frame: Any = False, crop: Any = True,
                smoothing: Any = 0.0, output_size: Any = 0, detail_transfer: Any = True) -> "RenderOptions":
        """Options from the UI values; raises ``gr.Error`` for values outside the offered choices. The detail
        checkbox ticked means automatic (on where the face is shown larger than the model renders it)."""
        if motion not in MOTION_MODES:
            raise gr.Error(f"Motion must be one of {', '.join(MOTION_MODES)}, got {motion!r}.", title="Invalid option")
        return cls(relative=motion == "Relative", adapt_scale=bool(adapt_scale), find_best_frame=bool(find_best_frame),
                   crop=bool(crop), smoothing=parse_smoothing(smoothing), output_size=parse_output_size(output_size),
                   detail_transfer=None if detail_transfer else False)

    def pipeline_kwargs(self) -> dict[str, Any]:
        return asdict(self)

    def live_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``pipe.live`` (a live stream has no look-ahead to find a best frame in)."""
        kwargs = asdict(self)
        del kwargs["find_best_frame"]
        return kwargs


def parse_output_size(value: Any) -> int | None:
    """The output height (``None``: automatic); raises ``gr.Error`` for values outside :data:`OUTPUT_SIZES`."""
    sizes = {size for _, size in OUTPUT_SIZES}
    try:
        size = int(value if value not in (None, "") else 0)
    except (TypeError, ValueError):
        size = -1
    if size not in sizes:
        raise gr.Error(f"Output size must be one of {sorted(sizes)}, got {value!r}.", title="Invalid option")
    return size or None


def parse_smoothing(value: Any) -> float:
    """The keypoint smoothing strength in ``[0, 1]``; raises ``gr.Error`` otherwise."""
    try:
        strength = float(value if value not in (None, "") else 0.0)
    except (TypeError, ValueError):
        strength = -1.0
    if not 0.0 <= strength <= 1.0:
        raise gr.Error(f"Smoothing must be between 0 and 1, got {value!r}.", title="Invalid option")
    return strength


# ----------------------------------------------------------------------------------------------
# Messages for the user: never a server path
# ----------------------------------------------------------------------------------------------

# An absolute (or home-relative) POSIX path: two or more parts, or one part with an extension.
_SERVER_PATH = re.compile(r"(?<![\w.~/])~?/(?:[\w.@+~-]+/)+[\w.@+~-]*|(?<![\w.~/])/[\w@+~-]+\.\w+")


def without_paths(message: str, names: Mapping[Path, str] | None = None) -> str:
    """``message`` with the given files replaced by their names for the user and any other absolute path
    replaced by ``[server path]``."""
    for path, name in (names or {}).items():
        message = message.replace(str(path), name)
    return _SERVER_PATH.sub("[server path]", message)


# ----------------------------------------------------------------------------------------------
# Model and rendering
# ----------------------------------------------------------------------------------------------


class PipelineHolder:
    """Loads the pipeline once (thread-safe) on first use."""

    def __init__(self, settings: SpaceSettings):
        self.settings = settings
        self._pipe = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._pipe is None:
                from mcc_hf.loading import load_pipeline

                device = self.settings.device
                if device is None:
                    import torch

                    device = "cuda" if torch.cuda.is_available() else "cpu"
                started = time.perf_counter()
                pipe = load_pipeline(self.settings.model, device=device)
                pipe.set_progress_bar_config(disable=True)
                logger.info("loaded %s on %s in %.1f s", self.settings.model or "the default model", device,
                            time.perf_counter() - started)
                self._pipe = pipe
            return self._pipe

    def for_request(self):
        """:meth:`get` for a request handler: a model that cannot be loaded is a ``gr.Error`` (logged)."""
        try:
            return self.get()
        except UserInputError as e:  # ModelLoadingError
            logger.error("model loading failed: %s", e)
            raise gr.Error(f"The model could not be loaded: {without_paths(str(e))}",
                           title="Model unavailable") from None


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``height`` rows keeping its aspect (even width)."""
    width = max(2, round(image.shape[1] * height / image.shape[0] / 2) * 2)
    return np.asarray(PIL.Image.fromarray(image).resize((width, height), PIL.Image.Resampling.BICUBIC))


def write_comparison(source: Path, driving: Path, result: Path, output: Path) -> int:
    """Write ``source | driving | result`` side by side (H.264, with the result's audio) to ``output``.

    The three panels share the result's height; the file appears only when complete. Returns the
    number of frames written.
    """
    from mcc_hf.video import VideoWriter

    info = probe_video(result)
    with PIL.Image.open(source, formats=SOURCE_FORMATS) as image:
        still = _fit_height(np.asarray(image.convert("RGB")), info.height)
    with VideoWriter(output, info.fps, audio_from=result, crf=23) as writer:
        for driving_frame, result_frame in zip(read_frames(driving), read_frames(result)):
            writer.write(np.concatenate([still, _fit_height(driving_frame, info.height), result_frame], axis=1))
    return writer.num_frames


def frame_progress(progress: gr.Progress, settings: SpaceSettings) -> Callable[[int, int | None], None]:
    """A ``callback(frames_done, total)`` for ``animate_to_file`` that drives a ``gr.Progress`` bar, and
    stops a video whose header under-declared its frames once it passes ``settings.max_frames``."""

    def callback(done: int, total: int | None) -> None:
        if done > settings.max_frames:
            raise too_many_frames(f"more than {settings.max_frames}", settings)
        progress((done, total), desc="Rendering frames", unit="frames")

    return callback


def render_error(error: Exception, names: Mapping[Path, str]) -> gr.Error:
    """The ``gr.Error`` for an exception raised while rendering (the exception itself goes to the log)."""
    import av

    if isinstance(error, NoFaceFoundError):
        return gr.Error(
            f"{str(error).split(';')[0].capitalize()}. Use a clearer, front-facing face, or untick 'Crop and paste "
            "back' and 'Find best frame' if the inputs are already face crops.",
            title="No face found",
        )
    if isinstance(error, UserInputError):
        return gr.Error(without_paths(str(error), names), title="Cannot animate these inputs")
    logger.error("rendering failed", exc_info=error)
    if isinstance(error, av.FFmpegError):
        return gr.Error(f"The driving video could not be decoded: {without_paths(str(error), names)}",
                        title="Invalid video")
    return gr.Error("Rendering failed because of an error on the server (it has been logged). Please try again.",
                    title="Rendering failed")


class TalkingHeadDemo:
    """The request handler behind the UI and the ``/animate`` API endpoint.

    Args:
        settings: the limits and model to serve.
        pipelines: loads the model once; default: from ``settings``.
        work: the rendering scratch space; default: a temporary folder.
        uploads: where input files must be; default: gradio's upload folder when the handler is created.
    """

    def __init__(self, settings: SpaceSettings, pipelines: PipelineHolder | None = None,
                 work: WorkArea | None = None, uploads: UploadFolder | None = None):
        self.settings = settings
        self.pipelines = pipelines or PipelineHolder(settings)
        self.work = work or WorkArea(keep_seconds=settings.scratch_seconds)
        self.uploads = uploads or UploadFolder.of_gradio()

    def animate(self, source: Any, driving: Any, motion: str = "Relative", adapt_scale: bool = True,
                find_best_frame: bool = False, crop: bool = True, smoothing: float = 0.0, output_size: int = 0,
                detail_transfer: bool = True, progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:
        """Validate the inputs, render the video and its comparison view.

        Returns ``(result_video_path, comparison_video_path, summary_markdown)``.
        """
        source_path = self.uploads.resolve(source, "source image")
        driving_path = self.uploads.resolve(driving, "driving video")
        options = RenderOptions.from_ui(motion, adapt_scale, find_best_frame, crop, smoothing, output_size,
                                        detail_transfer)
        check_source_image(source_path, self.settings)
        info = check_driving_video(driving_path, self.settings)

        with self.work.request() as folder:
            check_audio_track(driving_path, info, folder)
            progress(0, desc="Loading the model")
            pipe = self.pipelines.for_request()
            names = {source_path: "the source image", driving_path: "the driving video"}
            started = time.perf_counter()
            try:
                result = pipe.animate_to_file(
                    str(source_path), str(driving_path), str(folder / "result.mp4"), **options.pipeline_kwargs(),
                    batch_size=self.settings.batch_size, keep_audio=True,
                    callback=frame_progress(progress, self.settings),
                )
                seconds = time.perf_counter() - started
                progress(1.0, desc="Composing the comparison view")
                comparison_path = folder / "comparison.mp4"
                write_comparison(source_path, driving_path, Path(result.path), comparison_path)
            except gr.Error:
                raise
            except Exception as e:
                raise render_error(e, names) from None

        summary = (
            f"**{result.num_frames} frames** ({info.seconds:.1f} s) at {result.fps:g} fps, "
            f"{result.width} x {result.height} px, "
            f"audio {'kept' if result.has_audio else 'none (the driving video has no audio)'}; "
            f"rendered in {seconds:.1f} s ({result.num_frames / max(seconds, 1e-6):.1f} frames/s)."
        )
        return str(result.path), str(comparison_path), summary


# ----------------------------------------------------------------------------------------------
# Live: webcam frames in, animated frames out
# ----------------------------------------------------------------------------------------------

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
        with PIL.Image.open(io.BytesIO(data), formats=[FRAME_TYPES[match["type"]]]) as image:
            width, height = image.size
            if max(width, height) > settings.max_image_side:
                raise gr.Error(
                    f"A camera frame is {width} x {height} pixels; the largest side accepted is "
                    f"{settings.max_image_side} pixels.",
                    title="Frame too large",
                )
            return image.convert("RGB")
    except gr.Error:
        raise
    except (binascii.Error, PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError,
            PIL.Image.DecompressionBombError):
        raise invalid from None


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


# ----------------------------------------------------------------------------------------------
# User interface
# ----------------------------------------------------------------------------------------------

DESCRIPTION = """
# mcc-hf talking-head demo
Animate a face photo with the motion of a driving video, using multi-scale compensatory codebooks
(Zhao et al., *Synergizing Motion and Appearance*, CVPR 2025). **Video**: upload a **source** face and a
**driving** video (or record them with your webcam), then press **Animate**. **Live**: drive the face with
your webcam, frame by frame.
"""

LIMITS = """
Limits: files up to {mb:g} MB; driving videos up to {seconds:g} s, {fps:g} fps and {frames} frames;
images up to {side} px per side. The driving video's sound track is kept. Uploads and results are deleted
from the server after {lifetime}.
"""

LIVE_HELP = """
**How to use it**: click the camera box and allow this page to use your camera, then press **Record**
(**Stop** ends it). Face the camera: your pose when you start is the neutral one, and **Recalibrate** makes
your next pose the neutral one. The Live tab needs a **webcam** and a page served over **https://** (as on
Hugging Face) or from localhost; without a camera, use the Video tab with a recorded clip.

A stream lasts up to {seconds}; frames are rendered at up to {fps:g} per second, fewer when the server is
busy (frames it has no time for are skipped, never queued; the achieved rate is shown under the result).
Camera frames are processed in memory and not stored.
"""

#: Where the browser cannot use a camera, gradio's webcam box fails silently (no device) or with a short
#: notice; this check (run in the browser when the page loads and when the Live tab is opened) says so in
#: plain words above it.
NO_CAMERA_ACCESS = ("**This page cannot use a camera.** Browsers give cameras only to pages served over https:// "
                    "or from localhost: open the demo at such an address, or use the Video tab with a recorded "
                    "driving video.")
NO_CAMERA_FOUND = ("**No camera found.** The Live tab needs a webcam: connect one (and allow this browser to use "
                   "it), then reload the page. Without a camera, use the Video tab with a recorded driving video.")
CAMERA_CHECK_JS = f"""
async () => {{
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {{
    return {json.dumps(NO_CAMERA_ACCESS)};
  }}
  let devices = [];
  try {{ devices = await navigator.mediaDevices.enumerateDevices(); }} catch (error) {{ devices = []; }}
  return devices.some((device) => device.kind === "videoinput") ? "" : {json.dumps(NO_CAMERA_FOUND)};
}}
"""


def _duration_words(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return "an hour" if hours == 1 else f"{hours} hours"
    if seconds >= 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds} seconds"


def example_rows() -> list[list[Any]]:
    names = ("astronaut-face.jpg", "astronaut.jpg", "astronaut-nod.mp4")
    face, portrait, clip = (EXAMPLES_DIR / name for name in names)
    if not all(path.is_file() for path in (face, portrait, clip)):
        return []
    return [
        [str(face), str(clip), "Relative", True, False, False, 0.0, 0, True],
        [str(portrait), str(clip), "Relative", True, True, True, 0.3, 0, True],
    ]


def option_controls(prefix: str = "", live: bool = False) -> list[gr.components.Component]:
    """The option controls, in the order of :meth:`RenderOptions.from_ui`'s parameters; for the Live tab
    (``live``) without 'Find best frame' (a stream has no look-ahead) and with a 256-pixel output by default.
    ``prefix`` starts every ``elem_id``."""
    reference = "when you start (or recalibrate)" if live else "from its first (or best) frame"
    motion = gr.Radio(list(MOTION_MODES), value="Relative", label="Motion transfer",
                      info=f"Relative: move the source as the driving face moves {reference}. "
                           "Absolute: copy the driving pose as it is.",
                      elem_id=f"{prefix}motion")
    adapt_scale = gr.Checkbox(value=True, label="Adapt scale",
                              info="Scale the motion to the size of the source face.", elem_id=f"{prefix}adapt-scale")
    find_best_frame = None if live else gr.Checkbox(
        value=False, label="Find best frame",
        info="Start from the driving frame whose pose best matches the source (needs a detectable face).",
        elem_id=f"{prefix}find-best-frame")
    crop = gr.Checkbox(value=True, label="Crop and paste back",
                       info="Detect the face, animate the crop and paste it back into the full "
                            "picture (for un-cropped photos and videos).",
                       elem_id=f"{prefix}crop")
    smoothing = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="Temporal smoothing",
                          info="Smooth the driving motion over time against jitter (0 = off).",
                          elem_id=f"{prefix}smoothing")
    output_size = gr.Radio([(label, value) for label, value in OUTPUT_SIZES], value=256 if live else 0,
                           label="Output height", elem_id=f"{prefix}output-size",
                           info="Auto: the source's height with crop and paste-back, else the model's size.")
    detail = gr.Checkbox(value=True, label="Sharp detail from the photo",
                         info="Where the face is shown larger than the model renders it, take skin, hair and eye "
                              "detail from the full-resolution source, moved by the model's motion (detail transfer).",
                         elem_id=f"{prefix}detail-transfer")
    controls = [motion, adapt_scale, find_best_frame, crop, smoothing, output_size, detail]
    return [control for control in controls if control is not None]


def video_tab(settings: SpaceSettings, handler: TalkingHeadDemo) -> None:
    """Source image + driving video file -> result and side-by-side videos (the ``/animate`` endpoint)."""
    with gr.Row():
        with gr.Column():
            source = gr.Image(label="Source face", type="filepath", sources=["upload", "webcam", "clipboard"],
                              elem_id="source", height=280)
            driving = gr.Video(label="Driving video", sources=["upload", "webcam"], include_audio=True,
                               elem_id="driving", height=280)
            with gr.Accordion("Options", open=True):
                options = option_controls()
            button = gr.Button("Animate", variant="primary", elem_id="animate")
            gr.Markdown(LIMITS.format(mb=settings.max_upload_mb, seconds=settings.max_seconds, fps=settings.max_fps,
                                      frames=settings.max_frames, side=settings.max_image_side,
                                      lifetime=_duration_words(settings.file_lifetime)))
        with gr.Column():
            result = gr.Video(label="Result", interactive=False, elem_id="result", height=320)
            comparison = gr.Video(label="Side by side: source | driving | result", interactive=False,
                                  elem_id="comparison", height=240)
            summary = gr.Markdown(elem_id="summary")
    inputs = [source, driving, *options]
    rows = example_rows()
    if rows:
        gr.Examples(rows, inputs=inputs, label="Examples (NASA portrait, public domain)")
    # preprocess=False: the handler validates the raw uploads itself (UploadFolder, then the file checks),
    # so a bad file gets a clear message instead of a component preprocessing error. gradio still checks
    # the inputs that carry FileData ``meta`` against its upload folder before the handler runs.
    button.click(handler.animate, inputs=inputs, outputs=[result, comparison, summary], api_name="animate",
                 preprocess=False, concurrency_limit=settings.concurrency)


def live_tab(settings: SpaceSettings, handler: LiveDemo) -> gr.Markdown:
    """Source photo + webcam stream -> animated frames (the ``/live`` stream). Returns the camera notice, which
    :func:`build_demo` fills from the browser (:data:`CAMERA_CHECK_JS`)."""
    face = EXAMPLES_DIR / "astronaut-face.jpg"
    with gr.Row():
        with gr.Column():
            source = gr.Image(label="Source face", type="filepath", sources=["upload", "webcam", "clipboard"],
                              value=str(face) if face.is_file() else None, elem_id="live-source", height=240)
            camera_notice = gr.Markdown(elem_id="live-camera-notice")
            # VGA is plenty for a 64-256 pixel face crop (gradio asks for 1920 x 1440 by default).
            webcam = gr.WebcamOptions(mirror=True, constraints={"video": {"width": {"ideal": 640},
                                                                          "height": {"ideal": 480}}})
            camera = gr.Image(label="Your camera", sources=["webcam"], streaming=True, webcam_options=webcam,
                              elem_id="live-camera", height=300)
            with gr.Accordion("Options", open=False):
                options = option_controls(prefix="live-", live=True)
        with gr.Column():
            result = gr.Image(label="Animated", interactive=False, format="jpeg", elem_id="live-result", height=360)
            status = gr.Markdown(elem_id="live-status")
            recalibrate = gr.Button("Recalibrate", elem_id="live-recalibrate")
            gr.Markdown(LIVE_HELP.format(seconds=_duration_words(settings.live_seconds), fps=settings.live_fps))
    session = gr.State(None, time_to_live=LIVE_IDLE_SECONDS)
    # preprocess=False: frames arrive as data URLs that the handler decodes itself (decode_camera_frame) and the
    # source photo is checked like an upload to /animate; postprocess=False: frames go back as inline JPEGs,
    # nothing is written to disk. The stream holds one of `live_sessions` slots for up to `live_seconds`.
    camera.stream(handler.frame, inputs=[camera, session, source, *options], outputs=[result, session, status],
                  api_name="live", preprocess=False, postprocess=False, show_progress="hidden",
                  stream_every=1 / settings.live_fps, time_limit=settings.live_seconds,
                  concurrency_limit=settings.live_sessions, concurrency_id="live")
    recalibrate.click(handler.recalibrate, inputs=[session], outputs=[status], api_visibility="undocumented",
                      concurrency_limit=None, show_progress="hidden")
    return camera_notice


def build_demo(settings: SpaceSettings | None = None, handler: TalkingHeadDemo | None = None,
               live: LiveDemo | None = None) -> gr.Blocks:
    """Build the Gradio app (not launched). Uploads and results older than ``settings.file_lifetime`` are
    deleted by gradio's ``delete_cache`` sweep. ``live`` defaults to a handler sharing ``handler``'s model
    and upload folder."""
    settings = settings or SpaceSettings.from_env()
    handler = handler or TalkingHeadDemo(settings)
    live = live or LiveDemo(settings, pipelines=handler.pipelines, uploads=handler.uploads)
    with gr.Blocks(title="mcc-hf talking head", delete_cache=settings.delete_cache) as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Tabs():
            with gr.Tab("Video", elem_id="video-tab"):
                video_tab(settings, handler)
            with gr.Tab("Live", elem_id="live-tab") as live_page:
                camera_notice = live_tab(settings, live)
        gr.on([demo.load, live_page.select], None, None, camera_notice, js=CAMERA_CHECK_JS)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def main() -> None:
    from mcc_hf.atomic import terminate_on_signals

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    session = SESSION or SessionFolder()
    session.use_for_gradio()
    # SIGTERM / SIGHUP (Space restarts, `docker stop`) end the server like Ctrl-C, so the folder goes too.
    with terminate_on_signals():
        try:
            settings = SpaceSettings.from_env()
            work = WorkArea(session.work, keep_seconds=settings.scratch_seconds, sweep_every=settings.delete_cache[0])
            handler = TalkingHeadDemo(settings, work=work, uploads=UploadFolder(session.uploads))
            try:  # load now so a Space fails at start-up with a clear message, not on the first request
                handler.pipelines.get()
            except UserInputError as e:
                sys.exit(f"error: {e} (set MCC_HF_MODEL to a pipeline folder or Hub id)")
            demo = build_demo(settings, handler)
            logger.info("uploads, results and scratch files live in %s (removed at exit)", session.root)
            try:
                demo.launch(
                    server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                    server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                    share=False,
                    max_file_size=settings.max_upload_bytes,
                    allowed_paths=[],
                    show_error=False,
                )
            finally:
                demo.close()
        finally:
            session.close()


if __name__ == "__main__":
    main()
