# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The Gradio Space demo (``spaces_demo/app.py`` and its package ``mcc_space``): launched as
``python spaces_demo/app.py`` on a free loopback port with a tiny model and driven through ``gradio_client``
(including as a hostile client that names server files instead of uploading them); plus in-process checks
of the input validation, settings, error messages and file clean-up."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import gradio as gr
import numpy as np
import PIL.Image
import pytest

from conftest import ROOT, tiny_pipeline
from mcc_hf.video import probe_video
from mcc_space.rendering import TalkingHeadDemo, WorkArea, frame_progress, render_error, without_paths
from mcc_space.settings import SessionFolder, SpaceSettings
from mcc_space.ui import example_rows
from mcc_space.uploads import UploadFolder, check_audio_track, check_driving_video, check_source_image

APP = ROOT / "spaces_demo" / "app.py"
EXAMPLES = ROOT / "spaces_demo" / "examples"
#: Limits the test server runs with (small, so oversized inputs are cheap to make).
MAX_UPLOAD_MB = 1
MAX_SECONDS = 4  # the shipped example clip (3 s, 10 fps, 30 frames) must pass
MAX_FPS = 30
MAX_FRAMES = 40


# ----------------------------------------------------------------------------------------------
# Media and server helpers (also used by test_space_browser.py)
# ----------------------------------------------------------------------------------------------


def write_clip(path: Path, num_frames: int = 6, fps: int = 10, size: int = 64, audio: bool = True,
               broken_audio: bool = False) -> Path:
    """A moving-gradient H.264 clip, optionally with a 440 Hz AAC tone as long as the video, or with an
    MP2 audio track whose packets are garbage (it cannot be decoded, so it cannot be converted to AAC)."""
    rate = 16000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=rate, layout="mono") if audio and not broken_audio else None
        garbage = container.add_stream("mp2", rate=44100, layout="mono") if broken_audio else None
        ramp = np.linspace(0, 255, size, dtype=np.float32)
        for i in range(num_frames):
            frame = np.stack(np.broadcast_arrays(ramp[None, :] * 0 + (i * 37) % 256, ramp[:, None], ramp[None, :]), -1)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")))
        container.mux(video.encode())
        if garbage is not None:
            for k in range(10):
                packet = av.Packet(bytes(range(256)) * 2)
                packet.stream, packet.time_base = garbage, Fraction(1, 44100)
                packet.pts = packet.dts = k * 1152
                container.mux(packet)
        if sound is not None:
            samples = np.sin(2 * np.pi * 440 * np.arange(int(rate * num_frames / fps)) / rate).astype(np.float32) * 0.2
            for start in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = rate, start, Fraction(1, rate)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


