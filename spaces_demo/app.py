# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Gradio demo of mcc-hf: animate a face photo with the motion of a driving video.

Run locally with ``python spaces_demo/app.py`` (serves http://127.0.0.1:7860, no share link, no
analytics) or deploy the folder as a Hugging Face Space unchanged (the Space sets
``GRADIO_SERVER_NAME=0.0.0.0``). Settings come from environment variables, see :class:`SpaceSettings`
and ``docs/space.md``.
"""

from __future__ import annotations

import os

# Before gradio is imported: no analytics / version-check requests, no Hub telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import atexit  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Iterator, Mapping  # noqa: E402

import av  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402

from mcc_hf.errors import UserInputError  # noqa: E402
from mcc_hf.image_processing import IMAGE_EXTENSIONS  # noqa: E402
from mcc_hf.video import VIDEO_EXTENSIONS  # noqa: E402

logger = logging.getLogger("mcc_hf.space")

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
MOTION_MODES = ("Relative", "Absolute")
#: Output size choices: (label, side in pixels); 0 means "let the pipeline decide".
OUTPUT_SIZES = (("Auto", 0), ("256 px", 256), ("512 px", 512))


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
        max_image_side: ``MCC_SPACE_MAX_IMAGE_SIDE``: largest source width or height in pixels (default 4096).
        concurrency: ``MCC_SPACE_CONCURRENCY``: videos rendered at the same time (default 1).
        queue_size: ``MCC_SPACE_QUEUE_SIZE``: requests allowed to wait in the queue (default 16).
        batch_size: ``MCC_SPACE_BATCH_SIZE``: driving frames per forward pass (default 4).
    """

    model: str | None = None
    device: str | None = None
    max_upload_mb: float = 20.0
    max_seconds: float = 20.0
    max_image_side: int = 4096
    concurrency: int = 1
    queue_size: int = 16
    batch_size: int = 4

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "SpaceSettings":
        return cls(
            model=environ.get("MCC_HF_MODEL") or None,
            device=environ.get("MCC_HF_DEVICE") or None,
            max_upload_mb=_env_number(environ, "MCC_SPACE_MAX_UPLOAD_MB", cls.max_upload_mb),
            max_seconds=_env_number(environ, "MCC_SPACE_MAX_SECONDS", cls.max_seconds),
            max_image_side=_env_number(environ, "MCC_SPACE_MAX_IMAGE_SIDE", cls.max_image_side, int),
            concurrency=_env_number(environ, "MCC_SPACE_CONCURRENCY", cls.concurrency, int),
            queue_size=_env_number(environ, "MCC_SPACE_QUEUE_SIZE", cls.queue_size, int),
            batch_size=_env_number(environ, "MCC_SPACE_BATCH_SIZE", cls.batch_size, int),
        )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


# ----------------------------------------------------------------------------------------------
# Input validation (cheap: headers and the first frame only, before any model work)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrivingInfo:
    """What probing a driving video found: its duration in seconds, frame rate and frame size."""

    seconds: float
    fps: float
    width: int
    height: int
    has_audio: bool


def uploaded_path(payload: Any, what: str) -> Path:
    """The server-side path of an uploaded file (a gradio ``FileData`` dict or a path string)."""
    path = payload.get("path") if isinstance(payload, Mapping) else payload
    if not path:
        raise gr.Error(f"Please add a {what} first.", title="Missing input")
    path = Path(path)
    if not path.is_file():
        raise gr.Error(f"The uploaded {what} is no longer on the server; please upload it again.", title="Missing input")
    return path


def check_file_size(path: Path, what: str, settings: SpaceSettings) -> None:
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise gr.Error(
            f"The {what} is {size / 2**20:.1f} MB; this Space accepts files up to {settings.max_upload_mb:g} MB.",
            title="File too large",
        )


def check_source_image(path: Path, settings: SpaceSettings) -> tuple[int, int]:
    """Validate the source image file; return its ``(width, height)``. Raises ``gr.Error``."""
    check_file_size(path, "source image", settings)
    try:
        with PIL.Image.open(path) as image:
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
    except (PIL.UnidentifiedImageError, OSError, ValueError, PIL.Image.DecompressionBombError):
        raise gr.Error(
            "The source file is not an image that can be read (use a PNG, JPEG or WebP photo of a face).",
            title="Invalid image",
        ) from None
    return width, height


