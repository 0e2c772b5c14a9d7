# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Training checkpoints that only count once complete, rotation, and finding the one to resume from.

A checkpoint is written by ``accelerator.save_state`` into ``checkpoint-N.incomplete``; once every
process has finished, the main process adds ``training_state.json`` and renames the folder to
``checkpoint-N``. An interrupted save therefore never replaces or shadows the last good checkpoint,
and ``--resume_from_checkpoint latest`` only considers complete ones.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil

from ..errors import UserInputError

logger = logging.getLogger(__name__)

__all__ = ["find_checkpoint", "list_checkpoints", "read_training_state", "resume_training_state", "save_checkpoint"]

STATE_FILE = "training_state.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")
INCOMPLETE_SUFFIX = ".incomplete"


def list_checkpoints(output_dir: str) -> list[tuple[int, str]]:
    """Complete checkpoints in ``output_dir`` as ``(step, path)``, oldest first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        match = _NAME.match(name)
        path = os.path.join(output_dir, name)
        if match and os.path.isfile(os.path.join(path, STATE_FILE)):
            found.append((int(match.group(1)), path))
    return sorted(found)


def find_checkpoint(output_dir: str, resume_from: str) -> str | None:
    """Resolve ``--resume_from_checkpoint``: ``"latest"`` (``None`` when there is none yet) or a path."""
    if resume_from == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1][1] if checkpoints else None
    path = resume_from if os.path.isdir(resume_from) else os.path.join(output_dir, resume_from)
    if not os.path.isfile(os.path.join(path, STATE_FILE)):
        raise UserInputError(
            f"cannot resume from {resume_from!r}: not a complete checkpoint folder (no {STATE_FILE}); "
            f"complete ones in {output_dir}: {[os.path.basename(p) for _, p in list_checkpoints(output_dir)] or 'none'}"
        )
    return path


def read_training_state(checkpoint: str) -> dict:
    with open(os.path.join(checkpoint, STATE_FILE), encoding="utf-8") as f:
        return json.load(f)


def save_checkpoint(accelerator, output_dir: str, global_step: int, total_limit: int | None, extra: dict | None = None) -> str:
    """Save the full training state at ``global_step`` (call on every process); returns the final path."""
    final = os.path.join(output_dir, f"checkpoint-{global_step}")
    partial = final + INCOMPLETE_SUFFIX
    if accelerator.is_main_process and os.path.isdir(partial):
        shutil.rmtree(partial)  # left by an interrupted save
    accelerator.wait_for_everyone()
    accelerator.save_state(partial)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {"global_step": global_step, **(extra or {})}
        tmp = os.path.join(partial, STATE_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2)
        os.replace(tmp, os.path.join(partial, STATE_FILE))
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(partial, final)
        if total_limit is not None:
            checkpoints = list_checkpoints(output_dir)
            for _, old in checkpoints[: max(0, len(checkpoints) - total_limit)]:
                logger.info("removing old checkpoint %s (limit %d)", old, total_limit)
                shutil.rmtree(old)
        logger.info("saved checkpoint %s", final)
    accelerator.wait_for_everyone()
    return final


def resume_training_state(accelerator, output_dir: str, resume_from: str, use_ema: bool) -> int:
    """Restore ``--resume_from_checkpoint`` into the objects ``accelerator`` prepared and registered (call on
    every process); returns the step the checkpoint was saved at, or 0 when ``"latest"`` finds none yet."""
    checkpoint = find_checkpoint(output_dir, resume_from)
    if checkpoint is None:
        logger.info("no checkpoint in %s yet; starting a new run", output_dir)
        return 0
    state = read_training_state(checkpoint)
    if bool(state.get("use_ema", use_ema)) != bool(use_ema):
        raise UserInputError(
            f"checkpoint {checkpoint} was saved with use_ema={state.get('use_ema')}; resume with the same --use_ema setting"
        )
    logger.info("resuming from %s", checkpoint)
    accelerator.load_state(checkpoint)
    return int(state["global_step"])