def write_source(path: Path, size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    PIL.Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def video_summary(path: str | Path) -> dict:
    """Decode a video fully: frame count, size, codecs (proves it is playable, not just present)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return {
            "frames": len(frames),
            "width": frames[0].shape[1],
            "height": frames[0].shape[0],
            "video_codec": stream.codec_context.name,
            "audio_codecs": [audio.codec_context.name for audio in container.streams.audio],
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SpaceServer:
    """``python spaces_demo/app.py`` in a subprocess on a free loopback port."""

    def __init__(self, model_dir: Path, log_path: Path, **extra_env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        #: The app makes its private session folder (uploads/, work/) in here and must remove it at exit.
        self.files_base = log_path.parent / "server-files"
        self.files_base.mkdir()
        env = {
            **os.environ,
            "MCC_HF_MODEL": str(model_dir),
            "MCC_HF_DEVICE": "cpu",
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "OMP_NUM_THREADS": "1",
            "MCC_SPACE_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
            "MCC_SPACE_MAX_SECONDS": str(MAX_SECONDS),
            "MCC_SPACE_MAX_FPS": str(MAX_FPS),
            "MCC_SPACE_MAX_FRAMES": str(MAX_FRAMES),
            "GRADIO_TEMP_DIR": str(self.files_base),
            **extra_env,
        }
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen([sys.executable, str(APP)], cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Wait until the app answers; if it exits or does not answer within ``timeout``, stop it and raise."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the app exited with {self.process.returncode}:\n{self.log()}")
                try:
                    with urllib.request.urlopen(self.url, timeout=2) as response:
                        if response.status == 200:
                            return
                except OSError:
                    time.sleep(0.5)
            raise TimeoutError(f"the app did not answer on {self.url} within {timeout:.0f} s:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    @property
    def session(self) -> Path:
        """The app's private session folder (``uploads/`` is gradio's upload folder, ``work/`` the scratch space)."""
        folders = list(self.files_base.glob("mcc-space-*"))
        assert len(folders) == 1, folders
        return folders[0]

    def stored_files(self) -> list[Path]:
        return [path for path in self.files_base.rglob("*") if path.is_file()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def start_space(tmp_path_factory, **extra_env: str) -> SpaceServer:
    folder = tmp_path_factory.mktemp("space")
    tiny_pipeline().save_pretrained(folder / "model")
    server = SpaceServer(folder / "model", folder / "server.log", **extra_env)
    server.wait_ready()
    return server


# ----------------------------------------------------------------------------------------------
# Against the launched app, through gradio_client (slow: starting the app takes 15-30 s here)
# ----------------------------------------------------------------------------------------------

launched = pytest.mark.slow


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    server = start_space(tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(space):
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(space.url, verbose=False, download_files=str(space.log_path.parent / "downloads"))


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    not_an_image = folder / "notes.png"
    not_an_image.write_text("this is text, not a picture\n" * 10)
    not_a_video = folder / "notes.mp4"
    not_a_video.write_bytes(b"\x00\x01 definitely not a video " * 50)
    too_big = folder / "huge.png"
    too_big.write_bytes(os.urandom(int(MAX_UPLOAD_MB * 1.5 * 2**20)))
    return {
        "source": write_source(folder / "face.png"),
        "clip": write_clip(folder / "clip.mp4", num_frames=6),
        "silent": write_clip(folder / "silent.mp4", num_frames=5, audio=False),
        "long": write_clip(folder / "long.mp4", num_frames=(MAX_SECONDS + 1) * 10, size=32),
        # 3 s at 15 fps: within the duration and frame-rate limits, over the frame limit.
        "many_frames": write_clip(folder / "many.mp4", num_frames=MAX_FRAMES + 5, fps=15, size=32),
        # Matroska declares no frame count: the app counts (and stops counting past the limit).
        "many_frames_mkv": write_clip(folder / "many.mkv", num_frames=MAX_FRAMES + 5, fps=15, size=32),
        "broken_audio": write_clip(folder / "broken-audio.mp4", num_frames=6, broken_audio=True),
        "not_an_image": not_an_image,
        "not_a_video": not_a_video,
        "too_big": too_big,
    }


def animate(client, source, driving, *, motion="Relative", adapt_scale=True, find_best_frame=False, crop=False,
            smoothing=0.0, output_size=0, detail_transfer=True):
    from gradio_client import handle_file

    return client.predict(handle_file(str(source)), handle_file(str(driving)), motion, adapt_scale, find_best_frame,
                          crop, smoothing, output_size, detail_transfer, api_name="/animate")


def app_error(call) -> str:
    """The message of the ``AppError`` that ``call()`` must raise (no traceback in it)."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        call()
    message = str(info.value)
    assert "Traceback" not in message
    return message


def assert_no_server_path(message: str, space) -> None:
    assert str(space.files_base) not in message and str(ROOT) not in message
    assert not re.search(r"(?<![\w.])/(?:tmp|var|home|root|etc|srv|work|proc)/", message), message


@launched
def test_round_trip_gives_playable_video_with_audio(client, media):
    result, comparison, summary = animate(client, media["source"], media["clip"])
    out = video_summary(result)
    assert out["frames"] == 6
    assert (out["width"], out["height"]) == (64, 64)  # tiny-64 model size
    assert out["video_codec"] == "h264"
    assert out["audio_codecs"] == ["aac"]
    side = video_summary(comparison)
    assert side["frames"] == 6
    assert side["width"] == 3 * 64 and side["height"] == 64  # source | driving | result
    assert side["audio_codecs"] == ["aac"]
    assert "6 frames" in summary and "audio kept" in summary


@launched
def test_shipped_examples_render(client):
    """Both example rows as the UI sends them; the second crops the full portrait and pastes back."""
    for source, driving, *options in example_rows():
        result, comparison, summary = animate(client, source, driving, **dict(zip(
            ("motion", "adapt_scale", "find_best_frame", "crop", "smoothing", "output_size", "detail_transfer"), options)))
        out = video_summary(result)
        assert out["frames"] == 30 and out["audio_codecs"] == ["aac"]
        if options[3]:  # crop and paste back: the full 512 x 512 portrait comes back
            assert (out["width"], out["height"]) == (512, 512)
        assert video_summary(comparison)["frames"] == 30


