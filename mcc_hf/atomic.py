# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Writing files and folders so that they appear only when complete.

Everything mcc-hf writes (videos, reports, converted models, trained pipelines) goes through
:func:`atomic_file` or :func:`atomic_folder`: the content is written under a hidden temporary name
beside the target (``.NAME.mcc-tmp-XXXXXXXX[.ext]``) and renamed onto the target only when the
writing code returns without an error. On any exception (``KeyboardInterrupt`` and, inside
:func:`terminate_on_signals`, ``SIGTERM``/``SIGHUP`` included) the temporary file is removed and the
target is untouched. A process killed outright (``SIGKILL``, power loss) cannot clean up; the next
write into the same folder removes such leftovers once they are an hour old
(:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "STALE_AFTER_SECONDS",
    "TEMP_MARKER",
    "atomic_file",
    "atomic_folder",
    "remove_stale_temporaries",
    "staging_folder",
    "terminate_on_signals",
]

logger = logging.getLogger(__name__)

#: Part of every temporary name this module creates (and the only names it ever cleans up).
TEMP_MARKER = ".mcc-tmp-"
#: Leftover temporaries older than this are removed by the next write into their folder.
STALE_AFTER_SECONDS = 3600


def _temporary_name(target: Path) -> tuple[str, str]:
    """``(prefix, suffix)`` of the temporary beside ``target``: hidden, marked, keeping the extension."""
    return f".{target.name}{TEMP_MARKER}", target.suffix


def remove_stale_temporaries(folder: str | os.PathLike, max_age: float = STALE_AFTER_SECONDS) -> list[str]:
    """Delete this module's temporaries in ``folder`` older than ``max_age`` seconds; returns what was removed.

    Only hidden names containing :data:`TEMP_MARKER` are considered, so nothing else is ever touched.
    """
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and TEMP_MARKER in entry.name):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < max_age:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.remove(entry.path)
            removed.append(entry.path)
        except OSError as e:  # another process may be removing it, or it is not ours to remove
            logger.debug("could not remove stale temporary %s: %s", entry.path, e)
    if removed:
        logger.info("removed %d stale temporary file(s) left by an interrupted run in %s", len(removed), folder)
    return removed


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, make_parents: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path``; when the block ends without an error, move it onto ``path``.

    The temporary keeps ``path``'s extension (so writers that pick a format by extension work) and
    gets the permissions a plain ``open(path, "w")`` would have. An existing ``path`` is replaced.

    Args:
        path: the file to write.
        make_parents: create the parent folder if it does not exist.
    """
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    prefix, suffix = _temporary_name(target)
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates the file private to its owner
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


@contextlib.contextmanager
def staging_folder(beside: str | os.PathLike) -> Iterator[str]:
    """Yield a new hidden temporary folder next to ``beside`` (same file system, so its content can be
    moved into place with ``os.replace``); it is removed with whatever is left in it when the block ends."""
    target = Path(beside).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    prefix, _ = _temporary_name(target)
    staging = tempfile.mkdtemp(prefix=prefix, dir=target.parent)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, replace: bool = True) -> Iterator[str]:
    """Yield an empty temporary folder beside ``path``; when the block ends without an error, it becomes ``path``.

    Args:
        path: the folder to write.
        replace: replace an existing ``path`` (its old content is removed only after the new one is
            complete); with ``False`` an existing non-empty ``path`` raises ``FileExistsError`` up front.
    """
    target = Path(path).absolute()
    if not replace and target.is_dir() and any(target.iterdir()):
        raise FileExistsError(f"output folder {target} exists and is not empty")
    with staging_folder(target) as staging:
        content = os.path.join(staging, "content")
        os.mkdir(content)
        yield content
        if target.is_dir():
            os.replace(target, os.path.join(staging, "old"))  # removed with the staging folder
        os.replace(content, target)


class _Terminated(SystemExit):
    """Raised in the main thread when SIGTERM or SIGHUP arrives inside :func:`terminate_on_signals`."""


@contextlib.contextmanager
def terminate_on_signals(signals: tuple[int, ...] = ()) -> Iterator[None]:
    """Turn ``SIGTERM`` and ``SIGHUP`` into an exception while the block runs, so cleanup code runs.

    ``timeout``, ``docker stop`` and systemd stop a process with ``SIGTERM``, a closed terminal sends
    ``SIGHUP``; by default both end Python without running ``finally`` blocks or context-manager
    exits, which would leave temporary files behind. Inside this block they raise ``SystemExit``
    (status 128 + signal number) instead. Outside the main thread, or where a handler other than the
    default is already installed (the application's own), nothing is changed. Previous handlers are
    restored on exit.
    """
    wanted = signals or tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        raise _Terminated(128 + signum)

    previous = {}
    for signum in wanted:
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
