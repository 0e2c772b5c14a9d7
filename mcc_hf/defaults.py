# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Where the bundled default model lives (no heavy imports here).

``DEFAULT_MODEL`` is a local pipeline folder shipped inside the package, so
``TalkingHeadPipeline.from_pretrained(mcc_hf.DEFAULT_MODEL)`` works offline. Every ``mcc-hf``
command and the Space demo use it when no model is given.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_MODEL", "DEFAULT_MODEL_NAME"]

#: Short name of the bundled model, accepted wherever a model id or folder is.
DEFAULT_MODEL_NAME = "mcc-hf-default"

#: Absolute path of the bundled default pipeline folder.
DEFAULT_MODEL = str(Path(__file__).resolve().parent / "default_model")
