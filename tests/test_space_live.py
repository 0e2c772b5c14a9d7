# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The Space's Live tab in process: camera frames as the browser sends them (inline data URLs) through
``LiveDemo.frame`` with a tiny model, the frame budget, recalibration, face-less frames, the limits and
the refusals. The browser side (a fake camera in Chromium) is in ``test_space_browser.py``."""

from __future__ import annotations

import base64
import io
import shutil

import gradio as gr
import numpy as np
import PIL.Image
import pytest

from conftest import tiny_pipeline
from mcc_space.live import NO_FACE_IN_CAMERA, FrameBudget, FrameRate, LiveDemo, decode_camera_frame
from mcc_space.rendering import TalkingHeadDemo
from mcc_space.settings import SpaceSettings
from mcc_space.ui import LIVE_HELP, _duration_words, build_demo
from mcc_space.uploads import UploadFolder
from test_space import EXAMPLES, FailingModel, write_source


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TinyModel:
    """A ``PipelineHolder`` stand-in serving one tiny pipeline (loaded on first use, like the real one)."""

    def __init__(self):
        self.pipe = None

    def get(self):
        if self.pipe is None:
            self.pipe = tiny_pipeline()
        return self.pipe

    def for_request(self):
        return self.get()


def data_url(image: np.ndarray | PIL.Image.Image, fmt: str = "JPEG", media_type: str = "image/jpeg") -> dict:
    """A camera frame the way gradio's streaming webcam sends it (``canvas.toDataURL('image/jpeg')``)."""
    if isinstance(image, np.ndarray):
        image = PIL.Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return {"path": None, "url": f"data:{media_type};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")}


def decode_output(value: dict) -> np.ndarray:
    assert value["path"] is None and value["url"].startswith("data:image/jpeg;base64,")
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(value["url"].split(",", 1)[1]))))


