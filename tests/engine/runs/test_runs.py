"""engine.runs: run folders and what a run yields, below both training and validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.runs import TrainResult, Validation, latest_checkpoint, remove_if_no_files, run_dir
from engine.val.classify_metrics import ClassifyMetrics

REPOSITORY = Path(__file__).parents[3]


def test_runs_imports_neither_training_nor_validation():
    code = ("import sys, engine.runs; "
            "print(sorted(m for m in sys.modules if m.startswith(('engine.train', 'engine.val'))))")
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, cwd=REPOSITORY).stdout
    assert out.strip() == "[]"


def test_run_folders_number_themselves_unless_exist_ok(tmp_path):
    first = run_dir("segment", "train", project=tmp_path)
    second = run_dir("segment", "train", project=tmp_path)
    again = run_dir("segment", "train", project=tmp_path, name="train", exist_ok=True)
    assert [p.name for p in (first, second, again)] == ["train", "train2", "train"]
    assert second.is_dir()


def test_a_folder_with_only_empty_folders_is_removed_and_one_with_a_file_kept(tmp_path):
    empty, kept = tmp_path / "empty", tmp_path / "kept"
    (empty / "weights").mkdir(parents=True)
    (kept / "weights").mkdir(parents=True)
    (kept / "weights" / "last.pt").write_bytes(b"x")
    assert remove_if_no_files(empty) and not empty.exists()
    assert not remove_if_no_files(kept) and kept.is_dir()


def test_the_newest_last_checkpoint_is_found(tmp_path):
    assert latest_checkpoint(tmp_path / "none") is None
    old, new = (tmp_path / f"classify/{n}/weights/last.pt" for n in ("train", "train2"))
    for path in (old, new):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    os.utime(old, (1, 1))
    assert latest_checkpoint(tmp_path) == new


def test_a_train_result_answers_with_its_validation_details(tmp_path):
    metrics = ClassifyMetrics({0: "a", 1: "b"})
    metrics.update(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), torch.tensor([0, 1, 1]))
    validation = Validation(metrics.results_dict, metrics.fitness, details=metrics)
    result = TrainResult(tmp_path, "completed", 3, validation=validation)
    assert result.top1 == pytest.approx(2 / 3) and result.seen == 3
    with pytest.raises(AttributeError):
        TrainResult(tmp_path, "cancelled", 0).top1  # noqa: B018 - no validation, no figures
