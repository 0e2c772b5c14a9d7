# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The page: its texts, the option controls, one function per tab (:func:`video_tab`, :func:`live_tab`) and
:func:`build_demo`, which puts them together with the handlers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from .live import LIVE_IDLE_SECONDS, LiveDemo
from .rendering import MOTION_MODES, OUTPUT_SIZES, TalkingHeadDemo
from .settings import SpaceSettings

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"

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
    """The option controls, in the order of :meth:`~.rendering.RenderOptions.from_ui`'s parameters; for the Live tab
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

