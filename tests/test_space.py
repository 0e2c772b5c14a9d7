# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The Gradio Space demo (``spaces_demo/app.py``): launched as ``python spaces_demo/app.py`` on a free
loopback port with a tiny model and driven through ``gradio_client``; plus in-process checks of the
input validation, settings and scratch-file clean-up."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import PIL.Image
import pytest

from conftest import ROOT, tiny_pipeline

APP = ROOT / "spaces_demo" / "app.py"
EXAMPLES = ROOT / "spaces_demo" / "examples"
#: Limits the test server runs with (small, so oversized inputs are cheap to make).
MAX_UPLOAD_MB = 1
MAX_SECONDS = 4  # the shipped example clip (3 s) must pass


# ----------------------------------------------------------------------------------------------
# Media and server helpers (also used by test_space_browser.py)
# ----------------------------------------------------------------------------------------------


def write_clip(path: Path, num_frames: int = 6, fps: int = 10, size: int = 64, audio: bool = True) -> Path:
    """A moving-gradient H.264 clip, optionally with a 440 Hz AAC tone as long as the video."""
    rate = 16000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=rate, layout="mono") if audio else None
        ramp = np.linspace(0, 255, size, dtype=np.float32)
        for i in range(num_frames):
            frame = np.stack(np.broadcast_arrays(ramp[None, :] * 0 + (i * 37) % 256, ramp[:, None], ramp[None, :]), -1)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="rgb24")))
        container.mux(video.encode())
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
            **extra_env,
        }
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen([sys.executable, str(APP)], cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
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

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

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
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
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
        "not_an_image": not_an_image,
        "not_a_video": not_a_video,
        "too_big": too_big,
    }


def animate(client, source, driving, *, motion="Relative", adapt_scale=True, find_best_frame=False, crop=False,
            smoothing=0.0, output_size=0):
    from gradio_client import handle_file

    return client.predict(handle_file(str(source)), handle_file(str(driving)), motion, adapt_scale, find_best_frame,
                          crop, smoothing, output_size, api_name="/animate")


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
def test_shipped_examples_render(client, app):
    """Both example rows as the UI sends them; the second crops the full portrait and pastes back."""
    for source, driving, *options in app.example_rows():
        result, comparison, summary = animate(client, source, driving, **dict(zip(
            ("motion", "adapt_scale", "find_best_frame", "crop", "smoothing", "output_size"), options)))
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
    ],
)
def test_invalid_inputs_get_a_clear_message(client, media, source, driving, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message) as info:
        animate(client, media[source], media[driving])
    assert "Traceback" not in str(info.value)


@launched
def test_no_face_with_crop_explains_the_option(client, media):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="No face found in the source image.*untick 'Crop and paste back'"):
        animate(client, media["source"], media["clip"], crop=True)


@launched
def test_oversized_upload_is_refused(client, media):
    with pytest.raises(Exception, match="(?i)exceeds|too large") as info:
        animate(client, media["too_big"], media["clip"])
    assert "Traceback" not in str(info.value)


@launched
def test_out_of_range_option_is_refused(client, media):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Output size must be one of"):
        animate(client, media["source"], media["clip"], output_size=4096)


@launched
def test_server_files_outside_the_upload_area_are_not_served(space):
    for path in ("/etc/passwd", str(APP), str(ROOT / "setup.py")):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{space.url}gradio_api/file={path}", timeout=10)
        assert info.value.code == 403


