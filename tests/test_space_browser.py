# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The Space demo used the way a person uses it: Debian's Chromium, headless, driven by Playwright.

Needs the system browser (``apt-get install -y chromium``) and ``pip install playwright``; the test never
downloads a browser (no ``playwright install``). Without them it skips, unless ``MCC_REQUIRE_BROWSER=1``
(set in CI) turns the skip into a failure. Screenshots go to ``artifacts/`` (``MCC_ARTIFACTS_DIR``).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from test_space import EXAMPLES, MAX_FPS, MAX_SECONDS, MAX_UPLOAD_MB, start_space, write_clip

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(os.environ.get("MCC_ARTIFACTS_DIR", ROOT / "artifacts"))
CHROMIUM = os.environ.get("MCC_CHROMIUM", "/usr/bin/chromium")
RENDER_TIMEOUT_MS = 240_000


def _unavailable(reason: str):
    if os.environ.get("MCC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MCC_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no system Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-quic"])
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
    page.goto(space.url, wait_until="networkidle")
    yield page
    page.close()
    assert outside == [], f"the page requested outside hosts: {outside}"


def upload(page, source: Path, driving: Path) -> None:
    page.locator("#source input[type=file]").set_input_files(str(source))
    page.locator("#driving input[type=file]").set_input_files(str(driving))
    page.locator("#driving video").wait_for(timeout=30_000)


def error_toast(page) -> str:
    toast = page.locator(".toast-body").first
    toast.wait_for(timeout=60_000)
    return toast.inner_text()


def test_generate_in_the_browser(page, space):
    upload(page, EXAMPLES / "astronaut-face.jpg", EXAMPLES / "astronaut-nod.mp4")
    page.locator("#animate").click()

    progress = page.locator("#result").get_by_text(re.compile(r"Rendering frames"))
    progress.first.wait_for(timeout=RENDER_TIMEOUT_MS)  # the frame progress bar while frames render
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#result").screenshot(path=str(ARTIFACTS / "space-progress.png"))

    page.wait_for_function(
        "(document.querySelector('#result video') && document.querySelector('#result video').readyState >= 2)"
        " || document.querySelector('.toast-body')",
        timeout=RENDER_TIMEOUT_MS,
    )  # Chromium has decoded the result's first frame, or an error was shown
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").first.inner_text()
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
    page.locator("#animate").click()
    page.wait_for_function(
        "(document.querySelector('#result video') && document.querySelector('#result video').readyState >= 2)"
        " || document.querySelector('.toast-body')",
        timeout=RENDER_TIMEOUT_MS,
    )
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").first.inner_text()
    assert re.search(r"\d+ frames", page.locator("#summary").inner_text())


def test_example_row_fills_the_inputs_and_renders(page):
    page.locator("#animate").wait_for()
    page.get_by_text("Examples (NASA portrait, public domain)").wait_for()
    page.locator("table tbody tr").first.click()
    page.locator("#source img").wait_for(timeout=30_000)
    page.locator("#driving video").wait_for(timeout=30_000)
    page.locator("#animate").click()
    page.wait_for_function(
        "(document.querySelector('#result video') && document.querySelector('#result video').readyState >= 2)"
        " || document.querySelector('.toast-body')",
        timeout=RENDER_TIMEOUT_MS,
    )
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").first.inner_text()
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
