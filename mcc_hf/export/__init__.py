# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""ONNX export of a talking-head model and an ONNX Runtime runner for it (``pip install "mcc-hf[onnx]"``).

* :func:`export_onnx` writes ``source.onnx`` (once per video: source keypoints and features),
  ``keypoints.onnx`` (the motion reference's keypoints) and ``frame.onnx`` (every batch of driving
  frames, dynamic batch) with ``export_config.json``; ``mcc-hf export-onnx`` does the same.
* :class:`OnnxTalkingHeadRunner` runs them: prepare the source once, render batches.

See ``docs/export.md`` for TensorRT and OpenVINO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

_LAZY = {
    "ExportConfig": "mcc_hf.export.exporter",
    "export_onnx": "mcc_hf.export.exporter",
    "OnnxPreparedSource": "mcc_hf.export.runner",
    "OnnxTalkingHeadRunner": "mcc_hf.export.runner",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from .exporter import ExportConfig, export_onnx
    from .runner import OnnxPreparedSource, OnnxTalkingHeadRunner


__getattr__ = lazy_getattr("mcc_hf.export", globals(), _LAZY)
