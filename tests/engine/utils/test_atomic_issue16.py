"""Issue 16: a full disk is an OSError(ENOSPC) naming the file not written (the old file
intact), however the writer reported it; the temp files of killed writes are recognised and
removed only when their writer is gone."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.checkpoints import save_checkpoint
from engine.errors import EngineError
from engine.utils.atomic import (
    DiskFullError,
    atomic_directory,
    atomic_writer,
    disk_full_cause,
    disk_full_target,
    remove_stale_temp_files,
)

from .filling_disk import FillingDisk


def test_a_full_disk_names_the_file_not_written_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "results.csv"
    target.write_bytes(b"old\n")
    FillingDisk(monkeypatch, tmp_path, budget=3)
    with pytest.raises(OSError) as caught, atomic_writer(target) as handle:
        handle.write(b"new content\n" * 1000)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert str(caught.value) == f"[Errno 28] No space left on device: '{target}'"
    assert disk_full_cause(caught.value) is caught.value
    assert disk_full_target(caught.value) == target
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_torch_save_on_a_full_disk_is_recognised_behind_its_runtime_error(tmp_path, monkeypatch):
    # torch.save reports a full disk as "RuntimeError: ... unexpected pos", raised while
    # handling the OSError; the chain still says what happened, and which file it was
    FillingDisk(monkeypatch, tmp_path, budget=10_000)
    with pytest.raises(OSError) as caught:
        save_checkpoint(tmp_path / "last.pt", {"weights": torch.zeros(100_000)})
    assert caught.value.errno == errno.ENOSPC
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert disk_full_target(caught.value) == tmp_path / "last.pt"
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_in_an_atomic_directory_names_the_folder(tmp_path, monkeypatch):
    FillingDisk(monkeypatch, tmp_path, budget=10, inside=True)
    with pytest.raises(OSError) as caught:
        with atomic_directory(tmp_path / "model_openvino_model") as folder:
            with atomic_writer(folder / "model.xml") as handle:
                handle.write(b"x" * 100)
    assert disk_full_target(caught.value) == tmp_path / "model_openvino_model"
    assert list(tmp_path.iterdir()) == []


def test_disk_full_error_is_an_engine_error_and_an_os_error():
    error = DiskFullError("the disk is full: last.pt could not be written", path="/runs/w",
                          target="/runs/w/last.pt")
    assert isinstance(error, EngineError) and isinstance(error, OSError)
    assert error.errno == errno.ENOSPC and disk_full_target(error) == Path("/runs/w/last.pt")
    assert str(error) == "/runs/w: the disk is full: last.pt could not be written"
    assert disk_full_cause(RuntimeError("something else")) is None


def test_other_write_errors_are_left_as_they_are(tmp_path):
    with pytest.raises(PermissionError), atomic_writer(tmp_path / "a.txt") as handle:
        handle.write(b"x")
        raise PermissionError(errno.EACCES, "read-only")
    assert list(tmp_path.iterdir()) == []


def test_temp_files_name_their_writer(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(a), real_replace(a, b)))
    with atomic_writer(tmp_path / "last.pt") as handle:
        handle.write(b"x")
    assert os.path.basename(seen[0]).startswith(f".last.pt.{os.getpid()}.")


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_only_stale_temp_files_of_our_pattern_are_removed(tmp_path):
    dead, live = dead_pid(), os.getpid()
    stale = {
        f".last.pt.{dead}.ab12cd_9.tmp": b"x" * 1000,  # its writer was killed
        f".best.pt.{dead}.zzzzzzzz.tmp": b"",  # killed right after creating it: 0 B
        ".a.99999999999999999999.abcdefgh.tmp": b"no such pid can exist",
    }
    kept = {
        f".last.pt.{live}.ab12cd34.tmp": b"y",  # being written by a live process
        ".results.csv.q1w2e3r4.tmp": b"z",  # no pid (an earlier version's), but new
        "notes.tmp": b"mine",  # not ours
        ".last.pt.tmp": b"mine",  # not our pattern
        "last.pt": b"checkpoint",
    }
    for name, content in {**stale, **kept}.items():
        (tmp_path / name).write_bytes(content)
    old_legacy = tmp_path / ".args.yaml.k9j8h7g6.tmp"  # no pid, older than this process
    old_legacy.write_bytes(b"old")
    an_hour_ago = time.time() - 3600
    os.utime(old_legacy, (an_hour_ago, an_hour_ago))
    (tmp_path / f".weights.{dead}.abcdefgh.tmp").mkdir()  # a folder: not a temp file of ours
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f".last.pt.{dead}.abcdefgh.tmp").write_bytes(b"below: not touched")

    removed = remove_stale_temp_files(tmp_path)

    assert sorted((r.path.name, r.size) for r in removed) == sorted(
        [(name, len(content)) for name, content in stale.items()] + [(old_legacy.name, 3)])
    left = {p.name for p in tmp_path.iterdir()}
    assert left == set(kept) | {f".weights.{dead}.abcdefgh.tmp", "sub"}
    assert (tmp_path / "sub" / f".last.pt.{dead}.abcdefgh.tmp").exists()
    assert remove_stale_temp_files(tmp_path / "missing") == []
