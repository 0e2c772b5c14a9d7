# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The Space demo used the way a person uses it: Debian's Chromium, headless, driven by Playwright.

Needs the system browser (``apt-get install -y chromium``) and ``pip install playwright``; the test never
downloads a browser (no ``playwright install``). Without them it skips, unless ``MCC_REQUIRE_BROWSER=1``
(set in CI) turns the skip into a failure. Screenshots go to ``artifacts/`` (``MCC_ARTIFACTS_DIR``).

The Live tab is driven by Chromium's fake camera playing a clip of the shared mini dataset (written as a
YUV4MPEG2 file in the test), against the app serving the bundled default model; that test skips without
``../shared``.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from conftest import ROOT
from test_space import EXAMPLES, MAX_FPS, MAX_SECONDS, MAX_UPLOAD_MB, SpaceServer, start_space, write_clip

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(os.environ.get("MCC_ARTIFACTS_DIR", ROOT / "artifacts"))
CHROMIUM = os.environ.get("MCC_CHROMIUM", "/usr/bin/chromium")
RENDER_TIMEOUT_MS = 240_000
PAGE_LOAD_TIMEOUT_MS = 120_000  # the first page load compiles gradio's front end; slow on a busy machine


def _unavailable(reason: str):
    if os.environ.get("MCC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MCC_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


#: A host name the browsers resolve to the loopback address: a page loaded from it is not a secure context
#: (unlike 127.0.0.1 or localhost), so the browser gives it no camera.
INSECURE_HOST = "live-demo.test"


@pytest.fixture(scope="module")
def playwright_driver():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no system Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        yield playwright


def launch_chromium(playwright, *args: str):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1",
        *args])


@pytest.fixture(scope="module")
def browser(playwright_driver):
    """Chromium as most visitors have it, but without any camera device."""
    browser = launch_chromium(playwright_driver)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def space(tmp_path_factory, browser):
    # One frame per batch: the progress bar advances 30 times for the 30-frame example.
    server = start_space(tmp_path_factory, MCC_SPACE_BATCH_SIZE="1")
    yield server
    server.stop()


@pytest.fixture
def page(browser, space):
    """A fresh page on the app; fails the test if the page asks anything of a host other than the app."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith((space.url, "data:", "blob:")) else None)
    # Not "networkidle": the Live tab's streaming components keep a connection busy, so the network never
    # goes quiet. The app is ready when its Animate button is on the page.
    page.goto(space.url, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    page.locator("#animate").wait_for(timeout=PAGE_LOAD_TIMEOUT_MS)
    yield page
    page.close()
    assert outside == [], f"the page requested outside hosts: {outside}"


def upload(page, source: Path, driving: Path) -> None:
    page.locator("#source input[type=file]").set_input_files(str(source))
    page.locator("#driving input[type=file]").set_input_files(str(driving))
    page.locator("#driving video").wait_for(timeout=30_000)


def untick_crop(page) -> None:
    """Synthetic clips have no face: turn off 'Crop and paste back' (on by default) before animating."""
    box = page.locator("#crop input[type=checkbox]")
    if box.is_checked():
        box.uncheck()


def error_toast(page) -> str:
    toast = page.locator(".toast-body").first
    toast.wait_for(timeout=60_000)
    return toast.inner_text()


def wait_for_result(page) -> None:
    """Wait until Chromium has decoded the result's first frame, or an error was shown (which fails the test)."""
    page.wait_for_function(
        "(document.querySelector('#result video') && document.querySelector('#result video').readyState >= 2)"
        " || document.querySelector('.toast-body')",
        timeout=RENDER_TIMEOUT_MS,
    )
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").first.inner_text()