def _stream_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def probe_driving_video(path: Path, settings: SpaceSettings) -> DrivingInfo:
    """Validate the driving video (size, container, duration, first frame). Raises ``gr.Error``."""
    check_file_size(path, "driving video", settings)
    invalid = gr.Error(
        "The driving file is not a video that can be decoded (use an MP4, WebM or MOV clip).", title="Invalid video"
    )
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise invalid
            if container.format.name == "image2" or container.format.name.endswith("_pipe"):
                raise gr.Error("The driving file is a still image; please upload a video.", title="Invalid video")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            seconds = _stream_seconds(container, stream)
            if seconds is None:  # no duration in the headers: count packets (no decoding)
                packets = sum(1 for packet in container.demux(stream) if packet.size)
                seconds = packets / fps if fps else None
                container.seek(0)
            if seconds is not None and seconds > settings.max_seconds:
                raise gr.Error(
                    f"The driving video is {seconds:.1f} s long; this Space accepts up to "
                    f"{settings.max_seconds:g} s. Trim it and try again.",
                    title="Video too long",
                )
            first = next(container.decode(stream), None)
            if first is None:
                raise gr.Error("The driving video has no frames.", title="Invalid video")
            width, height = first.width, first.height
            has_audio = bool(container.streams.audio)
    except gr.Error:
        raise
    except (av.FFmpegError, OSError, ValueError, StopIteration):
        raise invalid from None
    if seconds is None or fps <= 0:
        raise invalid
    if max(width, height) > settings.max_image_side:
        raise gr.Error(
            f"The driving video is {width} x {height} pixels; the largest side accepted is "
            f"{settings.max_image_side} pixels.",
            title="Video too large",
        )
    return DrivingInfo(seconds=seconds, fps=fps, width=width, height=height, has_audio=has_audio)


def parse_options(motion: Any, output_size: Any) -> tuple[bool, int | None]:
    """``(relative, output_size)`` from the UI values; raises ``gr.Error`` for values outside the choices."""
    if motion not in MOTION_MODES:
        raise gr.Error(f"Motion must be one of {', '.join(MOTION_MODES)}, got {motion!r}.", title="Invalid option")
    sizes = {value for _, value in OUTPUT_SIZES}
    if output_size in (None, ""):
        output_size = 0
    try:
        size = int(output_size)
    except (TypeError, ValueError):
        size = -1
    if size not in sizes:
        raise gr.Error(f"Output size must be one of {sorted(sizes)}, got {output_size!r}.", title="Invalid option")
    return motion == "Relative", size or None


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
# Model, scratch space and rendering
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


