# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Gradio demo of mcc-hf: animate a face photo with the motion of a driving video, or live from a webcam.

Run locally with ``python spaces_demo/app.py`` (serves http://127.0.0.1:7860, no share link, no
analytics) or deploy the folder as a Hugging Face Space unchanged (the Space sets
``GRADIO_SERVER_NAME=0.0.0.0``). Settings come from environment variables, see
:class:`mcc_space.settings.SpaceSettings` and ``docs/space.md`` (which also describes what the app defends
against).

This file is the entry point: it makes the server's private folder before gradio is imported, then
:func:`main` builds the app and serves it. The app is the package next to this file, a module per part:
:mod:`mcc_space.settings` (private folder, limits; imports no gradio), :mod:`mcc_space.uploads` (upload folder,
input checks), :mod:`mcc_space.rendering` (options, messages, model, ``/animate``), :mod:`mcc_space.live` (the
Live tab's ``/live`` stream) and :mod:`mcc_space.ui` (the page, :func:`~mcc_space.ui.build_demo`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

# Before gradio is imported: no analytics / version-check requests, no Hub telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The package next to this file (already on sys.path when this file runs as a script, not when loaded by path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcc_space.settings import SessionFolder, SpaceSettings  # noqa: E402  (imports no gradio)

# The server's private folder, made before gradio is imported: gradio reads GRADIO_TEMP_DIR once, at import.
if __name__ == "__main__":
    SESSION = SessionFolder()
    SESSION.use_for_gradio()

from mcc_hf.errors import UserInputError  # noqa: E402
from mcc_space.rendering import TalkingHeadDemo, WorkArea  # noqa: E402
from mcc_space.ui import build_demo  # noqa: E402
from mcc_space.uploads import UploadFolder  # noqa: E402

logger = logging.getLogger("mcc_space")


def main(session: SessionFolder) -> None:
    """Serve the app until the process is stopped, then remove ``session``, the server's private folder."""
    from mcc_hf.atomic import terminate_on_signals

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
    main(SESSION)