@launched
def test_options_reach_the_pipeline(client, media):
    result, _, summary = animate(client, media["source"], media["silent"], motion="Absolute", adapt_scale=False,
                                 smoothing=0.5, output_size=256)
    out = video_summary(result)
    assert out["frames"] == 5 and out["height"] == 256
    assert out["audio_codecs"] == []
    assert "no audio" in summary


@launched
@pytest.mark.parametrize(
    ("source", "driving", "message"),
    [
        ("not_an_image", "clip", "not an image"),
        ("source", "not_a_video", "not a video"),
        ("source", "long", f"accepts up to {MAX_SECONDS} s"),
        ("source", "source", "still image; please upload a video"),
        ("source", "many_frames", f"has {MAX_FRAMES + 5} frames; this Space accepts up to {MAX_FRAMES} frames"),
        ("source", "many_frames_mkv", f"has more than {MAX_FRAMES} frames; this Space accepts up to {MAX_FRAMES}"),
    ],
)
def test_invalid_inputs_get_a_clear_message(client, media, space, source, driving, message):
    text = app_error(lambda: animate(client, media[source], media[driving]))
    assert message in text
    assert_no_server_path(text, space)


@launched
def test_high_frame_rate_is_refused(client, media, space, tmp_path):
    """2 s at 600 fps is short, but 1200 frames: refused by the frame-rate limit before any rendering."""
    fast = write_clip(tmp_path / "fast.mp4", num_frames=1200, fps=600, size=16, audio=False)
    assert video_summary(fast)["frames"] == 1200
    started = time.monotonic()
    text = app_error(lambda: animate(client, media["source"], fast))
    assert f"runs at 600 fps; this Space accepts up to {MAX_FPS} fps" in text
    assert time.monotonic() - started < 30  # refused from the header, not after rendering 1200 frames


@launched
def test_broken_audio_is_reported_as_audio_without_paths(client, media, space):
    text = app_error(lambda: animate(client, media["source"], media["broken_audio"]))
    assert "audio track could not be copied" in text and "decoded" not in text.split("(")[0]
    assert_no_server_path(text, space)
    assert "broken-audio" not in text


@launched
def test_playlist_naming_a_server_video_is_not_opened(client, media, space, tmp_path):
    """An HLS playlist makes FFmpeg read the files it lists; only files named like videos are opened."""
    secret = write_clip(tmp_path / "secret.mp4", num_frames=4)
    playlist = tmp_path / "innocent.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{secret}\n#EXT-X-ENDLIST\n")
    text = app_error(lambda: animate(client, media["source"], playlist))
    assert "not a video that can be decoded" in text
    assert_no_server_path(text, space)


@launched
def test_no_face_with_crop_explains_the_option(client, media):
    text = app_error(lambda: animate(client, media["source"], media["clip"], crop=True))
    assert re.search("No face found in the source image.*untick 'Crop and paste back'", text)


@launched
def test_oversized_upload_is_refused(client, media):
    with pytest.raises(Exception, match="(?i)exceeds|too large") as info:
        animate(client, media["too_big"], media["clip"])
    assert "Traceback" not in str(info.value)


@launched
def test_out_of_range_option_is_refused(client, media):
    assert "Output size must be one of" in app_error(lambda: animate(client, media["source"], media["clip"],
                                                                     output_size=4096))


@launched
def test_server_files_outside_the_upload_area_are_not_served(space):
    for path in ("/etc/passwd", str(APP), str(ROOT / "setup.py")):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{space.url}gradio_api/file={path}", timeout=10)
        assert info.value.code == 403


@pytest.fixture(scope="module")
def server_secrets(tmp_path_factory) -> dict[str, Path]:
    """Files on the server the app must never read for a client: a face image and a video."""
    folder = tmp_path_factory.mktemp("private")
    # Sizes no other test file has, so no upload can hold the same bytes.
    return {"source": write_source(folder / "secret-face.png", size=48),
            "driving": write_clip(folder / "secret-clip.mp4", num_frames=7, size=48)}


