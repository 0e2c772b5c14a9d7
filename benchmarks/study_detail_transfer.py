# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The measurements behind :mod:`mcc_hf.detail_transfer` (see ``docs/detail-transfer.md``).

Steps (``--steps``, default all, in this order):

``cache``
    Runs the bundled model (``mcc_hf.DEFAULT_MODEL``) once over the ``--split`` clips (test or train) of the mini dataset
    as ``mcc-hf evaluate`` does (reconstruction: source = frame 0, relative motion with frame 0 as
    the reference, ``adapt_scale``; first ``--frames`` frames) and over cross-identity pairs (the
    portraits of ``images/`` driven by the test clips in turn). Stores the model output at the model
    size, the final flow and occlusion and the dense-motion flow under ``<work>/cache``.
``table``
    Composes 256x256 frames with every variant below from the cached model outputs and scores
    frames 1.. against the real ones (L1, PSNR, SSIM from :mod:`mcc_hf.evaluation.metrics`; AKD from
    dlib's 68 landmarks for the variants marked so, or all with ``--akd all``). Also per group:
    the clips made from MCC's palette-quantised GIFs (identity ``id15``, a fixed dither pattern
    that only an unmoved source matches) and the others (``mp4``).
``strips``
    Writes PNGs (source | driving | variants | weight) of the cross-identity pairs, zoomed crops of
    the frames where the model departs most from the warped source, and ``mcc-hf demo``'s face
    before/after, to ``<work>/png``.
``timing``
    Per-frame time of the bundled pipeline at 512x512 output (``crop=False``, batch 4) and of
    :func:`~mcc_hf.detail_transfer.transfer_detail` at the same size, interleaved repetitions,
    medians, reported as a ratio.

Run: ``OMP_NUM_THREADS=1 python benchmarks/study_detail_transfer.py --work runs/detail-study``
(about 15 minutes on two busy CPU cores; ``--steps table`` reuses the cache).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mcc_hf.animator import MotionTransfer
from mcc_hf.detail_transfer import gaussian_blur, source_coverage, transfer_detail, warp_source
from mcc_hf.evaluation import metrics as M
from mcc_hf.evaluation.clips import read_clip
from mcc_hf.image_processing import from_model_range, load_image, resize_to, to_uint8
from mcc_hf.motion.geometry import identity_grid, resize, resize_flow

logger = logging.getLogger("study_detail_transfer")

SIZE = 256  # output and scoring resolution (that of the test clips)


# --------------------------------------------------------------------------- cache


def cache_model_outputs(data: Path, work: Path, frames: int, batch_size: int = 8, split: str = "test",
                        max_clips: int | None = None) -> None:
    """Model outputs for every reconstruction clip and cross-identity pair, once (skips existing files)."""
    import mcc_hf
    from mcc_hf import TalkingHeadPipeline

    pipe = TalkingHeadPipeline.from_pretrained(mcc_hf.DEFAULT_MODEL)
    animator = pipe.animator
    folder = work / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    clips = sorted((data / split).glob("*.mp4"))
    if max_clips is not None and len(clips) > max_clips:  # evenly spaced, so every identity is likely kept
        clips = [clips[round(i * (len(clips) - 1) / (max_clips - 1))] for i in range(max_clips)] if max_clips > 1 else clips[:1]
    images = sorted((data / "images").glob("*.png"))
    jobs = [(f"rec-{clip.stem}", clip, None) for clip in clips]
    jobs += [(f"xid-{clips[i % len(clips)].stem}-{image.stem}", clips[i % len(clips)], image) for i, image in enumerate(images)]
    for name, clip, image in jobs:
        path = folder / f"{name}.pt"
        if path.exists():
            continue
        driving = resize_to(read_clip(clip, frames), SIZE)
        source = driving[0] if image is None else resize_to(load_image(image)[None], SIZE)[0]
        outputs = {"sample": [], "flow": [], "occlusion": [], "flow0": []}
        with torch.inference_mode():
            prepared = animator.prepare_source(pipe.preprocess(source[None]))
            motion = MotionTransfer(prepared, relative=True, adapt_scale=True)  # first frame as the reference
            for start in range(0, len(driving), batch_size):
                keypoints = animator.detect_keypoints(pipe.preprocess(driving[start:start + batch_size]))
                result = animator.render(prepared, motion(keypoints))
                generated = result.generator_output
                outputs["sample"].append(from_model_range(result.sample.float()))
                outputs["flow"].append(generated.deformations[-1].float())
                outputs["occlusion"].append(
                    (generated.occlusions[-1] if generated.occlusions else result.dense_motion.occlusion).float()
                )
                outputs["flow0"].append(result.dense_motion.deformation.float())
        record = {key: torch.cat(value) for key, value in outputs.items()}
        record["source"] = source
        record["frames"] = torch.from_numpy(to_uint8(driving))  # [T, H, W, 3] uint8
        torch.save(record, path)
        logger.info("cached %s", name)


