# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Exceptions whose message is meant for the user (the CLI prints them as one line)."""

from __future__ import annotations

__all__ = ["ModelLoadingError", "UserInputError"]


class UserInputError(ValueError):
    """Something the user gave us (a file, an image, a video, an option) cannot be used."""


class ModelLoadingError(UserInputError):
    """A model folder or Hub id cannot be loaded as a talking-head pipeline."""