@launched
@pytest.mark.parametrize("with_meta", [False, True], ids=["without-meta", "with-meta"])
@pytest.mark.parametrize("which", ["source", "driving"])
def test_server_paths_sent_as_inputs_are_refused(client, space, media, server_secrets, monkeypatch, which, with_meta):
    """A hostile client names files on the server instead of uploading them: an existing file, a missing
    one and a path that climbs out of the upload folder all get the same refusal, and nothing of the
    server file is read, copied or returned."""
    import gradio_client.client
    from gradio_client import handle_file

    secret = server_secrets[which]
    uploads = space.session / "uploads"
    paths = {
        "existing": str(secret),
        "missing": str(secret.with_name("no-such-" + secret.name)),
        "climbing out": f"{uploads}/{os.path.relpath(secret, uploads)}",
    }
    # gradio_client uploads a FileData path (with meta) from the client's disk; this client sends the
    # server paths as they are (and uploads its other input normally).
    upload = gradio_client.client.Endpoint._upload_file
    monkeypatch.setattr(gradio_client.client.Endpoint, "_upload_file",
                        lambda self, f, data_index: f if f["path"] in paths.values() else upload(self, f, data_index))
    messages = {}
    for case, path in paths.items():
        payload = {"path": path, "meta": {"_type": "gradio.FileData"}} if with_meta else {"path": path}
        inputs = {"source": handle_file(str(media["source"])), "driving": handle_file(str(media["clip"]))}
        inputs[which] = payload
        messages[case] = app_error(lambda: client.predict(inputs["source"], inputs["driving"], "Relative", True,
                                                          False, False, 0.0, 0, True, api_name="/animate"))
    assert len(set(messages.values())) == 1, messages  # no existence oracle
    message = messages["existing"]
    assert secret.name not in message and str(secret.parent) not in message
    assert_no_server_path(message, space)
    if which == "source" and not with_meta:  # gradio lets an image without meta through: the app refuses it
        assert "The source image is not a file uploaded to this page" in message
    secret_bytes = secret.read_bytes()
    assert not [path for path in space.stored_files() if path.read_bytes() == secret_bytes]


@launched
def test_uploads_and_results_expire_and_go_at_shutdown(tmp_path_factory, media):
    """With a 10 s file lifetime gradio's sweep deletes uploads (used or not) and results within seconds,
    and the app its scratch files; SIGTERM (how a Space is stopped) removes the whole session folder.
    (Shorter lifetimes can delete an upload before a request on this busy machine has read it.)"""
    gradio_client = pytest.importorskip("gradio_client")
    import httpx

    server = start_space(tmp_path_factory, MCC_SPACE_FILE_LIFETIME="10")
    try:
        client = gradio_client.Client(server.url, verbose=False, download_files=str(server.log_path.parent / "dl"))
        examples = {path for path in server.stored_files()}  # the example copies gradio keeps until shutdown
        with open(media["silent"], "rb") as handle:  # uploaded, never sent to /animate
            response = httpx.post(f"{server.url}gradio_api/upload", files=[("files", ("unused.mp4", handle))])
        response.raise_for_status()
        (unused,) = response.json()
        result, comparison, _ = animate(client, media["source"], media["clip"])
        stored = set(server.stored_files()) - examples
        names = {path.name for path in stored}
        assert Path(unused) in stored and {"face.png", "clip.mp4", "result.mp4", "comparison.mp4"} <= names
        deadline = time.monotonic() + 40
        while set(server.stored_files()) - examples and time.monotonic() < deadline:
            time.sleep(0.5)
        left = set(server.stored_files()) - examples
        assert not left, f"still on the server 40 s after a 10 s lifetime: {sorted(map(str, left))}"
    finally:
        server.stop()
    assert not list(server.files_base.iterdir()), "the session folder must be removed when the app stops"
    assert "Traceback" not in server.log()


# ----------------------------------------------------------------------------------------------
# In process: validation helpers, settings, messages, files
# ----------------------------------------------------------------------------------------------


def no_progress(*args, **kwargs) -> None:
    pass


class FailingModel:
    """A ``PipelineHolder`` stand-in for handlers that must refuse their inputs before any model work."""

    def get(self):
        raise AssertionError("the model must not be touched for invalid inputs")

    for_request = get