def test_generate_in_the_browser(page, space):
    upload(page, EXAMPLES / "astronaut-face.jpg", EXAMPLES / "astronaut-nod.mp4")
    page.locator("#animate").click()

    progress = page.locator("#result").get_by_text(re.compile(r"Rendering frames"))
    progress.first.wait_for(timeout=RENDER_TIMEOUT_MS)  # the frame progress bar while frames render
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#result").screenshot(path=str(ARTIFACTS / "space-progress.png"))

    wait_for_result(page)
    page.wait_for_function(
        "document.querySelector('#comparison video') && document.querySelector('#comparison video').readyState >= 2",
        timeout=60_000,
    )
    summary = page.locator("#summary").inner_text()
    assert "30 frames" in summary and "audio kept" in summary
    duration = page.evaluate("document.querySelector('#result video').duration")
    assert duration == pytest.approx(3.0, abs=0.2)
    source = page.locator("#result video").get_attribute("src")
    response = page.request.get(source)
    assert response.status == 200 and response.headers["content-type"] == "video/mp4"

    page.locator("#result video").evaluate("video => { video.pause(); video.currentTime = 1.5; }")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "space-screenshot.png"), full_page=True)


RECORD_WEBM = """async (milliseconds) => {
  const canvas = document.createElement('canvas'); canvas.width = canvas.height = 64;
  const context = canvas.getContext('2d');
  const stream = canvas.captureStream(30);
  const audio = new AudioContext(); const tone = audio.createOscillator();
  const sink = audio.createMediaStreamDestination();
  tone.connect(sink); tone.start(); stream.addTrack(sink.stream.getAudioTracks()[0]);
  const recorder = new MediaRecorder(stream, {mimeType: 'video/webm'}); const chunks = [];
  recorder.ondataavailable = (event) => chunks.push(event.data);
  let i = 0;
  const paint = () => { context.fillStyle = `hsl(${i++ * 12}, 80%, 50%)`; context.fillRect(0, 0, 64, 64); };
  const timer = setInterval(paint, 33);
  recorder.start(); await new Promise((done) => setTimeout(done, milliseconds)); recorder.stop();
  await new Promise((done) => recorder.onstop = done); clearInterval(timer);
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let text = ''; for (const byte of bytes) text += String.fromCharCode(byte); return btoa(text);
}"""


def test_browser_recorded_webm_is_accepted(browser, page, tmp_path):
    """What the webcam button uploads: a MediaRecorder WebM (VP8/VP9 + Opus) that declares no frame count
    and no frame rate. The app counts its frames and renders it."""
    recorder = browser.new_page()
    clip = tmp_path / "video.mp4"  # the name gradio's webcam recorder gives its WebM
    clip.write_bytes(base64.b64decode(recorder.evaluate(RECORD_WEBM, 800)))
    recorder.close()
    upload(page, EXAMPLES / "astronaut-face.jpg", clip)
    untick_crop(page)
    page.locator("#animate").click()
    wait_for_result(page)
    assert re.search(r"\d+ frames", page.locator("#summary").inner_text())


def test_example_row_fills_the_inputs_and_renders(page):
    page.locator("#animate").wait_for()
    page.get_by_text("Examples (NASA portrait, public domain)").wait_for()
    page.locator("table tbody tr").first.click()
    page.locator("#source img").wait_for(timeout=30_000)
    page.locator("#driving video").wait_for(timeout=30_000)
    page.locator("#animate").click()
    wait_for_result(page)
    assert "30 frames" in page.locator("#summary").inner_text()


def test_invalid_image_gets_a_clear_message(page, tmp_path):
    not_an_image = tmp_path / "holiday.png"
    not_an_image.write_text("this is text, not a picture\n" * 10)
    upload(page, not_an_image, EXAMPLES / "astronaut-nod.mp4")
    page.locator("#animate").click()
    message = error_toast(page)
    assert "not an image that can be read" in message
    assert "Traceback" not in page.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "space-invalid-upload.png"), full_page=True)


def test_too_long_driving_video_gets_a_clear_message(page, tmp_path):
    clip = write_clip(tmp_path / "long.mp4", num_frames=(MAX_SECONDS + 1) * 10, size=32)
    upload(page, EXAMPLES / "astronaut-face.jpg", clip)
    page.locator("#animate").click()
    assert f"this Space accepts up to {MAX_SECONDS} s" in error_toast(page)


def test_oversized_upload_gets_a_clear_message(page, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(int(MAX_UPLOAD_MB * 1.5 * 2**20)))
    page.locator("#source input[type=file]").set_input_files(str(big))
    message = error_toast(page)
    assert "exceed the maximum allowed size" in message and "big.png" in message
    assert "Traceback" not in page.content()


