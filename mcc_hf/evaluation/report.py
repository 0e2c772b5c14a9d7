# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Writing the evaluation outputs: ``metrics.json``, ``report.md``, ``metrics.png`` and the strips.

Every file is written to a temporary name beside its target and then moved into place, so an
interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import numpy as np
import PIL.Image
import PIL.ImageDraw
import torch

from ..atomic import atomic_file
from ..image_processing import resize_to, to_uint8
from .results import METRICS, POOLED_METRICS, EvaluationResult

__all__ = ["overall_table", "versions", "write_chart", "write_metrics_json", "write_report", "write_report_markdown", "write_strip"]

STRIP_MIN_SIZE = 128
_PACKAGES = ("mcc-hf", "torch", "diffusers", "numpy", "scipy", "dlib-bin", "face-recognition-models", "av", "matplotlib",
             "transformers")


def _atomic_write(path: Path, write) -> Path:
    """Call ``write(temporary_path)`` and move the file to ``path`` (see :mod:`mcc_hf.atomic`)."""
    with atomic_file(path, make_parents=True) as temporary:
        write(temporary)
    return path


def versions() -> dict[str, str]:
    """Versions of Python and the packages that affect the numbers."""
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _finite(value):
    """JSON has no NaN / inf: they become ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _metric_names(result: EvaluationResult) -> list[str]:
    present = {m for row in result.overall.values() for m in row}
    return [m for m in METRICS if m in present]


def write_metrics_json(result: EvaluationResult, path: Path, extra: dict | None = None) -> Path:
    """Per-video and overall scores with the exact settings and package versions."""
    document = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": dataclasses.asdict(result.settings),
        "run": extra or {},
        "versions": versions(),
        "contenders": result.contenders,
        "metrics": {m: {"higher_is_better": METRICS[m].higher_is_better, "description": METRICS[m].description}
                    for m in _metric_names(result)},
        "not_computed": result.not_computed,
        "frames": result.frames,
        "seconds": result.seconds,
        "overall": result.overall,
        "videos": [dataclasses.asdict(v) for v in result.videos],
        "skipped": result.skipped,
    }

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(_finite(document), f, indent=2, allow_nan=False)
            f.write("\n")

    return _atomic_write(path, write)


def _format(metric: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.2f}" if metric in ("psnr", "akd", "fid", "fd_dino") else f"{value:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _header(metric_names: list[str]) -> list[str]:
    return ["contender"] + [f"{m.upper()} {'↑' if METRICS[m].higher_is_better else '↓'}" for m in metric_names]


def overall_table(result: EvaluationResult) -> str:
    """The overall scores as a Markdown table: one row per contender (the model first), one column per
    metric (arrows say which way is better) and the seconds spent animating."""
    metric_names = _metric_names(result)
    rows = [
        [name] + [_format(m, result.overall[name].get(m, math.nan)) for m in metric_names] + [f"{result.seconds[name]:.1f}"]
        for name in result.contenders
    ]
    return "\n".join(_table(_header(metric_names) + ["seconds"], rows))


def write_report_markdown(result: EvaluationResult, path: Path, chart: str | None = None) -> Path:
    """A readable summary: the overall table (model vs baselines), per-video tables and the strips."""
    settings = result.settings
    metric_names = _metric_names(result)
    lines = [
        f"# Evaluation: {settings.mode}",
        "",
        f"{len(result.videos)} clip(s) from `{settings.data}`, {result.frames.get('scored', 0)} scored frames "
        f"(max {settings.max_frames or 'all'} frames per clip). Frame metrics at {settings.resolution}x{settings.resolution}; "
        f"face metrics (dlib) at {settings.face_resolution}x{settings.face_resolution}, every {settings.face_stride} frame(s).",
        "",
    ]
    if settings.mode == "reconstruction":
        lines.append(f"Source: frame {settings.source_frame} of each clip (not scored); target: the clip's own frames.")
    else:
        lines.append(f"Sources: images of `{settings.images}` in turn; AKD vs the driving frame, AED/CSIM/DINO_SIM vs the source image.")
    lines += ["", "## Overall (mean over scored frames)", "", overall_table(result)]
    lines += ["", "Contenders:", ""] + [f"- **{name}**: {text}" for name, text in result.contenders.items()]
    if result.not_computed:
        lines += ["", "Not computed:", ""] + [f"- {m.upper()}: {why}" for m, why in result.not_computed.items()]
    if chart:
        lines += ["", f"![metrics]({chart})"]
    lines += ["", "## Per video", ""]
    metric_names = [m for m in metric_names if m not in POOLED_METRICS]  # computed over all clips only
    for video in result.videos:
        lines += [f"### {video.video}", "", f"source `{video.source}`, {video.scored_frames} scored frames", ""]
        rows = [[name] + [_format(m, video.metrics[name].get(m, math.nan)) for m in metric_names] for name in video.metrics]
        lines += _table(_header(metric_names), rows)
        if video.strip:
            lines += ["", f"![{video.video}]({quote(video.strip)})"]
        lines.append("")
    if result.skipped:
        lines += ["## Skipped clips", ""] + [f"- `{name}`: {why}" for name, why in result.skipped.items()] + [""]

    def write(temporary: str) -> None:
        Path(temporary).write_text("\n".join(lines) + "\n", encoding="utf-8")

    return _atomic_write(path, write)


def write_chart(result: EvaluationResult, path: Path) -> Path:
    """One bar panel per metric, one bar per contender (the model first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric_names = _metric_names(result)
    names = list(result.contenders)
    columns = min(4, len(metric_names))
    rows = math.ceil(len(metric_names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.8 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, metric in zip(axes.flat, metric_names):
        values = [result.overall[name].get(metric, math.nan) for name in names]
        shown = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
        bars = axis.bar(range(len(names)), shown, color=[colors[i % len(colors)] for i in range(len(names))])
        for bar, value in zip(bars, values):
            axis.annotate(_format(metric, value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=8)
        axis.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        axis.set_title(f"{metric.upper()} ({'higher' if METRICS[metric].higher_is_better else 'lower'} is better)", fontsize=9)
        axis.margins(y=0.2)
    for axis in list(axes.flat)[len(metric_names):]:
        axis.set_visible(False)
    figure.suptitle(f"mcc-hf evaluate: {result.settings.mode}, {len(result.videos)} clip(s)", fontsize=10)
    figure.tight_layout()

    def write(temporary: str) -> None:
        figure.savefig(temporary, format="png", dpi=110)

    try:
        return _atomic_write(path, write)
    finally:
        plt.close(figure)


def write_strip(path: Path, source: torch.Tensor, driving: torch.Tensor, results: dict[str, torch.Tensor],
                driving_label: str = "driving") -> str:
    """A grid PNG, one row per sampled frame: source | driving | each contender's result
    (tiles are upscaled to at least ``STRIP_MIN_SIZE`` pixels).

    Args:
        source: ``[3, S, S]``; driving: ``[N, 3, S, S]``; results: ``{name: [N, 3, S, S]}``, all in ``[0, 1]``.

    Returns:
        The file name written.
    """
    size = max(source.shape[-1], STRIP_MIN_SIZE)
    columns = [("source", source[None].expand(len(driving), -1, -1, -1)), (driving_label, driving)]
    columns = [(label, resize_to(frames.float().cpu(), size)) for label, frames in columns + list(results.items())]
    label_height = 16
    canvas = PIL.Image.new("RGB", (size * len(columns), label_height + size * len(driving)), (255, 255, 255))
    draw = PIL.ImageDraw.Draw(canvas)
    for c, (label, frames) in enumerate(columns):
        draw.text((c * size + 3, 2), label[: max(size // 6, 6)], fill=(0, 0, 0))
        for r, array in enumerate(to_uint8(frames)):
            canvas.paste(PIL.Image.fromarray(np.ascontiguousarray(array)), (c * size, label_height + r * size))

    def write(temporary: str) -> None:
        canvas.save(temporary, format="PNG")

    _atomic_write(Path(path), write)
    return f"{Path(path).parent.name}/{Path(path).name}"


def write_report(result: EvaluationResult, output: str | os.PathLike, extra: dict | None = None) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.png`` and ``report.md`` into ``output``."""
    output = Path(output)
    chart = write_chart(result, output / "metrics.png")
    return {
        "metrics": write_metrics_json(result, output / "metrics.json", extra),
        "chart": chart,
        "report": write_report_markdown(result, output / "report.md", chart=chart.name),
    }