# ----------------------------------------------------------------------------------------------
# In process: validation helpers, settings, scratch files
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("space_app", APP)
    module = importlib.util.module_from_spec(spec)
    sys.modules["space_app"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    del sys.modules["space_app"]


def test_settings_from_environment(app):
    settings = app.SpaceSettings.from_env({"MCC_HF_MODEL": "some/repo", "MCC_SPACE_MAX_SECONDS": "7.5",
                                           "MCC_SPACE_CONCURRENCY": "2"})
    assert settings.model == "some/repo" and settings.max_seconds == 7.5 and settings.concurrency == 2
    assert app.SpaceSettings.from_env({}).model is None  # the bundled default model
    with pytest.raises(SystemExit, match="MCC_SPACE_MAX_UPLOAD_MB"):
        app.SpaceSettings.from_env({"MCC_SPACE_MAX_UPLOAD_MB": "lots"})
    with pytest.raises(SystemExit, match="must be positive"):
        app.SpaceSettings.from_env({"MCC_SPACE_CONCURRENCY": "0"})


def test_validation_before_any_model_work(app, tmp_path):
    settings = app.SpaceSettings(max_upload_mb=0.01, max_seconds=1, max_image_side=100)
    big = write_source(tmp_path / "big.png", size=200)
    with pytest.raises(app.gr.Error, match="largest side accepted is 100"):
        app.check_source_image(big, app.SpaceSettings(max_image_side=100))
    with pytest.raises(app.gr.Error, match="accepts files up to 0.01 MB"):
        app.check_source_image(big, settings)
    info = app.probe_driving_video(write_clip(tmp_path / "ok.mp4", num_frames=8), app.SpaceSettings())
    assert info.has_audio and info.fps == 10 and (info.width, info.height) == (64, 64)
    assert info.seconds == pytest.approx(0.8, abs=0.1)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((tmp_path / "ok.mp4").read_bytes()[:300])
    with pytest.raises(app.gr.Error, match="not a video that can be decoded"):
        app.probe_driving_video(truncated, app.SpaceSettings())
    with pytest.raises(app.gr.Error, match="Please add a source image"):
        app.uploaded_path(None, "source image")

    class FailingModel:
        def get(self):
            raise AssertionError("the model must not be touched for invalid inputs")

    handler = app.TalkingHeadDemo(settings, pipelines=FailingModel(), work=app.WorkArea())
    with pytest.raises(app.gr.Error, match="Motion must be one of"):
        handler.animate({"path": str(big)}, {"path": str(tmp_path / "ok.mp4")}, motion="Sideways")
    with pytest.raises(app.gr.Error, match="Smoothing must be between 0 and 1"):
        handler.animate({"path": str(big)}, {"path": str(tmp_path / "ok.mp4")}, smoothing=3)


def test_missing_model_is_reported_in_the_ui(app, tmp_path):
    settings = app.SpaceSettings(model=str(tmp_path / "no-such-model"), device="cpu")
    handler = app.TalkingHeadDemo(settings)
    source, clip = write_source(tmp_path / "s.png"), write_clip(tmp_path / "c.mp4", num_frames=2)
    with pytest.raises(app.gr.Error, match="The model could not be loaded: model folder not found"):
        handler.animate({"path": str(source)}, {"path": str(clip)}, progress=lambda *a, **k: None)


def test_work_area_removes_failed_and_stale_folders(app):
    work = app.WorkArea(keep_seconds=0.0)
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


def test_shipped_examples_are_small_and_valid(app):
    rows = app.example_rows()
    assert len(rows) == 2
    files = {Path(value) for row in rows for value in row[:2]}
    assert sum(path.stat().st_size for path in files) < 1024 * 1024
    clip = video_summary(EXAMPLES / "astronaut-nod.mp4")
    assert clip["frames"] == 30 and clip["audio_codecs"] == ["aac"]
    app.probe_driving_video(EXAMPLES / "astronaut-nod.mp4", app.SpaceSettings())


def test_space_readme_metadata():
    import gradio

    text = (ROOT / "spaces_demo" / "README.md").read_text()
    header = text.split("---")[1]
    fields = dict(line.split(":", 1) for line in header.strip().splitlines())
    fields = {key.strip(): value.strip().strip('"') for key, value in fields.items()}
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py" and fields["license"] == "apache-2.0"
    assert fields["sdk_version"] == gradio.__version__
    assert fields["title"]
