"""Issue 16: resume after a cancel or a kill at any point of a save ends as a straight run
would (best.pt validated, plots, last.pt stripped); killed saves leave no temp files behind;
a full disk is one message saying what was kept; epochs=0 is refused.

The kills are real: ``kill_point.py`` runs the CLI and SIGKILLs itself at the exact point.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine import YOLO
from engine.cancel import CancelToken
from engine.cli import main
from engine.errors import SettingsError
from engine.events import EpochEnd, Warning
from engine.train.classify import ClassifyTask

from ..utils.filling_disk import FillingDisk
from .conftest import quick
from .test_trainer import Recorder

KILL_POINT = Path(__file__).with_name("kill_point.py")
REPOSITORY = Path(__file__).parents[3]


def yolo(cwd: Path, *args: str, kill: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a child process, killed at ``kill`` (see kill_point.py) when given."""
    env = {k: v for k, v in os.environ.items() if k != "YOLO_TEST_KILL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    if kill:
        env["YOLO_TEST_KILL"] = kill
    return subprocess.run([sys.executable, str(KILL_POINT), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def train_args(digits: Path, project: Path, **overrides) -> list[str]:
    values = quick(data=str(digits), model="yolov8n-cls.yaml", project=str(project),
                   **{"plots": True, **overrides})
    return ["classify", "train", *(f"{k}={v}" for k, v in values.items())]


def resume_args(last: Path) -> list[str]:
    return ["classify", "train", f"model={last}", "resume=True"]


def checkpoint(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_finished(run: Path, epochs: int) -> None:
    """What a run that ended properly leaves: best.pt validated and plotted, last.pt with no
    training state, one results.csv row per epoch."""
    assert "train_state" not in checkpoint(run / "weights" / "last.pt")
    assert (run / "confusion_matrix.png").is_file() and (run / "results.png").is_file()
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))


# --- resume and best.pt ---------------------------------------------------------------------


def test_a_resume_that_never_beats_the_earlier_best_ends_with_it(digits, tmp_path, monkeypatch):
    real_validate, calls = ClassifyTask.validate, []

    def later_epochs_score_worse(self, *args, **kwargs):
        validation = real_validate(self, *args, **kwargs)
        calls.append(validation)
        return dataclasses.replace(validation, fitness=validation.fitness - len(calls))

    monkeypatch.setattr(ClassifyTask, "validate", later_epochs_score_worse)
    token = CancelToken()

    def cancel_after_the_first_epoch(event):
        if isinstance(event, EpochEnd) and event.epoch == 1:
            token.cancel()

    stopped = YOLO("yolov8n-cls.yaml").train(
        progress=cancel_after_the_first_epoch, cancel=token,
        **quick(data=str(digits), project=str(tmp_path), epochs=3))
    assert stopped.status == "cancelled" and stopped.epochs_completed == 1
    best = stopped.save_dir / "weights" / "best.pt"
    first_epoch = checkpoint(best)

    model, events = YOLO(stopped.last), Recorder()
    resumed = model.train(resume=True, plots=True, progress=events)

    assert [e.is_best for e in events.of(EpochEnd)] == [False, False]  # the case at hand
    assert resumed.status == "completed" and resumed.best == best
    kept = checkpoint(best)
    assert kept["epoch"] == 0
    assert all(torch.equal(kept["state_dict"][k], v) for k, v in first_epoch["state_dict"].items())
    assert model.checkpoint_path == best  # the facade holds best.pt, not last.pt
    # the run's result is best.pt (epoch 1) validated again, not the last epoch's figures
    row = next(csv.DictReader((resumed.save_dir / "results.csv").open()))
    assert resumed.final_metrics["metrics/accuracy_top1"] == pytest.approx(
        float(row["metrics/accuracy_top1"]))
    assert resumed.top1 == resumed.final_metrics["metrics/accuracy_top1"]
    assert_finished(resumed.save_dir, epochs=3)


def test_a_kill_between_the_last_and_best_saves_is_repaired_by_resume(digits, tmp_path):
    # val=False: each epoch's fitness is its loss, except the final epoch, which is validated
    # and so always the best: the final epoch's best.pt save is sure to come after last.pt's
    killed = yolo(tmp_path, *train_args(digits, tmp_path, epochs=2, val=False),
                  kill="after:last.pt:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    weights = tmp_path / "train" / "weights"
    last = checkpoint(weights / "last.pt")
    assert last["epoch"] == 1 and last["train_state"]["best_epoch"] == 1
    assert checkpoint(weights / "best.pt")["epoch"] == 0  # one epoch behind

    resumed = yolo(tmp_path, *resume_args(weights / "last.pt"))

    assert resumed.returncode == 0, resumed.stderr
    assert "best.pt: holds epoch 1 but last.pt records epoch 2 as the best" in resumed.stderr
    assert resumed.stdout.rstrip().endswith(f"weights: {weights / 'best.pt'}")
    best = checkpoint(weights / "best.pt")
    assert best["epoch"] == 1 and "train_state" not in best
    assert all(torch.equal(best["state_dict"][k], v) for k, v in last["state_dict"].items())
    assert_finished(tmp_path / "train", epochs=2)


def test_a_kill_before_the_first_best_save_is_repaired_by_resume(digits, tmp_path):
    killed = yolo(tmp_path, *train_args(digits, tmp_path, epochs=3), kill="before:best.pt:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    weights = tmp_path / "train" / "weights"
    assert not (weights / "best.pt").exists() and checkpoint(weights / "last.pt")["epoch"] == 0
    first = checkpoint(weights / "last.pt")["state_dict"]
    # the resumed run is killed too, before its own first save: best.pt is the repaired one
    again = yolo(tmp_path, *resume_args(weights / "last.pt"), kill="before:last.pt:1")
    assert again.returncode == -signal.SIGKILL
    assert "best.pt: does not exist but last.pt records epoch 1 as the best" in again.stderr
    best = checkpoint(weights / "best.pt")
    assert best["epoch"] == 0 and all(torch.equal(best["state_dict"][k], v)
                                      for k, v in first.items())


def test_a_kill_after_the_final_save_is_finished_by_resume(digits, tmp_path):
    # the 3rd write of last.pt is the end of the run dropping its training state
    killed = yolo(tmp_path, *train_args(digits, tmp_path, epochs=2), kill="before:last.pt:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = tmp_path / "train"
    assert "train_state" in checkpoint(run / "weights" / "last.pt")
    assert not (run / "confusion_matrix.png").exists()
    best_epoch = checkpoint(run / "weights" / "best.pt")["epoch"]

    resumed = yolo(tmp_path, *resume_args(run / "weights" / "last.pt"))

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.rstrip().endswith(f"weights: {run / 'weights' / 'best.pt'}")
    assert "Top1 acc" in resumed.stdout  # best.pt's validation table
    assert checkpoint(run / "weights" / "best.pt")["epoch"] == best_epoch
    assert_finished(run, epochs=2)


# --- temp files of killed saves ------------------------------------------------------------


@pytest.mark.parametrize("kill", ["open:last.pt:2", "before:last.pt:2"])
def test_resume_removes_the_temp_files_of_killed_saves(digits, tmp_path, kill):
    killed = yolo(tmp_path, *train_args(digits, tmp_path, epochs=2, plots=False), kill=kill)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = tmp_path / "train"
    weights = run / "weights"
    (left,) = weights.glob(".last.pt.*.tmp")
    size = left.stat().st_size
    assert (size == 0) if kill.startswith("open") else size > 1_000_000
    # a write in progress elsewhere (a live pid) and files not of our pattern stay
    live = weights / f".best.pt.{os.getpid()}.abcd1234.tmp"
    live.write_bytes(b"being written")
    (weights / "notes.tmp").write_bytes(b"the user's")
    old = run / ".results.csv.q1w2e3r4.tmp"  # an earlier version's name (no pid), old
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 3600,) * 2)

    resumed = yolo(tmp_path, *resume_args(weights / "last.pt"))

    assert resumed.returncode == 0, resumed.stderr
    assert f"WARNING {weights}: removed 1 temp file(s) of interrupted saves " \
           f"({size / 1e6:.1f} MB): {left.name}" in resumed.stderr
    assert f"WARNING {run}: removed 1 temp file(s)" in resumed.stderr
    assert not left.exists() and not old.exists()
    assert live.exists() and (weights / "notes.tmp").exists()
    assert sorted(p.name for p in weights.glob(".*")) == [live.name]


def test_a_new_run_in_a_used_folder_removes_them_too(digits, tmp_path):
    weights = tmp_path / "runs" / "train" / "weights"
    weights.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = weights / f".last.pt.{dead}.abcdefgh.tmp"
    stale.write_bytes(b"\0" * 1000)
    events = Recorder()
    YOLO("yolov8n-cls.yaml").train(progress=events, name="train", exist_ok=True,
                                   **quick(data=str(digits), project=str(tmp_path / "runs"),
                                           epochs=1))
    assert not stale.exists()
    assert [w.path for w in events.of(Warning) if "temp file" in w.message] == [str(weights)]


# --- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_at_a_checkpoint_save_is_one_message_and_the_run_resumes(
        digits, tmp_path, monkeypatch, capsys):
    weights = tmp_path / "train" / "weights"
    FillingDisk(monkeypatch, weights, pattern="last.pt", nth=2, budget=100_000)
    status = main(train_args(digits, tmp_path, epochs=3, plots=False))
    out, err = capsys.readouterr()
    assert status == 1
    message = [line for line in err.splitlines() if line.startswith("yolo: error:")]
    assert message == [
        f"yolo: error: {weights}: the disk is full: last.pt could not be written. The run "
        "keeps last.pt (epoch 1) and best.pt (epoch 1), intact. Free some space, then resume "
        f"with: yolo classify train resume=True model={weights / 'last.pt'}"]
    assert "Traceback" not in err
    last = checkpoint(weights / "last.pt")
    assert last["epoch"] == 0 and "train_state" in last
    assert sorted(p.name for p in weights.iterdir()) == ["best.pt", "last.pt"]  # no temp file

    monkeypatch.undo()  # space freed
    resumed = YOLO(weights / "last.pt").train(resume=True, plots=True, progress=Recorder())
    assert resumed.status == "completed" and resumed.best == weights / "best.pt"
    assert_finished(tmp_path / "train", epochs=3)


def test_a_full_disk_before_any_checkpoint_says_nothing_was_saved(digits, tmp_path, monkeypatch):
    FillingDisk(monkeypatch, tmp_path / "train", pattern="train_batch0.jpg")
    with pytest.raises(OSError) as caught:  # an OSError still, for code that catches those
        YOLO("yolov8n-cls.yaml").train(progress=Recorder(), **quick(
            data=str(digits), project=str(tmp_path), epochs=1, plots=True))
    assert str(caught.value) == (
        f"{tmp_path / 'train'}: the disk is full: train_batch0.jpg could not be written; no "
        "checkpoint was saved yet. Free some space and start the run again")


def test_a_full_disk_when_the_finished_run_draws_its_plots(digits, tmp_path, monkeypatch):
    # The disk fills up in this process only; the plot worker (a child) would not see it. A
    # figure the worker fails is drawn again here (tests/engine/test_plot_worker.py), so the
    # run draws here from the start.
    monkeypatch.setattr("engine.train.epoch_hooks.PlotWorker.start", lambda: None)
    FillingDisk(monkeypatch, tmp_path / "train", pattern="confusion_matrix.png")
    with pytest.raises(OSError, match="Training finished: last.pt and best.pt are saved"):
        YOLO("yolov8n-cls.yaml").train(progress=Recorder(), **quick(
            data=str(digits), project=str(tmp_path), epochs=1, plots=True))
    assert "train_state" not in checkpoint(tmp_path / "train" / "weights" / "last.pt")


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("yolo: error:")]


def test_a_full_disk_in_predict_save_says_what_was_saved(trained, digits, tmp_path,
                                                         monkeypatch, capsys):
    folder = tmp_path / "predict"
    FillingDisk(monkeypatch, folder, nth=3)  # room for two annotated images
    status = main(["classify", "predict", f"model={trained}", f"source={digits}/val/0/*.png",
                   "save=True", f"project={tmp_path}"])
    assert status == 1
    third = sorted((digits / "val" / "0").glob("*.png"))[2]
    (message,) = error_lines(capsys.readouterr().err)
    assert message == (
        f"yolo: error: {folder}: the disk is full: {third.name} could not be saved. The "
        "results of 2 image(s) before it are saved here, complete; those of image 3 "
        f"({third}) and after are not. Free some space and predict again")
    assert sorted(p.name for p in folder.iterdir()) == [
        p.name for p in sorted((digits / "val" / "0").glob("*.png"))[:2]]


def test_a_full_disk_in_the_val_plots_keeps_the_figures(trained, digits, tmp_path,
                                                        monkeypatch, capsys):
    folder = tmp_path / "val"
    FillingDisk(monkeypatch, folder, pattern="*.png")
    assert main(["classify", "val", f"model={trained}", f"data={digits}",
                 f"project={tmp_path}"]) == 1
    (message,) = error_lines(capsys.readouterr().err)
    top1 = YOLO(trained).val(data=str(digits), plots=False, progress=Recorder()).top1
    assert message.startswith(
        f"yolo: error: {folder}: the disk is full: confusion_matrix.png could not be saved. "
        f"The validation itself finished (accuracy_top1 {top1:.4g}, accuracy_top5 ")
    assert message.endswith("the plots and files in this folder are incomplete. Free some "
                            "space and validate again")
    assert not [p for p in folder.iterdir() if p.suffix == ".tmp"]


# --- epochs=0 ------------------------------------------------------------------------------


def test_epochs_0_is_refused_naming_the_key(digits, tmp_path, capsys):
    with pytest.raises(SettingsError) as caught:
        YOLO("yolov8n-cls.yaml").train(**quick(data=str(digits), project=str(tmp_path),
                                               epochs=0))
    assert caught.value.key == "epochs"
    assert main(train_args(digits, tmp_path, epochs=0)) == 1
    assert "key 'epochs'" in capsys.readouterr().err
    assert not (tmp_path / "train").exists()