def test_settings_from_environment():
    settings = SpaceSettings.from_env({"MCC_HF_MODEL": "some/repo", "MCC_SPACE_MAX_SECONDS": "7.5",
                                       "MCC_SPACE_CONCURRENCY": "2", "MCC_SPACE_MAX_FPS": "24",
                                       "MCC_SPACE_MAX_FRAMES": "100", "MCC_SPACE_FILE_LIFETIME": "120"})
    assert settings.model == "some/repo" and settings.max_seconds == 7.5 and settings.concurrency == 2
    assert settings.max_fps == 24 and settings.max_frames == 100 and settings.file_lifetime == 120
    assert settings.delete_cache == (20, 120) and settings.scratch_seconds == 60
    defaults = SpaceSettings.from_env({})
    assert defaults.model is None  # the bundled default model
    assert (defaults.max_fps, defaults.max_frames, defaults.delete_cache) == (60, 600, (600, 3600))
    assert SpaceSettings(file_lifetime=2).delete_cache == (1, 2)
    assert SpaceSettings(file_lifetime=2).scratch_seconds == 10
    with pytest.raises(SystemExit, match="MCC_SPACE_MAX_UPLOAD_MB"):
        SpaceSettings.from_env({"MCC_SPACE_MAX_UPLOAD_MB": "lots"})
    with pytest.raises(SystemExit, match="must be positive"):
        SpaceSettings.from_env({"MCC_SPACE_CONCURRENCY": "0"})
    with pytest.raises(SystemExit, match="MCC_SPACE_MAX_FRAMES"):
        SpaceSettings.from_env({"MCC_SPACE_MAX_FRAMES": "2.5"})


def test_upload_folder_accepts_only_files_inside_it(tmp_path):
    uploads = tmp_path / "uploads"
    (uploads / "abc").mkdir(parents=True)
    upload = write_source(uploads / "abc" / "face.png")
    outside = write_source(tmp_path / "private.png")
    (uploads / "abc" / "link.png").symlink_to(outside)
    folder = UploadFolder(uploads)
    assert folder.resolve({"path": str(upload), "meta": {"_type": "gradio.FileData"}}, "source image") == upload
    assert folder.resolve(str(upload), "source image") == upload
    refused = {}
    for case, path in {
        "existing outside": str(outside), "missing outside": str(tmp_path / "nothing.png"),
        "climbing out": f"{uploads}/abc/../../private.png", "symlink out": str(uploads / "abc" / "link.png"),
        "missing inside": str(uploads / "abc" / "gone.png"), "the folder": str(uploads),
        "a subfolder": str(uploads / "abc"),
        "relative": "private.png", "null byte": f"{upload}\x00.png", "too long": f"{uploads}/{'x' * 5000}",
        "etc": "/etc/passwd", "not text": 42,
    }.items():
        with pytest.raises(gr.Error) as info:
            folder.resolve({"path": path}, "source image")
        refused[case] = info.value.message
    assert set(refused.values()) == {"The source image is not a file uploaded to this page, or it has expired; "
                                     "please upload it again."}, refused
    for empty in (None, {"path": None}, "", {}):
        with pytest.raises(gr.Error, match="Please add a source image first"):
            folder.resolve(empty, "source image")


def test_validation_before_any_model_work(tmp_path):
    settings = SpaceSettings(max_upload_mb=0.01, max_seconds=1, max_image_side=100)
    big = write_source(tmp_path / "big.png", size=200)
    with pytest.raises(gr.Error, match="largest side accepted is 100"):
        check_source_image(big, SpaceSettings(max_image_side=100))
    with pytest.raises(gr.Error, match="accepts files up to 0.01 MB"):
        check_source_image(big, settings)
    info = check_driving_video(write_clip(tmp_path / "ok.mp4", num_frames=8), SpaceSettings())
    assert info.has_audio and info.fps == 10 and (info.width, info.height) == (64, 64) and info.num_frames == 8
    assert info.seconds == pytest.approx(0.8)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((tmp_path / "ok.mp4").read_bytes()[:300])
    with pytest.raises(gr.Error, match="not a video that can be decoded"):
        check_driving_video(truncated, SpaceSettings())
    handler = TalkingHeadDemo(settings, pipelines=FailingModel(), work=WorkArea(), uploads=UploadFolder(tmp_path))
    with pytest.raises(gr.Error, match="Motion must be one of"):
        handler.animate({"path": str(big)}, {"path": str(tmp_path / "ok.mp4")}, motion="Sideways")
    with pytest.raises(gr.Error, match="Smoothing must be between 0 and 1"):
        handler.animate({"path": str(big)}, {"path": str(tmp_path / "ok.mp4")}, smoothing=3)
    with pytest.raises(gr.Error, match="Output size must be one of"):
        handler.animate({"path": str(big)}, {"path": str(tmp_path / "ok.mp4")}, output_size="huge")


