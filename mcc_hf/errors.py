# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Every exception mcc-hf raises on purpose.

:class:`UserInputError` and its subclasses are meant for the user: their message names the problem in
the user's terms, and the command line prints them as one line (exit status 2) without a traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointConversionError",
    "InvalidInputError",
    "ModelLoadingError",
    "NoFaceFoundError",
    "NonFiniteLossError",
    "UserInputError",
]


class UserInputError(ValueError):
    """Something the user gave us (a file, an image, a video, an option) cannot be used."""


class InvalidInputError(UserInputError):
    """An input image or video cannot be used; the message says why."""


class NoFaceFoundError(UserInputError):
    """Face cropping or best-frame search found no face where one is needed."""


class ModelLoadingError(UserInputError):
    """A model folder or Hub id cannot be loaded as a talking-head pipeline."""


class CheckpointConversionError(UserInputError):
    """An official checkpoint does not match the expected layout; the message lists what differs."""


class NonFiniteLossError(RuntimeError):
    """A training loss term became NaN or infinite."""
