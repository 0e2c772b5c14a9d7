# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Atomic files and folders: complete or absent, stale temporaries removed, signals turned into cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from mcc_hf.atomic import TEMP_MARKER, atomic_file, atomic_folder, remove_stale_temporaries, staging_folder


def test_atomic_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_file(target) as temporary:
        assert temporary.endswith(".txt") and TEMP_MARKER in temporary
        with open(temporary, "w") as f:
            f.write("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_file_failure_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target) as temporary:
            open(temporary, "w").write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_folder_replaces_or_refuses(tmp_path):
    target = tmp_path / "model"
    with atomic_folder(target) as staging:
        (open(os.path.join(staging, "a.json"), "w")).write("{}")
    assert os.listdir(target) == ["a.json"]
    with atomic_folder(target) as staging:
        (open(os.path.join(staging, "b.json"), "w")).write("{}")
    assert os.listdir(target) == ["b.json"]
    with pytest.raises(FileExistsError, match="not empty"):
        with atomic_folder(target, replace=False):
            pass
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as staging:
            (open(os.path.join(staging, "c.json"), "w")).write("{}")
            raise RuntimeError("boom")
    assert os.listdir(target) == ["b.json"] and sorted(os.listdir(tmp_path)) == ["model"]
    with staging_folder(target) as staging:
        assert os.path.dirname(staging) == str(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    old_file = tmp_path / f".video.mp4{TEMP_MARKER}abc.mp4"
    old_dir = tmp_path / f".model{TEMP_MARKER}xyz"
    fresh = tmp_path / f".other.mp4{TEMP_MARKER}def.mp4"
    unrelated = tmp_path / ".video.mp4.hidden"
    for path in (old_file, fresh, unrelated):
        path.write_text("x")
    old_dir.mkdir()
    (old_dir / "inner").write_text("x")
    past = time.time() - 2 * 3600
    for path in (old_file, old_dir, unrelated):
        os.utime(path, (past, past))
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([str(old_file), str(old_dir)])
    assert sorted(os.listdir(tmp_path)) == sorted([fresh.name, unrelated.name])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_terminate_on_signals_runs_the_cleanup(tmp_path, signum):
    script = f"""
import sys, time
from mcc_hf.atomic import atomic_file, terminate_on_signals
with terminate_on_signals():
    with atomic_file({str(tmp_path / 'out.bin')!r}) as temporary:
        open(temporary, 'wb').write(b'partial')
        print('ready', flush=True)
        time.sleep(60)
"""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signum)
    assert process.wait(timeout=30) == 128 + signum
    assert os.listdir(tmp_path) == []