def test_file_types_are_checked_before_decoding(tmp_path, monkeypatch):
    """Only the image decoders and file names the app expects are used (no EPS via Ghostscript, no playlists)."""
    from PIL import EpsImagePlugin

    eps = tmp_path / "face.png"
    eps.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with PIL.Image.open(eps) as image:
        assert image.format == "EPS"  # what Pillow would open it as, and decode with Ghostscript
    ghostscript = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "load", lambda self, *a, **k: ghostscript.append(self))
    gif = tmp_path / "face.gif"
    PIL.Image.new("RGB", (8, 8)).save(gif)
    for path in (eps, gif):
        with pytest.raises(gr.Error, match="not an image that can be read"):
            check_source_image(path, SpaceSettings())
    assert ghostscript == []
    clip = write_clip(tmp_path / "clip.mp4", num_frames=3)
    playlist = tmp_path / "clip.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{clip}\n#EXT-X-ENDLIST\n")
    with pytest.raises(gr.Error, match="not a video that can be decoded"):
        check_driving_video(playlist, SpaceSettings())
    with pytest.raises(gr.Error, match="still image"):
        check_driving_video(write_source(tmp_path / "still.jpg"), SpaceSettings())


def test_driving_limits_count_frames_and_frame_rate(tmp_path):
    settings = SpaceSettings(max_seconds=10, max_fps=30, max_frames=20)
    with pytest.raises(gr.Error, match=r"runs at 600 fps; this Space accepts up to 30 fps"):
        check_driving_video(write_clip(tmp_path / "fast.mp4", num_frames=1200, fps=600, size=16, audio=False),
                            settings)
    with pytest.raises(gr.Error, match=r"has 25 frames; this Space accepts up to 20 frames"):
        check_driving_video(write_clip(tmp_path / "many.mp4", num_frames=25, size=16), settings)
    mkv = write_clip(tmp_path / "many.mkv", num_frames=25, size=16)
    assert probe_video(mkv).num_frames is None  # Matroska declares no count: the app decodes to count
    with pytest.raises(gr.Error, match=r"has more than 20 frames"):
        check_driving_video(mkv, settings)
    assert check_driving_video(write_clip(tmp_path / "ok.mkv", num_frames=20, size=16), settings).num_frames == 20
    # Without a declared count the header's rate is not trusted (browser WebM reads as 1000 fps): the count decides.
    fast_mkv = write_clip(tmp_path / "fast.mkv", num_frames=20, fps=600, size=16, audio=False)
    assert check_driving_video(fast_mkv, settings).num_frames == 20
    with pytest.raises(gr.Error, match=r"has more than 20 frames"):
        check_driving_video(write_clip(tmp_path / "fast2.mkv", num_frames=1200, fps=600, size=16, audio=False),
                            settings)

    callback = frame_progress(no_progress, settings)
    callback(20, None)
    # A header that under-declares its frames is caught while rendering.
    with pytest.raises(gr.Error, match="more than 20 frames"):
        callback(24, None)