def load_record(path: Path) -> dict:
    record = torch.load(path)
    record["frames"] = record["frames"].permute(0, 3, 1, 2).float() / 255
    record["name"] = path.stem
    return record


# --------------------------------------------------------------------------- variants


def upscale(images: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    return resize_to(images, size)


def warped(r: dict, padding: str = "border") -> torch.Tensor:
    """The source warped by the model's final flow (computed once per record)."""
    if "warped" not in r:
        r["warped"] = warp_source(r["source"][None], r["flow"], (SIZE, SIZE))
    if padding == "zeros":  # what grid_sample's zero padding gives: black beyond the edge
        return r["warped"] * source_coverage(r["flow"], (SIZE, SIZE), (SIZE, SIZE))
    return r["warped"]


def lowpass(images: torch.Tensor, model_size: tuple[int, int]) -> torch.Tensor:
    """The bands at or below the model's resolution: down to the model size and back up."""
    return resize_to(resize_to(images, model_size), tuple(images.shape[-2:]))


def naive_blend(r: dict, weighted: bool = False) -> torch.Tensor:
    """Laplacian two-band blend: bands above the model size from the warped source, the rest from the model;
    ``weighted``: the detail band weighted by visibility x the consistency trust of the chosen design."""
    source = warped(r, "zeros")
    detail = source - lowpass(source, tuple(r["sample"].shape[-2:]))
    if weighted:
        detail = detail * transfer_detail(r["sample"], r["source"], r["flow"], r["occlusion"]).weight
    return (upscale(r["sample"]) + detail).clamp(0, 1)


def model_low_band(r: dict, sigma: float, amount: float = 1.0) -> torch.Tensor:
    """Warped source with its bands below a Gaussian of ``sigma`` output pixels moved towards the model's."""
    source = warped(r)
    model = upscale(r["sample"])
    return (source + amount * (gaussian_blur(model, sigma) - gaussian_blur(source, sigma))).clamp(0, 1)


def trust_blend(r: dict, tolerance: float, sigmas: tuple[float, float], source: torch.Tensor | None = None) -> torch.Tensor:
    """The chosen structure with another consistency check: band-pass with Gaussian ``sigmas`` (pixels at the
    model size; a second sigma of 0 gives a plain low-pass check) and ``tolerance``; ``source``: another
    warped source than :func:`warped`'s."""
    source = warped(r) if source is None else source
    model_size = tuple(r["sample"].shape[-2:])
    difference = resize_to(source, model_size) - r["sample"]
    band = gaussian_blur(difference, sigmas[0]) - (gaussian_blur(difference, sigmas[1]) if sigmas[1] else 0)
    trust = torch.exp(-(band.abs().mean(1, keepdim=True) / tolerance) ** 2)
    weight = trust * source_coverage(r["flow"], model_size, (SIZE, SIZE)) * resize(r["occlusion"], model_size)
    return torch.lerp(upscale(r["sample"]), source, upscale(weight))


def _disagreement(candidate: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    difference = resize_to(candidate, tuple(sample.shape[-2:])) - sample
    band = gaussian_blur(difference, 1.0) - gaussian_blur(difference, 6.0)
    return band.abs().mean(1, keepdim=True)


def with_static_average(r: dict, tolerance: float = 0.03) -> torch.Tensor:
    """Rejected: the unmoved source as a second candidate, candidates averaged by their trust (ghosts)."""
    model = upscale(r["sample"])
    source = warped(r)
    static = r["source"][None].expand_as(source)
    trusts = [torch.exp(-(_disagreement(c, r["sample"]) / tolerance) ** 2) for c in (source, static)]
    trusts = [upscale(t) for t in trusts]
    trusts[0] = trusts[0] * source_coverage(r["flow"], (SIZE, SIZE), (SIZE, SIZE)) * upscale(r["occlusion"])
    total = trusts[0] + trusts[1]
    mix = (trusts[0] * source + trusts[1] * static) / total.clamp(min=1e-6)
    share = total.clamp(max=1)
    return share * mix + (1 - share) * model


def with_static_flow(r: dict, tolerance: float = 0.03, temperature: float = 0.01) -> torch.Tensor:
    """Rejected: per pixel a blend of the model's flow and the identity flow, chosen by consistency, then one warp."""
    sample = r["sample"]
    size = tuple(sample.shape[-2:])
    flow = resize_flow(r["flow"], size)
    identity = identity_grid(*size)[None]
    low = resize_to(r["source"][None], size).expand(len(sample), -1, -1, -1)
    moved = torch.nn.functional.grid_sample(low, flow, padding_mode="border", align_corners=True)
    preference = torch.sigmoid((_disagreement(low, sample) - _disagreement(moved, sample)) / temperature)
    preference = gaussian_blur(preference, 1.0).permute(0, 2, 3, 1)
    mixed = identity + preference * (flow - identity)
    return transfer_detail(sample, r["source"], mixed, r["occlusion"], tolerance=tolerance).sample


def with_snapped_flow(r: dict, pixels: float = 1.0) -> torch.Tensor:
    """Not adopted (neutral on the training clips): the flow set to the identity where it moves less than
    ``pixels / 2`` output pixels, faded in up to ``pixels`` (no resampling blur where nothing moves)."""
    grid = resize_flow(r["flow"], (SIZE, SIZE))
    identity = identity_grid(SIZE, SIZE)[None].to(grid)
    moved = ((grid - identity) * (SIZE - 1) / 2).norm(dim=-1, keepdim=True)
    keep = ((moved - pixels / 2) / (pixels / 2)).clamp(0, 1)
    return transfer_detail(r["sample"], r["source"], identity + keep * (grid - identity), r["occlusion"]).sample


def with_bicubic_warp(r: dict) -> torch.Tensor:
    """Rejected (SSIM 0.004 lower on the training clips): the source sampled bicubically instead of bilinearly."""
    grid = resize_flow(r["flow"], (SIZE, SIZE))
    source = torch.nn.functional.grid_sample(r["source"][None].expand(len(grid), -1, -1, -1), grid, mode="bicubic",
                                             padding_mode="border", align_corners=True).clamp(0, 1)
    return trust_blend(r, 0.03, (1.0, 6.0), source)


VARIANTS: dict[str, tuple[Callable[[dict], torch.Tensor], bool]] = {
    # name: (frames from a cached record, AKD measured by default)
    "static source": (lambda r: r["source"][None].expand(len(r["sample"]), -1, -1, -1), True),
    "model upscaled (no detail transfer)": (lambda r: upscale(r["sample"]), True),
    "warped source alone (zero padding)": (lambda r: warped(r, "zeros"), True),
    "warped source alone (border padding)": (lambda r: warped(r), False),
    "warped source, dense-motion flow M0": (lambda r: warp_source(r["source"][None], r["flow0"], (SIZE, SIZE))[0], False),
    "naive Laplacian blend": (naive_blend, True),
    "Laplacian blend, detail x visibility x trust": (lambda r: naive_blend(r, weighted=True), False),
    "warped + model low band (sigma 8 px)": (lambda r: model_low_band(r, 8.0), False),
    "warped + model low band (sigma 32 px)": (lambda r: model_low_band(r, 32.0), False),
    "warped + 0.5 model low band (sigma 8 px)": (lambda r: model_low_band(r, 8.0, 0.5), False),
    "trust blend, low-pass check, tol 0.05": (lambda r: trust_blend(r, 0.05, (1.0, 0.0)), False),
    "trust blend, low-pass check, tol 0.08": (lambda r: trust_blend(r, 0.08, (1.0, 0.0)), False),
    "trust blend, band-pass check, tol 0.02": (lambda r: trust_blend(r, 0.02, (1.0, 6.0)), False),
    "CHOSEN: trust blend, band-pass check, tol 0.03": (
        lambda r: transfer_detail(r["sample"], r["source"], r["flow"], r["occlusion"]).sample, True),
    "trust blend, band-pass check, tol 0.04": (lambda r: trust_blend(r, 0.04, (1.0, 6.0)), False),
    "trust blend, band-pass check, tol 0.05": (lambda r: trust_blend(r, 0.05, (1.0, 6.0)), False),
    "trust blend, band-pass check, tol 0.08": (lambda r: trust_blend(r, 0.08, (1.0, 6.0)), False),
    "trust blend, band-pass 1-3 px, tol 0.03": (lambda r: trust_blend(r, 0.03, (1.0, 3.0)), False),
    "rejected: + identity-flow candidate": (with_static_flow, False),
    "not adopted: flow snapped to identity below 1 px": (with_snapped_flow, False),
    "rejected: bicubic sampling of the source": (with_bicubic_warp, False),
    "rejected: + static source averaged in (ghosts)": (with_static_average, True),
    "rejected: 0.75 warped + 0.25 model (softer)": (lambda r: 0.75 * warped(r) + 0.25 * upscale(r["sample"]), False),
    "oracle: real frame blurred (sigma 1 px)": (lambda r: gaussian_blur(r["frames"], 1.0), False),
}


# --------------------------------------------------------------------------- table


class LandmarkCache:
    """dlib's 68 landmarks of frames, stored by the frames' content, so that rerunning the table only
    measures the variants whose frames changed."""

    def __init__(self, folder: Path):
        from mcc_hf.face.landmarks import FaceAnalyzer

        self.analyzer = FaceAnalyzer()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, frames: torch.Tensor) -> np.ndarray:
        images = to_uint8(resize_to(frames, SIZE))
        path = self.folder / f"{hashlib.sha1(images.tobytes()).hexdigest()}.npy"
        if path.exists():
            return np.load(path)
        points = np.full((len(frames), 68, 2), np.nan)
        for index, image in enumerate(images):
            boxes = self.analyzer.detect(image)
            if boxes:
                points[index] = self.analyzer.landmarks(image, boxes[0])
        np.save(path, points)
        return points


def score_table(work: Path, akd: str) -> list[dict]:
    records = [load_record(p) for p in sorted((work / "cache").glob("rec-*.pt"))]
    if not records:
        raise SystemExit(f"no cached clips in {work / 'cache'}; run the cache step first")
    first = records[0]
    gap = (trust_blend(first, 0.03, (1.0, 6.0)) - VARIANTS["CHOSEN: trust blend, band-pass check, tol 0.03"][0](first)).abs().max()
    assert gap < 1e-5, f"the study's re-implementation differs from transfer_detail by {gap}"
    landmarks = LandmarkCache(work / "landmarks") if akd != "none" else None
    rows = []
    for name, (variant, akd_default) in VARIANTS.items():
        values: dict[str, list[np.ndarray]] = {}
        groups: dict[str, dict[str, list[np.ndarray]]] = {"mp4": {}, "gif": {}}
        for record in records:
            produced = variant(record).float().clamp(0, 1)[1:]
            target = record["frames"][1:]
            scores = {"l1": M.l1_distance(produced, target).numpy(), "psnr": M.psnr(produced, target).numpy(),
                      "ssim": M.ssim(produced, target).numpy()}
            if landmarks is not None and (akd == "all" or akd_default) and not name.startswith("oracle"):
                scores["akd"] = M.average_keypoint_distance(landmarks(produced), landmarks(target))
            group = groups["gif" if record["name"].startswith("rec-id15") else "mp4"]
            for key, value in scores.items():
                values.setdefault(key, []).append(value)
                group.setdefault(key, []).append(value)
            record.pop("warped", None)
        row = {"variant": name}
        row.update({key: float(np.nanmean(np.concatenate(v))) for key, v in values.items()})
        for group, scores in groups.items():
            row.update({f"{key}_{group}": float(np.nanmean(np.concatenate(v))) for key, v in scores.items() if key != "akd"})
        rows.append(row)
        logger.info("%s", format_row(row))
    frames = sum(len(r["frames"]) - 1 for r in records)
    print(f"\n{len(records)} clips, {frames} scored frames at {SIZE}x{SIZE} "
          f"(mp4 group: {sum(not r['name'].startswith('rec-id15') for r in records)} clips, gif group: "
          f"{sum(r['name'].startswith('rec-id15') for r in records)} clips)\n")
    print(f"| {'variant':48s} | L1     | PSNR  | SSIM   | AKD   | L1 mp4 | SSIM mp4 | L1 gif | SSIM gif |")
    print(f"|{'-' * 50}|--------|-------|--------|-------|--------|----------|--------|----------|")
    for row in rows:
        print(format_row(row))
    (work / "table.json").write_text(json.dumps(rows, indent=1))
    return rows


def format_row(row: dict) -> str:
    def value(key: str, digits: int) -> str:  # a group without clips (no GIF-made clips in train) has none
        return f"{row[key]:.{digits}f}" if key in row else " " * (digits - 1) + "-" + " "
    return (f"| {row['variant']:48s} | {row['l1']:.4f} | {row['psnr']:.2f} | {row['ssim']:.4f} | {value('akd', 3)} | "
            f"{value('l1_mp4', 4)} | {value('ssim_mp4', 4)}   | {value('l1_gif', 4)} | {value('ssim_gif', 4)}   |")


# --------------------------------------------------------------------------- strips


def save_png(path: Path, image: torch.Tensor) -> None:
    import PIL.Image

    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.ascontiguousarray(to_uint8(image[None].clamp(0, 1))[0])).save(path)