def test_high_frame_rate_gets_a_clear_message(page, tmp_path):
    clip = write_clip(tmp_path / "fast.mp4", num_frames=1200, fps=600, size=16, audio=False)  # 2 s, 1200 frames
    upload(page, EXAMPLES / "astronaut-face.jpg", clip)
    page.locator("#animate").click()
    assert f"runs at 600 fps; this Space accepts up to {MAX_FPS} fps" in error_toast(page)


def test_broken_audio_toast_names_the_audio_and_no_server_path(page, space, tmp_path):
    clip = write_clip(tmp_path / "broken-audio.mp4", num_frames=6, broken_audio=True)
    upload(page, EXAMPLES / "astronaut-face.jpg", clip)
    page.locator("#animate").click()
    message = error_toast(page)
    assert "audio track could not be copied" in message
    assert str(space.files_base) not in message and not re.search(r"/(?:tmp|var|home|root|srv|work)/", message)
    assert "Traceback" not in page.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "space-audio-error.png"), full_page=True)


# ----------------------------------------------------------------------------------------------
# The Live tab: Chromium's fake camera plays a shared clip; the app serves the bundled default model
# ----------------------------------------------------------------------------------------------

#: The live test streams for at least this many seconds after the first animated frame, and until it has
#: seen at least ``LIVE_MIN_FRAMES`` frames, to measure the frame rate.
LIVE_STREAM_SECONDS = 15
LIVE_MIN_FRAMES = 6


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """``(H, W, 3)`` uint8 RGB frames (even sides) as a YUV4MPEG2 file, 4:2:0 with BT.601 limited-range
    colours: what Chromium's ``--use-file-for-fake-video-capture`` plays (looping) as the camera."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            r, g, b = (frame[..., i].astype(np.float32) for i in range(3))
            y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
            u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
            v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
            out.write(b"FRAME\n")
            for plane in (y, *(c.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)) for c in (u, v))):
                out.write(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes())
    return path


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory, data_dir) -> Path:
    """Two seconds of a talking head from the mini dataset's test split, as the fake camera's video."""
    from mcc_hf.video import probe_video, read_frames

    clip = sorted((data_dir / "test").glob("*.mp4"))[0]
    frames = list(itertools.islice(read_frames(clip), 50))
    fps = round(float(probe_video(clip).fps))
    return write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", frames, fps)


@pytest.fixture(scope="module")
def camera_browser(playwright_driver, camera_clip):
    """Chromium with a fake camera device playing ``camera_clip``; camera permission is granted per context."""
    browser = launch_chromium(playwright_driver, "--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-video-capture={camera_clip}")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def live_space(tmp_path_factory, camera_browser):
    """The app with the bundled default model (``MCC_HF_MODEL`` unset), as a Space runs it."""
    folder = tmp_path_factory.mktemp("live-space")
    server = SpaceServer(folder / "no-model", folder / "server.log", MCC_HF_MODEL="")
    server.wait_ready(timeout=300)
    yield server
    server.stop()


#: Installed in the page: records each new animated frame the Live tab shows (time in ms, data URL).
RECORD_LIVE_FRAMES = """() => {
  window.liveFrames = [];
  const result = document.querySelector('#live-result');
  const record = () => {
    const image = result.querySelector('img');
    const last = window.liveFrames[window.liveFrames.length - 1];
    if (image && image.src.startsWith('data:') && (!last || last.src !== image.src)) {
      window.liveFrames.push({t: performance.now(), src: image.src});
    }
  };
  new MutationObserver(record).observe(result, {subtree: true, childList: true, attributes: true});
}"""


def decode_data_url(url: str) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def test_live_tab_without_a_camera_says_what_is_needed(page):
    """Chromium with no camera device: gradio's webcam box fails silently; the tab says what is needed."""
    page.get_by_role("tab", name="Live").click()
    notice = page.locator("#live-camera-notice")
    notice.get_by_text("No camera found").wait_for(timeout=30_000)
    page.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    page.wait_for_timeout(1000)
    assert "The Live tab needs a webcam" in notice.inner_text()
    assert page.locator(".toast-body").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "space-live-no-camera.png"), full_page=True)