class WorkArea:
    """Private scratch folders for rendered videos, one per request, under a single temporary root.

    A failed request's folder is removed at once; a finished one is kept ``keep_seconds`` (gradio copies
    the returned files into its own cache right after the handler returns) and removed by a later
    request's sweep. The root is removed when the process exits.
    """

    def __init__(self, keep_seconds: float = 600.0):
        self.root = Path(tempfile.mkdtemp(prefix="mcc-space-"))
        self.keep_seconds = keep_seconds
        self._active: set[Path] = set()
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, True)

    def sweep(self) -> None:
        now = time.time()
        with self._lock:
            for folder in self.root.iterdir():
                if folder not in self._active and now - folder.stat().st_mtime > self.keep_seconds:
                    shutil.rmtree(folder, ignore_errors=True)

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


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``height`` rows keeping its aspect (even width)."""
    width = max(2, round(image.shape[1] * height / image.shape[0] / 2) * 2)
    return np.asarray(PIL.Image.fromarray(image).resize((width, height), PIL.Image.Resampling.BICUBIC))


def write_comparison(source: Path, driving: Path, result: Path, output: Path) -> int:
    """Write ``source | driving | result`` side by side (H.264, with the result's audio) to ``output``.

    The three panels share the result's height; the file appears only when complete. Returns the
    number of frames written.
    """
    from mcc_hf.video import VideoWriter, probe_video, read_frames

    info = probe_video(result)
    with PIL.Image.open(source) as image:
        still = _fit_height(np.asarray(image.convert("RGB")), info.height)
    with VideoWriter(output, info.fps, audio_from=result, crf=23) as writer:
        for driving_frame, result_frame in zip(read_frames(driving), read_frames(result)):
            writer.write(np.concatenate([still, _fit_height(driving_frame, info.height), result_frame], axis=1))
    return writer.num_frames


def frame_progress(progress: gr.Progress) -> Callable[[int, int | None], None]:
    """A ``callback(frames_done, total)`` for ``animate_to_file`` that drives a ``gr.Progress`` bar."""

    def callback(done: int, total: int | None) -> None:
        progress((done, total), desc="Rendering frames", unit="frames")

    return callback


class TalkingHeadDemo:
    """The request handler behind the UI and the ``/animate`` API endpoint."""

    def __init__(self, settings: SpaceSettings, pipelines: PipelineHolder | None = None,
                 work: WorkArea | None = None):
        self.settings = settings
        self.pipelines = pipelines or PipelineHolder(settings)
        self.work = work or WorkArea()

    def animate(self, source: Any, driving: Any, motion: str = "Relative", adapt_scale: bool = True,
                find_best_frame: bool = False, crop: bool = False, smoothing: float = 0.0, output_size: int = 0,
                progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:
        """Validate the inputs, render the video and its comparison view.

        Returns ``(result_video_path, comparison_video_path, summary_markdown)``.
        """
        source_path = uploaded_path(source, "source image")
        driving_path = uploaded_path(driving, "driving video")
        relative, size = parse_options(motion, output_size)
        smoothing = parse_smoothing(smoothing)
        check_source_image(source_path, self.settings)
        info = probe_driving_video(driving_path, self.settings)

        progress(0, desc="Loading the model")
        try:
            pipe = self.pipelines.get()
        except UserInputError as e:  # ModelLoadingError
            logger.error("model loading failed: %s", e)
            raise gr.Error(f"The model could not be loaded: {e}", title="Model unavailable") from None
        from mcc_hf.errors import NoFaceFoundError

        with self.work.request() as folder:
            result_path = folder / "result.mp4"
            started = time.perf_counter()
            try:
                result = pipe.animate_to_file(
                    str(source_path), str(driving_path), str(result_path),
                    relative=relative, adapt_scale=bool(adapt_scale), find_best_frame=bool(find_best_frame),
                    crop=bool(crop), smoothing=smoothing, batch_size=self.settings.batch_size, output_size=size,
                    keep_audio=True, callback=frame_progress(progress),
                )
            except NoFaceFoundError as e:
                raise gr.Error(
                    f"{str(e).split(';')[0].capitalize()}. Use a clearer, front-facing face, or untick 'Crop and paste "
                    "back' and 'Find best frame' if the inputs are already face crops.",
                    title="No face found",
                ) from None
            except UserInputError as e:
                message = str(e).replace(str(source_path), "the source image").replace(str(driving_path), "the driving video")
                raise gr.Error(message, title="Cannot animate these inputs") from None
            except av.FFmpegError as e:
                raise gr.Error(f"The driving video could not be decoded: {e}", title="Invalid video") from None
            seconds = time.perf_counter() - started
            progress(1.0, desc="Composing the comparison view")
            comparison_path = folder / "comparison.mp4"
            write_comparison(source_path, driving_path, Path(result.path), comparison_path)

        summary = (
            f"**{result.num_frames} frames** ({info.seconds:.1f} s) at {result.fps:g} fps, "
            f"{result.width} x {result.height} px, "
            f"audio {'kept' if result.has_audio else 'none (the driving video has no audio)'}; "
            f"rendered in {seconds:.1f} s ({result.num_frames / max(seconds, 1e-6):.1f} frames/s)."
        )
        return str(result.path), str(comparison_path), summary


# ----------------------------------------------------------------------------------------------
# User interface
# ----------------------------------------------------------------------------------------------

DESCRIPTION = """
# mcc-hf talking-head demo
Animate a face photo with the motion of a driving video, using multi-scale compensatory codebooks
(Zhao et al., *Synergizing Motion and Appearance*, CVPR 2025). Upload a **source** face and a **driving**
video (or record them with your webcam), then press **Animate**.
"""

LIMITS = """
Limits: files up to {mb:g} MB, driving videos up to {seconds:g} s, images up to {side} px per side.
The driving video's sound track is kept. Uploads and results are deleted from the server after about an hour.
"""


def example_rows() -> list[list[Any]]:
    face, portrait, clip = (EXAMPLES_DIR / name for name in ("astronaut-face.jpg", "astronaut.jpg", "astronaut-nod.mp4"))
    if not all(path.is_file() for path in (face, portrait, clip)):
        return []
    return [
        [str(face), str(clip), "Relative", True, False, False, 0.0, 0],
        [str(portrait), str(clip), "Relative", True, True, True, 0.3, 0],
    ]


def build_demo(settings: SpaceSettings | None = None, handler: TalkingHeadDemo | None = None) -> gr.Blocks:
    """Build the Gradio app (not launched)."""
    settings = settings or SpaceSettings.from_env()
    handler = handler or TalkingHeadDemo(settings)
    with gr.Blocks(title="mcc-hf talking head", delete_cache=(600, 3600)) as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Row():
            with gr.Column():
                source = gr.Image(label="Source face", type="filepath", sources=["upload", "webcam", "clipboard"],
                                  elem_id="source", height=280)
                driving = gr.Video(label="Driving video", sources=["upload", "webcam"], include_audio=True,
                                   elem_id="driving", height=280)
                with gr.Accordion("Options", open=True):
                    motion = gr.Radio(list(MOTION_MODES), value="Relative", label="Motion transfer",
                                      info="Relative: move the source as the driving face moves from its first "
                                           "(or best) frame. Absolute: copy the driving pose as it is.",
                                      elem_id="motion")
                    adapt_scale = gr.Checkbox(value=True, label="Adapt scale",
                                              info="Scale the motion to the size of the source face.",
                                              elem_id="adapt-scale")
                    find_best_frame = gr.Checkbox(value=False, label="Find best frame",
                                                  info="Start from the driving frame whose pose best matches the "
                                                       "source (needs a detectable face).",
                                                  elem_id="find-best-frame")
                    crop = gr.Checkbox(value=False, label="Crop and paste back",
                                       info="Detect the face, animate the crop and paste it back into the full "
                                            "picture (for un-cropped photos and videos).",
                                       elem_id="crop")
                    smoothing = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="Temporal smoothing",
                                          info="Smooth the driving motion over time against jitter (0 = off).",
                                          elem_id="smoothing")
                    output_size = gr.Radio([(label, value) for label, value in OUTPUT_SIZES], value=0,
                                           label="Output height", elem_id="output-size",
                                           info="Auto: the source's height with crop and paste-back, else the "
                                                "model's size.")
                button = gr.Button("Animate", variant="primary", elem_id="animate")
                gr.Markdown(LIMITS.format(mb=settings.max_upload_mb, seconds=settings.max_seconds,
                                          side=settings.max_image_side))
            with gr.Column():
                result = gr.Video(label="Result", interactive=False, elem_id="result", height=320)
                comparison = gr.Video(label="Side by side: source | driving | result", interactive=False,
                                      elem_id="comparison", height=240)
                summary = gr.Markdown(elem_id="summary")
        inputs = [source, driving, motion, adapt_scale, find_best_frame, crop, smoothing, output_size]
        rows = example_rows()
        if rows:
            gr.Examples(rows, inputs=inputs, label="Examples (NASA portrait, public domain)")
        # preprocess=False: the handler validates the raw uploads itself, so a bad file gets a clear
        # message instead of a component preprocessing error.
        button.click(handler.animate, inputs=inputs, outputs=[result, comparison, summary], api_name="animate",
                     preprocess=False, concurrency_limit=settings.concurrency)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = SpaceSettings.from_env()
    handler = TalkingHeadDemo(settings)
    try:  # load now so a Space fails at start-up with a clear message, not on the first request
        handler.pipelines.get()
    except UserInputError as e:
        sys.exit(f"error: {e} (set MCC_HF_MODEL to a pipeline folder or Hub id)")
    demo = build_demo(settings, handler)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False,
        max_file_size=settings.max_upload_bytes,
        allowed_paths=[],
        show_error=False,
    )


if __name__ == "__main__":
    main()