def test_broken_audio_is_reported_before_rendering(tmp_path):
    settings = SpaceSettings()
    broken = write_clip(tmp_path / "broken.mp4", broken_audio=True)
    info = check_driving_video(broken, settings)
    with pytest.raises(gr.Error, match="audio track could not be copied") as error:
        check_audio_track(broken, info, tmp_path)
    assert str(tmp_path) not in error.value.message
    assert not (tmp_path / "audio-check.mp4").exists()
    good = write_clip(tmp_path / "good.mp4")
    check_audio_track(good, check_driving_video(good, settings), tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.mp4", "good.mp4"]


def test_render_errors_never_show_server_paths(tmp_path):
    import av

    from mcc_hf.errors import InvalidInputError, NoFaceFoundError

    source, driving = tmp_path / "uploads" / "face.png", tmp_path / "uploads" / "clip.mp4"
    names = {source: "the source image", driving: "the driving video"}
    scratch = tmp_path / "mcc-space-x" / "work" / "tmp1" / ".result.mp4.tmp"
    ffmpeg = av.InvalidDataError(1094995529, "Invalid data found when processing input", str(scratch))
    message = render_error(ffmpeg, names).message
    assert message.startswith("The driving video could not be decoded: ") and "[server path]" in message
    assert str(tmp_path) not in message
    message = render_error(InvalidInputError(f"corrupt video data in {driving} after 3 frames"), names).message
    assert message == "corrupt video data in the driving video after 3 frames"
    message = render_error(RuntimeError(f"CUDA error while writing {scratch}"), names).message
    assert "error on the server" in message and str(tmp_path) not in message
    message = render_error(NoFaceFoundError("no face found in the source image; pass crop=False"), names).message
    assert message.startswith("No face found in the source image. Use a clearer")
    assert without_paths("12.3 frames/s, 1/2 and/or ./local") == "12.3 frames/s, 1/2 and/or ./local"
    assert without_paths("read '/etc/passwd' and ~/private/key") == "read '[server path]' and [server path]"


def test_missing_model_is_reported_in_the_ui(tmp_path):
    settings = SpaceSettings(model=str(tmp_path / "no-such-model"), device="cpu")
    handler = TalkingHeadDemo(settings, uploads=UploadFolder(tmp_path))
    source, clip = write_source(tmp_path / "s.png"), write_clip(tmp_path / "c.mp4", num_frames=2)
    with pytest.raises(gr.Error, match="The model could not be loaded: model folder not found") as error:
        handler.animate({"path": str(source)}, {"path": str(clip)}, progress=no_progress)
    assert str(tmp_path) not in error.value.message


def test_session_folder_is_private_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "operator-choice"))
    session = SessionFolder()
    assert session.root.parent == tmp_path / "operator-choice"  # inside the operator's folder, never the folder itself
    assert (session.root.stat().st_mode & 0o777) == 0o700
    session.use_for_gradio()
    assert os.environ["GRADIO_TEMP_DIR"] == str(session.uploads)
    assert UploadFolder.of_gradio().root == session.uploads
    (session.work / "x").write_bytes(b"scratch")
    session.close()
    assert not session.root.exists()


def test_app_points_gradio_at_its_session_folder_before_gradio_is_imported(tmp_path):
    """``python app.py`` makes its private folder before anything imports gradio (which reads
    ``GRADIO_TEMP_DIR`` at import): the first import of gradio is stopped and reports the variable."""
    watch = ("import os, runpy, sys\n"
             "class Watch:\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name == 'gradio':\n"
             "            sys.exit('GRADIO_TEMP_DIR=' + os.environ['GRADIO_TEMP_DIR'])\n"
             "sys.meta_path.insert(0, Watch())\n"
             f"runpy.run_path({str(APP)!r}, run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", watch], env={**os.environ, "GRADIO_TEMP_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=120)
    (session,) = tmp_path.glob("mcc-space-*")
    assert result.stderr.splitlines()[-1] == f"GRADIO_TEMP_DIR={session / 'uploads'}"


def test_work_area_removes_failed_and_stale_folders():
    work = WorkArea(keep_seconds=0.0)
    with pytest.raises(RuntimeError):
        with work.request() as failed:
            (failed / "result.mp4").write_bytes(b"partial")
            raise RuntimeError("render failed")
    assert not failed.exists()
    with work.request() as finished:
        (finished / "result.mp4").write_bytes(b"done")
        work.sweep()  # an active request's folder is never swept
        assert finished.exists()
    time.sleep(0.01)
    with work.request() as current:  # starting a request sweeps finished folders older than keep_seconds
        assert not finished.exists() and current.exists()


def test_shipped_examples_are_small_and_valid(tmp_path):
    rows = example_rows()
    assert len(rows) == 2
    files = {Path(value) for row in rows for value in row[:2]}
    assert sum(path.stat().st_size for path in files) < 1024 * 1024
    clip = video_summary(EXAMPLES / "astronaut-nod.mp4")
    assert clip["frames"] == 30 and clip["audio_codecs"] == ["aac"]
    info = check_driving_video(EXAMPLES / "astronaut-nod.mp4", SpaceSettings())
    check_audio_track(EXAMPLES / "astronaut-nod.mp4", info, tmp_path)


def test_space_readme_metadata():
    import gradio

    text = (ROOT / "spaces_demo" / "README.md").read_text()
    header = text.split("---")[1]
    fields = dict(line.split(":", 1) for line in header.strip().splitlines())
    fields = {key.strip(): value.strip().strip('"') for key, value in fields.items()}
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py" and fields["license"] == "apache-2.0"
    assert fields["sdk_version"] == gradio.__version__
    assert fields["title"]
