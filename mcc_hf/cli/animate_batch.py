# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf animate-batch``: many (source, driving, output) jobs from a CSV file, split across processes.

Run it plainly for one process, or under ``accelerate launch`` for several (one per GPU, or CPU
processes)::

    accelerate launch --num_processes 4 -m mcc_hf.cli animate-batch jobs.csv
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
from dataclasses import dataclass

from .animate import add_speed_options, apply_speed_options

logger = logging.getLogger(__name__)

COLUMNS = ("source", "driving", "output")

EPILOG = """\
jobs file: a CSV file with a header row naming the columns source, driving and output (others are
ignored); one job per row. Relative paths are relative to the CSV file's folder; output folders
are created.

  source,driving,output
  faces/anna.jpg,clips/talk1.mp4,out/anna_talk1.mp4
  faces/ben.png,clips/talk1.mp4,out/ben_talk1.mp4

examples:
  mcc-hf animate-batch jobs.csv
  accelerate launch --num_processes 2 -m mcc_hf.cli animate-batch jobs.csv --device cuda
  ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 -m mcc_hf.cli animate-batch jobs.csv

Every job runs like `mcc-hf animate` with the options below. A job that fails prints one line and
the others go on; the exit status is 1 when any job failed.
"""


@dataclass
class Job:
    """One row of the jobs file (paths resolved)."""

    row: int
    source: str
    driving: str
    output: str


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "animate-batch",
        help="animate many (source, driving, output) jobs from a CSV file, across processes with accelerate",
        description="Animate every (source, driving, output) job of a CSV file with one model. Under "
                    "`accelerate launch` the jobs are split between the processes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("jobs", metavar="JOBS.csv", help="CSV file with the columns source, driving, output")
    parser.add_argument("--model", default=None, metavar="ID_OR_DIR",
                        help="pipeline folder or Hugging Face Hub id (default: the model bundled with mcc-hf)")
    parser.add_argument("--skip-existing", action="store_true", help="skip jobs whose output file already exists")

    motion = parser.add_argument_group("motion (as in mcc-hf animate)")
    mode = motion.add_mutually_exclusive_group()
    mode.add_argument("--relative", dest="relative", action="store_true", default=True,
                      help="copy the driving changes of pose and expression onto the source (default)")
    mode.add_argument("--absolute", dest="relative", action="store_false", help="copy the driving keypoints as they are")
    motion.add_argument("--adapt-scale", action=argparse.BooleanOptionalAction, default=True,
                        help="in relative mode, scale the motion by the ratio of the face sizes")
    motion.add_argument("--find-best-frame", action="store_true",
                        help="start the motion from the driving frame whose pose best matches the source")
    motion.add_argument("--smoothing", type=float, default=0.0, metavar="S",
                        help="temporal smoothing of the driving motion: 0 (off, default) to 1")

    framing = parser.add_argument_group("framing (as in mcc-hf animate)")
    framing.add_argument("--crop", action=argparse.BooleanOptionalAction, default=True,
                         help="find and crop the faces and paste the result back (--no-crop for square face crops)")
    framing.add_argument("--output-size", type=int, default=None, metavar="H", help="height of the output videos")
    framing.add_argument("--detail-transfer", action=argparse.BooleanOptionalAction, default=None,
                         help="detail from the full-resolution photo (default: automatic, as in mcc-hf animate)")
    framing.add_argument("--no-audio", dest="keep_audio", action="store_false", help="do not copy the driving audio")

    compute = parser.add_argument_group("computation")
    compute.add_argument("--batch-size", type=int, default=4, metavar="N", help="frames rendered at once (default: 4)")
    compute.add_argument("--device", default=None, metavar="DEVICE",
                         help="cpu, cuda or cuda:N (default: the device accelerate assigns to the process, else cpu)")
    add_speed_options(compute)
    parser.set_defaults(func=run)


