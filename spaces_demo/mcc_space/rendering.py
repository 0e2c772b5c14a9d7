# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Rendering a video: the options of the UI (:class:`RenderOptions`), messages for the user that never show
a server path (:func:`without_paths`, :func:`render_error`), the scratch space (:class:`WorkArea`), the model
(:class:`PipelineHolder`) and the handler behind the ``/animate`` endpoint (:class:`TalkingHeadDemo`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import gradio as gr
import numpy as np
import PIL.Image

from mcc_hf.errors import NoFaceFoundError, UserInputError
from mcc_hf.video import VideoWriter, probe_video, read_frames

from .settings import SpaceSettings
from .uploads import (SOURCE_FORMATS, UploadFolder, check_audio_track, check_driving_video, check_source_image,
                      too_many_frames)

logger = logging.getLogger(__name__)

MOTION_MODES = ("Relative", "Absolute")
#: Output size choices: (label, side in pixels); 0 means "let the pipeline decide".
OUTPUT_SIZES = (("Auto", 0), ("256 px", 256), ("512 px", 512))


@dataclass(frozen=True)
class RenderOptions:
    """The options of the UI, validated; their fields are keyword arguments of ``animate_to_file``.

    A new option is a field here, a parameter of :meth:`from_ui` (in the order of the UI's inputs) and a
    control in :func:`~.ui.option_controls`.
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
        smoothing = _ui_number("Smoothing", smoothing, float, lambda value: 0.0 <= value <= 1.0, "between 0 and 1")
        sizes = sorted(size for _, size in OUTPUT_SIZES)
        output_size = _ui_number("Output size", output_size, int, sizes.__contains__, f"one of {sizes}")
        return cls(relative=motion == "Relative", adapt_scale=bool(adapt_scale), find_best_frame=bool(find_best_frame),
                   crop=bool(crop), smoothing=smoothing, output_size=output_size or None,
                   detail_transfer=None if detail_transfer else False)

    def pipeline_kwargs(self) -> dict[str, Any]:
        return asdict(self)

    def live_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``pipe.live`` (a live stream has no look-ahead to find a best frame in)."""
        kwargs = asdict(self)
        del kwargs["find_best_frame"]
        return kwargs


def _ui_number(name: str, value: Any, kind: type, allowed: Callable[[Any], bool], choices: str) -> Any:
    """A number from the UI as ``kind`` (empty: 0); raises ``gr.Error`` ("{name} must be {choices}") unless
    ``allowed``."""
    try:
        number = kind(value if value not in (None, "") else 0)
    except (TypeError, ValueError):
        number = None
    if number is None or not allowed(number):
        raise gr.Error(f"{name} must be {choices}, got {value!r}.", title="Invalid option")
    return number


# An absolute (or home-relative) POSIX path: two or more parts, or one part with an extension.
_SERVER_PATH = re.compile(r"(?<![\w.~/])~?/(?:[\w.@+~-]+/)+[\w.@+~-]*|(?<![\w.~/])/[\w@+~-]+\.\w+")


def without_paths(message: str, names: Mapping[Path, str] | None = None) -> str:
    """``message`` with the given files replaced by their names for the user and any other absolute path
    replaced by ``[server path]``."""
    for path, name in (names or {}).items():
        message = message.replace(str(path), name)
    return _SERVER_PATH.sub("[server path]", message)


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