def write_strips(work: Path) -> None:
    """Cross-identity strips: per pair, 3 frames (the one where the model departs most from the warped source
    first) x [source, driving, model upscaled, warped source, naive blend, chosen, weight]; and 3x zooms of
    the face centre of that frame."""
    folder = work / "png"
    zooms = []
    for path in sorted((work / "cache").glob("xid-*.pt")):
        record = load_record(path)
        chosen = transfer_detail(record["sample"], record["source"], record["flow"], record["occlusion"])
        source = warped(record)
        departure = _disagreement(source, record["sample"])[:, :, 16:56, 12:52].flatten(1).amax(1)
        worst = int(departure.argmax())
        picks = [worst, len(record["sample"]) // 3, 2 * len(record["sample"]) // 3]
        columns = [record["source"][None].expand(len(source), -1, -1, -1), record["frames"], upscale(record["sample"]),
                   source, naive_blend(record), chosen.sample, chosen.weight.expand(-1, 3, -1, -1)]
        rows = [torch.cat([column[k] for column in columns], dim=-1) for k in picks]
        save_png(folder / f"{path.stem}.png", torch.cat(rows, dim=-2))
        box = (slice(64, 208), slice(56, 200))
        tiles = [column[worst][:, box[0], box[1]] for column in columns[2:6]]
        zooms.append(torch.nn.functional.interpolate(torch.cat(tiles, -1)[None], scale_factor=2, mode="nearest")[0])
        logger.info("strip %s (frames %s)", path.stem, picks)
    save_png(folder / "zoom-model-warped-naive-chosen.png", torch.cat(zooms, dim=-2))
    print(f"strips in {folder}")


def write_demo_strip(work: Path, frames: int = 12) -> None:
    """``mcc-hf demo``'s face (the 200-pixel face window of the bundled 512x512 photograph) driven by the
    demo's head-motion clip: source | driving | model upscaled to 200 | chosen, 3 frames, at 2x zoom."""
    import mcc_hf
    from mcc_hf import TalkingHeadPipeline
    from mcc_hf.demo import DEMO_FACE_BOX, load_demo_source, render_driving_clip

    pipe = TalkingHeadPipeline.from_pretrained(mcc_hf.DEFAULT_MODEL)
    animator = pipe.animator
    left, top, side = DEMO_FACE_BOX
    source = load_image(load_demo_source())[:, top:top + side, left:left + side]
    clip = torch.from_numpy(render_driving_clip(num_frames=frames)).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        prepared = animator.prepare_source(pipe.preprocess(source[None]))
        keypoints = animator.detect_keypoints(pipe.preprocess(clip))
        result = animator.render(prepared, MotionTransfer(prepared, relative=True, adapt_scale=True)(keypoints))
    sample = from_model_range(result.sample)
    chosen = transfer_detail(sample, source, result.generator_output.deformations[-1], result.generator_output.occlusions[-1])
    picks = [frames // 4, frames // 2, 3 * frames // 4]
    columns = [source[None].expand(frames, -1, -1, -1), resize_to(clip, side), resize_to(sample, side), chosen.sample]
    rows = [torch.cat([column[k] for column in columns], dim=-1) for k in picks]
    grid = torch.nn.functional.interpolate(torch.cat(rows, dim=-2)[None], scale_factor=2, mode="nearest")[0]
    save_png(work / "png" / "demo-source-driving-model-chosen.png", grid)


# --------------------------------------------------------------------------- timing


def time_pipeline(data: Path, repeats: int, size: int = 512) -> None:
    """Per-frame seconds of the bundled pipeline at ``size`` output and of transfer_detail at that size.

    The pipeline's per-frame time is marginal, ``(T(32 frames) - T(8 frames)) / 24``, so the work done once
    per call (source preparation) is left out; transfer_detail and the plain upscale it replaces run on
    batches of 4, as the pipeline renders them. Repetitions are interleaved; medians and minima are reported.
    """
    import mcc_hf
    from mcc_hf import TalkingHeadPipeline

    pipe = TalkingHeadPipeline.from_pretrained(mcc_hf.DEFAULT_MODEL)
    pipe.set_progress_bar_config(disable=True)
    clip = sorted((data / "test").glob("*.mp4"))[0]
    driving = resize_to(read_clip(clip, 32), SIZE)
    if len(driving) < 32:
        raise SystemExit(f"{clip.name} has fewer than 32 frames")
    source = resize_to(driving[:1], size)[0]
    model = pipe.sample_size
    with torch.inference_mode():  # real model outputs for the batch that transfer_detail gets
        prepared = pipe.animator.prepare_source(pipe.preprocess(source[None]))
        result = pipe.animator.render(prepared, pipe.animator.detect_keypoints(pipe.preprocess(driving[8:12])))
    sample = from_model_range(result.sample)
    flow, occlusion = result.generator_output.deformations[-1], result.generator_output.occlusions[-1]

    def pipeline(frames: int) -> float:
        start = time.perf_counter()
        pipe(source, driving[:frames], output_size=size, batch_size=4, output_type="pt")
        return time.perf_counter() - start

    def per_batch(function) -> float:
        start = time.perf_counter()
        for _ in range(4):
            function()
        return (time.perf_counter() - start) / 16

    steps = {
        "pipeline": lambda: (pipeline(32) - pipeline(8)) / 24,
        "transfer_detail": lambda: per_batch(lambda: transfer_detail(sample, source, flow, occlusion)),
        "plain upscale": lambda: per_batch(lambda: resize_to(sample, size)),
    }
    with torch.inference_mode():
        for step in steps.values():  # warm-up
            step()
        times = {name: [] for name in steps}
        for _ in range(repeats):
            for name, step in steps.items():
                times[name].append(step())
    print(f"\nper frame at {size}x{size} output, bundled model ({model}x{model}), batch 4, {torch.get_num_threads()} thread(s), "
          f"{repeats} interleaved repetitions:")
    for label, reduce in (("median", statistics.median), ("min", min)):
        t = {name: reduce(values) for name, values in times.items()}
        rise = (t["transfer_detail"] - t["plain upscale"]) / t["pipeline"]
        print(f"  {label:6s}: pipeline {t['pipeline'] * 1e3:6.1f} ms, transfer_detail {t['transfer_detail'] * 1e3:6.1f} ms, "
              f"plain upscale {t['plain upscale'] * 1e3:5.1f} ms -> pipeline frame time {rise:+.1%} (target <= +50%)")


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/talking-heads-mini")
    parser.add_argument("--work", type=Path, default=Path("runs/detail-study"))
    parser.add_argument("--frames", type=int, default=32, help="frames per clip (source = frame 0)")
    parser.add_argument("--split", default="test", choices=("test", "train"),
                        help="clips of the cache step; tune on train (with its own --work), report on test")
    parser.add_argument("--max-clips", type=int, default=None, help="cache at most N clips of the split (evenly spaced)")
    parser.add_argument("--steps", default="cache,table,strips,timing")
    parser.add_argument("--akd", choices=("default", "all", "none"), default="default",
                        help="AKD for the variants marked so (default), for all, or none")
    parser.add_argument("--repeats", type=int, default=5, help="timing repetitions")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    steps = args.steps.split(",")
    unknown = set(steps) - {"cache", "table", "strips", "timing"}
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    if not (args.data / args.split).is_dir():
        parser.error(f"no {args.split} clips in {args.data}")
    with torch.inference_mode():
        if "cache" in steps:
            cache_model_outputs(args.data, args.work, args.frames, split=args.split, max_clips=args.max_clips)
        if "table" in steps:
            score_table(args.work, args.akd)
        if "strips" in steps:
            write_strips(args.work)
            write_demo_strip(args.work)
    if "timing" in steps:
        time_pipeline(args.data, args.repeats)


if __name__ == "__main__":
    main()