def read_jobs(path: str) -> list[Job]:
    """The jobs of a CSV file, with paths resolved against its folder.

    Raises:
        UserInputError: the file is missing, lacks a column, has no job, or two jobs write one output.
    """
    from ..errors import UserInputError

    if not os.path.isfile(path):
        raise UserInputError(f"jobs file not found: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [column for column in COLUMNS if column not in header]
        if missing:
            raise UserInputError(f"{path}: the header row lacks the column(s) {', '.join(missing)} "
                                 f"(expected {','.join(COLUMNS)})")
        reader.fieldnames = header
        jobs = []
        for row in reader:
            values = {column: (row.get(column) or "").strip() for column in COLUMNS}
            if not any(values.values()):
                continue  # blank line
            empty = [column for column, value in values.items() if not value]
            if empty:
                raise UserInputError(f"{path}, line {reader.line_num}: empty {', '.join(empty)}")
            resolved = {column: os.path.join(folder, os.path.expanduser(value)) for column, value in values.items()}
            jobs.append(Job(row=reader.line_num, **resolved))
    if not jobs:
        raise UserInputError(f"{path} lists no job")
    seen: dict[str, int] = {}
    for job in jobs:
        key = os.path.normcase(os.path.abspath(job.output))
        if key in seen:
            raise UserInputError(f"{path}: lines {seen[key]} and {job.row} both write {job.output}")
        seen[key] = job.row
    return jobs


def _process_state():
    """accelerate's ``PartialState`` when accelerate is installed, else ``None`` (one process)."""
    try:
        from accelerate import PartialState
    except ImportError:
        logger.info("accelerate is not installed: running every job in this process")
        return None
    return PartialState()


def run(args: argparse.Namespace) -> int:
    from ..errors import UserInputError

    if args.batch_size < 1:
        raise UserInputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not 0.0 <= args.smoothing <= 1.0:
        raise UserInputError(f"--smoothing must be between 0 and 1, got {args.smoothing}")
    jobs = read_jobs(args.jobs)
    state = _process_state()
    if state is None:
        results = _run_jobs(args, list(enumerate(jobs)), len(jobs), args.device or "cpu", main_process=True)
    else:
        with state.split_between_processes(list(enumerate(jobs))) as mine:
            results = _run_jobs(args, mine, len(jobs), args.device or state.device, state.is_main_process)
        if state.num_processes > 1:
            from accelerate.utils import gather_object

            results = gather_object(results)
        if not state.is_main_process:
            return 1 if any(status == "failed" for _, status in results) else 0
    written = sum(status == "written" for _, status in results)
    skipped = sum(status == "skipped" for _, status in results)
    failed = sorted(index + 1 for index, status in results if status == "failed")
    summary = f"animate-batch: {len(jobs)} jobs: {written} written, {skipped} skipped, {len(failed)} failed"
    if failed:
        summary += f" (job{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))})"
    print(summary)
    return 1 if failed else 0


def _run_jobs(args: argparse.Namespace, jobs: list[tuple[int, Job]], total: int, device,
              main_process: bool) -> list[tuple[int, str]]:
    """Run this process's share; returns ``(job index, "written" | "skipped" | "failed")`` per job."""
    from ..errors import UserInputError
    from ..loading import load_pipeline

    results: list[tuple[int, str]] = []
    if not jobs:
        return results
    pipe = load_pipeline(args.model, device=device)
    apply_speed_options(pipe, args)
    pipe.set_progress_bar_config(disable=True)
    for index, job in jobs:
        label = f"[{index + 1}/{total}] {job.output}"
        if args.skip_existing and os.path.exists(job.output):
            print(f"{label}: exists, skipped", flush=True)
            results.append((index, "skipped"))
            continue
        try:
            os.makedirs(os.path.dirname(job.output) or ".", exist_ok=True)
            result = pipe.animate_to_file(
                job.source, job.driving, job.output,
                relative=args.relative, adapt_scale=args.adapt_scale, find_best_frame=args.find_best_frame,
                crop=args.crop, smoothing=args.smoothing, batch_size=args.batch_size,
                output_size=args.output_size, keep_audio=args.keep_audio, detail_transfer=args.detail_transfer,
            )
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001  (one failed job must not stop the others)
            if args.verbose:
                raise
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            if not isinstance(e, (UserInputError, OSError)):
                message = f"{type(e).__name__}: {message}"
            print(f"{label}: error: {message}", file=sys.stderr, flush=True)
            results.append((index, "failed"))
            continue
        print(f"{label}: {result.num_frames} frames, {result.width}x{result.height}", flush=True)
        results.append((index, "written"))
    return results
