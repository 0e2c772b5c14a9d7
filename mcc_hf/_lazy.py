# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Lazy package attributes: a package names what it exports and where it lives, and imports it on first use."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_getattr(package: str, namespace: dict[str, Any], names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``: ``names`` maps each exported name to the module that
    defines it; the first access imports that module and caches the value in ``namespace`` (the package's
    ``globals()``), so later accesses are plain lookups."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
