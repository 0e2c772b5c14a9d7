# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Every exception mcc-hf raises on purpose.

:class:`UserInputError` and its subclasses are meant for the user: their message names the problem in
the user's terms, and the command line prints them as one line (exit status 2) without a traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointConversionError",
    "InvalidInputError",
    "InvalidOptionError",
    "ModelLoadingError",
    "NoFaceFoundError",
    "NonFiniteLossError",
    "OutputError",
    "UserInputError",
]


class UserInputError(ValueError):
    """Something the user gave us (a file, an image, a video, an option) cannot be used."""


class InvalidInputError(UserInputError):
    """An input image or video cannot be used; the message says why."""


class InvalidOptionError(UserInputError):
    """An option has a value it cannot take.

    Args:
        option: the option's Python name (``batch_size``); the command line shows it as ``--batch-size``.
        requirement: what the value must be (``"must be at least 1"``).
        value: the value given.
    """

    def __init__(self, option: str, requirement: str, value):
        self.option, self.requirement, self.value = option, requirement, value
        super().__init__(f"{option} {requirement}, got {value!r}")

    def for_command_line(self) -> str:
        """The message with the option spelled as a command-line flag."""
        return f"--{self.option.replace('_', '-')} {self.requirement}, got {self.value!r}"


class NoFaceFoundError(UserInputError):
    """Face cropping or best-frame search found no face where one is needed."""


class OutputError(UserInputError):
    """An output file cannot be written (disk full, no permission, a codec the container refuses, ...)."""


class ModelLoadingError(UserInputError):
    """A model folder or Hub id cannot be loaded as a talking-head pipeline."""


class CheckpointConversionError(UserInputError):
    """An official checkpoint does not match the expected layout; the message lists what differs."""


class NonFiniteLossError(RuntimeError):
    """A training loss term became NaN or infinite."""