def test_live_tab_on_an_insecure_page_says_why_there_is_no_camera(browser, space):
    """Served over plain http from a host that is not the local machine, a page gets no camera at all (even
    where the computer has one): the tab says to use https:// (or localhost)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(space.url.replace("127.0.0.1", INSECURE_HOST), wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    assert page.evaluate("window.isSecureContext") is False
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-camera-notice").get_by_text("This page cannot use a camera").wait_for(timeout=30_000)
    assert "https://" in page.locator("#live-camera-notice").inner_text()
    context.close()


def test_live_tab_animates_the_webcam_stream(camera_browser, live_space):
    """Open the Live tab, allow the (fake) camera, press Record: animated frames of the bundled model arrive,
    each different, with the achieved rate shown; Recalibrate takes effect; no camera frame is stored."""
    context = camera_browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"])
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith((live_space.url, "data:", "blob:")) else None)
    sent: list[str] = []  # camera frames the page sent (after the first, which starts the stream)
    page.on("request", lambda request: sent.append(request.url)
            if request.method == "POST" and re.search(r"/stream/\w+$", request.url) else None)
    page.goto(live_space.url, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-source img").wait_for(timeout=60_000)  # the example face is the default source
    page.evaluate(RECORD_LIVE_FRAMES)
    stored_before = set(live_space.stored_files())

    page.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    page.locator("#live-camera video").wait_for(timeout=30_000)
    page.locator("#live-camera button", has_text="Record").click()
    page.wait_for_function("window.liveFrames.length >= 1 || document.querySelector('.toast-body')", timeout=120_000)
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").first.inner_text()
    page.wait_for_timeout(LIVE_STREAM_SECONDS * 1000)
    page.wait_for_function(f"window.liveFrames.length >= {LIVE_MIN_FRAMES}", timeout=180_000)  # a busy machine
    frames = page.evaluate("window.liveFrames")
    frames_sent = len(sent)
    status = page.locator("#live-status").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "space-live.png"), full_page=True)

    page.locator("#live-recalibrate").click()
    page.locator("#live-status").get_by_text(re.compile("recalibrated")).wait_for(timeout=60_000)
    page.locator("#live-camera button", has_text="Stop").click()
    shown_at_stop = page.evaluate("window.liveFrames.length")
    page.wait_for_timeout(6000)
    shown_after_stop = page.evaluate("window.liveFrames.length") - shown_at_stop
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").first.inner_text()
    assert page.locator("#live-camera-notice").inner_text().strip() == ""  # a camera is there: no notice
    context.close()

    images = [decode_data_url(frame["src"]) for frame in frames]
    assert all(image.shape == (256, 256, 3) for image in images)  # the Live tab's default output height
    changes = [float(np.abs(a.astype(np.float32) - b).mean()) for a, b in zip(images, images[1:])]
    assert max(changes) > 2.0, changes  # the animation moves (JPEG noise alone is below 1)
    seconds = (frames[-1]["t"] - frames[1]["t"]) / 1000  # from the second frame: the first includes set-up
    browser_fps = (len(frames) - 2) / seconds if len(frames) > 2 and seconds > 0 else 0.0
    assert re.search(r"[\d.]+ frames/s", status) and "ms per frame" in status, status
    # No pile-up: the page sends 10 frames a second whatever the server does; the server renders the newest
    # one when it is free and drops the others, so at most the frame rendering at Stop arrives afterwards.
    assert shown_after_stop <= 1, f"{shown_after_stop} frames arrived after Stop ({frames_sent} were sent)"
    assert set(live_space.stored_files()) == stored_before  # frames in and out stay in memory
    assert outside == [], f"the page requested outside hosts: {outside}"
    measured = {"frames_shown": len(frames), "frames_sent": frames_sent, "browser_fps": round(browser_fps, 2),
                "seconds": round(seconds, 1), "status": " ".join(status.split()),
                "mean_abs_change": round(float(np.mean(changes)), 2)}
    (ARTIFACTS / "space-live.json").write_text(json.dumps(measured, indent=2) + "\n")
    print(f"\nlive tab, bundled model: {measured}")