def camera_frames(count: int, size: int = 64) -> list[dict]:
    """Moving gradients: distinct frames the tiny model animates differently."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    frames = []
    for i in range(count):
        red = np.full((size, size), (i * 53) % 256, np.float32)
        frame = np.stack(np.broadcast_arrays(red, ramp[:, None], ramp[::-1][None, :]), -1)
        frames.append(data_url(frame.astype(np.uint8)))
    return frames


@pytest.fixture
def uploads(tmp_path):
    folder = tmp_path / "uploads"
    (folder / "abc").mkdir(parents=True)
    return folder


@pytest.fixture
def live(uploads):
    return LiveDemo(SpaceSettings(live_fps=10), pipelines=TinyModel(), uploads=UploadFolder(uploads), clock=FakeClock())


def test_live_settings_from_environment():
    settings = SpaceSettings.from_env({"MCC_SPACE_LIVE_SECONDS": "30", "MCC_SPACE_LIVE_FPS": "4.5",
                                       "MCC_SPACE_LIVE_SESSIONS": "2"})
    assert (settings.live_seconds, settings.live_fps, settings.live_sessions) == (30, 4.5, 2)
    defaults = SpaceSettings.from_env({})
    assert (defaults.live_seconds, defaults.live_fps, defaults.live_sessions) == (120, 10.0, 1)
    with pytest.raises(SystemExit, match="MCC_SPACE_LIVE_SECONDS"):
        SpaceSettings.from_env({"MCC_SPACE_LIVE_SECONDS": "1.5"})
    with pytest.raises(SystemExit, match="must be positive"):
        SpaceSettings.from_env({"MCC_SPACE_LIVE_FPS": "0"})


def test_live_stream_renders_frames_in_one_session(live, uploads):
    source = {"path": str(write_source(uploads / "abc" / "face.png"))}
    session, outputs = None, []
    for frame in camera_frames(4):
        result, session, status = live.frame(frame, session, source, crop=False)
        outputs.append(decode_output(result))
        live.clock.advance(0.25)
    assert all(output.shape == (256, 256, 3) for output in outputs)  # output height 256, the Live default
    assert len({output.tobytes() for output in outputs}) == 4  # every frame animated anew
    assert session.rendered == 4 and session.skipped == 0
    assert "4 frames" in status and "frames/s" in status and "ms per frame" in status
    assert session.rate.fps == pytest.approx(4.0, rel=0.3)  # frames 0.25 s apart (the fake clock)

    # The same session goes on; a new option (or photo) prepares the source again.
    _, same, _ = live.frame(camera_frames(1)[0], session, source, crop=False)
    assert same is session
    result, other, _ = live.frame(camera_frames(1)[0], session, source, crop=False, output_size=0)
    assert other is not session and decode_output(result).shape == (64, 64, 3)  # the tiny model's own size
    assert sorted(path.name for path in uploads.rglob("*") if path.is_file()) == ["face.png"]  # nothing stored


def test_frames_over_the_budget_are_skipped_not_queued(live, uploads):
    """A client sending 50 frames per second to a 10 fps session: about 10 per second are rendered, the rest
    skipped at once (the outputs stay as they were)."""
    source = {"path": str(write_source(uploads / "abc" / "face.png"))}
    frame = camera_frames(1)[0]
    session, skipped = None, []
    for _ in range(50):
        result, session, status = live.frame(frame, session, source, crop=False)
        if result == gr.skip():
            skipped.append(status)
        live.clock.advance(0.02)
    assert 9 <= session.rendered <= 13 and session.rendered + session.skipped == 50
    assert len(skipped) == session.skipped and skipped == [gr.skip()] * len(skipped)  # nothing updated
    live.clock.advance(0.1)
    _, _, status = live.frame(frame, session, source, crop=False)
    assert f"{session.skipped} skipped (over 10 frames/s)" in status


def test_frame_budget_and_rate():
    budget = FrameBudget(fps=10)
    rng = np.random.default_rng(0)
    # A browser sending on a 10 fps timer, each frame delayed by 0 to 60 ms on the way: no frame lost.
    arrivals = np.arange(100) * 0.1 + rng.uniform(0, 0.06, 100)
    assert sum(budget.take(float(now)) for now in arrivals) == 100
    rate = FrameRate(window=2.0)
    assert rate.fps is None
    for t in np.arange(0, 5, 0.25):
        rate.add(float(t))
    assert rate.fps == pytest.approx(4.0)
    rate.add(20.0)  # slower than the window: measured over the last two frames
    assert rate.fps == pytest.approx(1 / 15.25)


def test_recalibrate_and_pause_make_the_next_frame_the_reference(live, uploads, monkeypatch):
    source = {"path": str(write_source(uploads / "abc" / "face.png"))}
    frames = camera_frames(3)
    assert "Start the camera first" in live.recalibrate(None)
    _, session, _ = live.frame(frames[0], None, source, crop=False)
    references = []
    monkeypatch.setattr(session.animation, "set_reference", references.append)
    live.clock.advance(0.2)
    live.frame(frames[1], session, source, crop=False)
    assert references == []
    assert "Recalibrating" in live.recalibrate(session)
    live.clock.advance(0.2)
    _, _, status = live.frame(frames[2], session, source, crop=False)
    assert references == [None] and "recalibrated" in status  # set_reference(None): this frame is the reference
    live.clock.advance(0.2)
    _, _, status = live.frame(frames[0], session, source, crop=False)
    assert references == [None]
    live.clock.advance(3.0)  # the note goes; a short pause is not a new stream
    _, _, status = live.frame(frames[1], session, source, crop=False)
    assert references == [None] and "recalibrated" not in status
    live.clock.advance(60.0)  # Stop, then Record a minute later: a new stream starts from a new reference
    _, _, status = live.frame(frames[2], session, source, crop=False)
    assert references == [None, None] and status.startswith("**first frame**")


def test_recalibration_finds_the_face_again(live, uploads):
    """With crop, the driving face box is found on the first frame and again after Recalibrate; a frame
    without a face there keeps the last animated frame and says why, and the stream goes on."""
    shutil.copy(EXAMPLES / "astronaut-face.jpg", uploads / "abc" / "face.jpg")
    source = {"path": str(uploads / "abc" / "face.jpg")}
    face = PIL.Image.open(EXAMPLES / "astronaut-face.jpg").convert("RGB")
    blank = data_url(np.full((240, 320, 3), 90, np.uint8))

    result, session, status = live.frame(blank, None, source)
    assert result == gr.skip() and status == NO_FACE_IN_CAMERA and session.rendered == 0
    live.clock.advance(0.2)
    result, session, status = live.frame(data_url(face), session, source)
    assert decode_output(result).shape == (256, 256, 3) and session.rendered == 1
    live.recalibrate(session)
    live.clock.advance(0.2)
    result, session, status = live.frame(blank, session, source)
    assert result == gr.skip() and status == NO_FACE_IN_CAMERA
    live.clock.advance(0.2)
    result, session, status = live.frame(data_url(face.transpose(PIL.Image.FLIP_LEFT_RIGHT)), session, source)
    assert decode_output(result).shape == (256, 256, 3) and session.rendered == 2
    assert "recalibrated" in status  # the first frame with a face after Recalibrate is the new reference


def test_source_without_a_face_ends_the_stream_with_a_message(live, uploads):
    source = {"path": str(write_source(uploads / "abc" / "noise.png"))}
    with pytest.raises(gr.Error, match="No face found in the source image.*untick 'Crop and paste back'") as info:
        live.frame(camera_frames(1)[0], None, source, crop=True)
    assert "Find best frame" not in info.value.message


def test_live_source_follows_the_upload_rules(uploads, tmp_path):
    """The source photo is checked like an upload to /animate, before any model work."""
    handler = LiveDemo(SpaceSettings(max_image_side=100), pipelines=FailingModel(), uploads=UploadFolder(uploads))
    frame = camera_frames(1)[0]
    outside = write_source(tmp_path / "private.png")
    with pytest.raises(gr.Error, match="The source image is not a file uploaded to this page"):
        handler.frame(frame, None, {"path": str(outside)})
    with pytest.raises(gr.Error, match="Please add a source image first"):
        handler.frame(frame, None, None)
    with pytest.raises(gr.Error, match="largest side accepted is 100"):
        handler.frame(frame, None, {"path": str(write_source(uploads / "abc" / "big.png", size=200))})
    not_an_image = uploads / "abc" / "notes.png"
    not_an_image.write_text("text, not a picture\n" * 10)
    with pytest.raises(gr.Error, match="not an image that can be read"):
        handler.frame(frame, None, {"path": str(not_an_image)})
    with pytest.raises(gr.Error, match="Motion must be one of"):
        handler.frame(frame, None, {"path": str(outside)}, motion="Sideways")


def test_camera_frames_are_decoded_in_memory_with_the_upload_limits(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    settings = SpaceSettings(max_upload_mb=0.05, max_image_side=300)
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    for fmt, media_type in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        decoded = decode_camera_frame(data_url(image, fmt, media_type), settings)
        assert decoded.mode == "RGB" and decoded.size == (64, 48)
    assert np.array_equal(np.asarray(decode_camera_frame(data_url(image, "PNG", "image/png"), settings)), image)

    ghostscript = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "load", lambda self, *a, **k: ghostscript.append(self))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    secret = write_source(tmp_path / "secret.png")
    refused = {
        "a server path": {"path": str(secret)},
        "a server path with meta": {"path": str(secret), "meta": {"_type": "gradio.FileData"}},
        "a URL": {"path": None, "url": "https://example.com/face.jpg"},
        "EPS as JPEG": {"url": "data:image/jpeg;base64," + base64.b64encode(eps).decode()},
        "EPS type": {"url": "data:application/postscript;base64," + base64.b64encode(eps).decode()},
        "GIF": data_url(image, "GIF", "image/gif"),
        "PNG labelled JPEG": data_url(image, "PNG", "image/jpeg"),
        "not base64": {"url": "data:image/jpeg;base64,@@@not base64@@@"},
        "not data": {"url": "data:image/jpeg,rawbytes"},
        "truncated": {"url": data_url(image)["url"][:200]},
        "nothing": None,
        "a string": "data:image/jpeg;base64,AAAA",
    }
    messages = {}
    for case, payload in refused.items():
        with pytest.raises(gr.Error) as info:
            decode_camera_frame(payload, settings)
        messages[case] = info.value.message
    assert set(messages.values()) == {"A camera frame is not an image that can be read (the page sends JPEG frames)."}
    assert ghostscript == []
    with pytest.raises(gr.Error, match="larger than 0.05 MB"):
        decode_camera_frame(data_url(np.random.default_rng(1).integers(0, 256, (200, 200, 3), np.uint8), "PNG",
                                     "image/png"), settings)
    with pytest.raises(gr.Error, match="400 x 20 pixels; the largest side accepted is 300"):
        decode_camera_frame(data_url(np.zeros((20, 400, 3), np.uint8)), settings)


def test_live_tab_is_built():
    settings = SpaceSettings(live_seconds=45, live_fps=8, live_sessions=2)
    demo = build_demo(settings, TalkingHeadDemo(settings, pipelines=FailingModel()))
    stream = next(fn for fn in demo.fns.values() if fn.api_name == "live")
    assert stream.connection == "stream" and stream.time_limit == 45 and stream.stream_every == pytest.approx(1 / 8)
    assert stream.concurrency_limit == 2 and stream.concurrency_id == "live"
    assert not stream.preprocess and not stream.postprocess  # frames are decoded / encoded by the app, in memory
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"live-source", "live-camera", "live-result", "live-status", "live-recalibrate", "live-camera-notice",
            "live-motion", "live-crop", "source", "driving", "animate"} <= ids
    assert "live-find-best-frame" not in ids
    assert "45 seconds" in LIVE_HELP.format(seconds=_duration_words(45), fps=8)
