# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The server's private folder (:class:`SessionFolder`) and the deployment settings (:class:`SpaceSettings`).

This module must not import gradio: ``app.py`` makes the session folder with it before gradio is imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping


class SessionFolder:
    """A private folder (mode 0700) for everything this server process writes, removed by :meth:`close`.

    ``uploads/`` becomes gradio's upload and cache folder (``GRADIO_TEMP_DIR``): uploads, the example
    copies and the results gradio serves. ``work/`` is the rendering scratch space (:class:`~.rendering.WorkArea`).
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


def _env_number(environ: Mapping[str, str], name: str, default: int | float) -> int | float:
    """``environ[name]`` as a positive number of ``default``'s type; ``default`` when unset or empty."""
    kind, value = type(default), environ.get(name)
    if value is None or value == "":
        return default
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
        """The settings in ``environ``: ``MCC_HF_MODEL``, ``MCC_HF_DEVICE`` and ``MCC_SPACE_<FIELD>`` for the rest."""
        limits = {field.name: _env_number(environ, f"MCC_SPACE_{field.name.upper()}", field.default)
                  for field in fields(cls) if field.name not in ("model", "device")}
        return cls(model=environ.get("MCC_HF_MODEL") or None, device=environ.get("MCC_HF_DEVICE") or None,
                   **limits)

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
