"""Each of the run's policies alone: results.csv, checkpoints, early stopping, the time limit
and the plots, called as the loop calls them, without a training run."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from engine.checkpoints import load_model
from engine.events import CheckpointSaved
from engine.nn.zoo import build_model
from engine.train.auto_optimizer import OptimizerChoice
from engine.train.classify import ClassifyTask
from engine.train.epoch_hooks import (
    Checkpoints,
    EarlyStopping,
    EpochOutcome,
    Plots,
    ResultsCsv,
    TimeLimit,
)
from engine.train.loop_progress import LoopProgress
from engine.train.setup import build_setup
from engine.train.steps import TrainingDiverged


def outcomes(fitnesses, rows=None):
    """The outcomes a loop would pass for epochs with these fitnesses."""
    progress, out = LoopProgress(), []
    for epoch, fitness in enumerate(fitnesses):
        metrics = (rows or {}).get(epoch, {"epoch": epoch + 1, "train/loss": 1.0 / (epoch + 1)})
        progress, is_best = progress.after_epoch(epoch, metrics, fitness)
        out.append(EpochOutcome(epoch, metrics, is_best, progress))
    return out


class Warnings(list):
    def __call__(self, message, path=None):
        self.append(message)


def tiny_setup(epochs=3):
    model = build_model("yolov8n-cls.yaml", num_classes=3)
    model.names = {0: "a", 1: "b", 2: "c"}
    return build_setup(
        model, OptimizerChoice("SGD", 0.01, 0.9, False), device=torch.device("cpu"),
        amp=False, imgsz=32, batch=16, memory_format=torch.contiguous_format, epochs=epochs,
        steps_per_epoch=4, nbs=64, weight_decay=0.0005, lrf=0.01, cos_lr=False,
        warmup_epochs=1.0, warmup_bias_lr=0.1, warmup_momentum=0.8,
    )


# --- results.csv ---------------------------------------------------------------------------


def test_results_csv_holds_every_row_so_far_with_columns_in_first_seen_order(tmp_path):
    rows = {0: {"epoch": 1, "train/loss": 0.5}, 1: {"epoch": 2, "train/loss": 0.25, "val/x": 3}}
    hook = ResultsCsv(tmp_path / "results.csv")
    first, second = outcomes([0.1, 0.2], rows)
    assert hook.after_epoch(first) is False
    assert (tmp_path / "results.csv").read_text() == "epoch,train/loss\n1,0.5\n"
    hook.after_epoch(second)
    assert list(csv.reader((tmp_path / "results.csv").open())) == [
        ["epoch", "train/loss", "val/x"], ["1", "0.5", ""], ["2", "0.25", "3"]]


# --- checkpoints ---------------------------------------------------------------------------


def test_checkpoints_save_last_every_epoch_best_when_best_and_the_period(tmp_path):
    setup, events, saved = tiny_setup(), [], {}
    hook = Checkpoints(tmp_path, setup, {"epochs": 3}, progress=LoopProgress(), saved=saved,
                       save_period=2, report=events.append)
    first, second = outcomes([0.5, 0.4])  # the second epoch is worse
    hook.after_epoch(first)
    assert events == []  # written while the next epoch trains; reported once on disk
    hook.after_epoch(second)
    assert [(e.path, e.epoch, e.is_best) for e in events] == [
        (str(tmp_path / "last.pt"), 1, False), (str(tmp_path / "best.pt"), 1, True)]
    hook.close()  # the run's end: every file handed over is on disk
    assert [(e.path, e.epoch, e.is_best) for e in events if isinstance(e, CheckpointSaved)] == [
        (str(tmp_path / "last.pt"), 1, False), (str(tmp_path / "best.pt"), 1, True),
        (str(tmp_path / "last.pt"), 2, False)]
    assert saved == {"last.pt": 1, "best.pt": 0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "epoch2.pt", "last.pt"]
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    state = last["train_state"]
    assert last["epoch"] == 1 and last["best_fitness"] == 0.5 and last["imgsz"] == 32
    assert state["best_epoch"] == 0 and state["epochs"] == 3 and len(state["history"]) == 2
    assert {"model", "optimizer", "ema", "scaler", "rng"} <= set(state)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == 0 and "train_state" not in best
    assert LoopProgress.from_checkpoint(last) == second.progress


def test_a_finished_run_strips_last_pt_which_still_loads(tmp_path):
    setup, saved = tiny_setup(), {}
    hook = Checkpoints(tmp_path, setup, {}, progress=LoopProgress(), saved=saved,
                       report=lambda _e: None)
    (outcome,) = outcomes([0.5])
    hook.after_epoch(outcome)
    hook.after_train(outcome.progress)  # written while best.pt is validated and plotted
    hook.after_final(None)
    assert saved["last.pt"] is None
    assert "train_state" not in torch.load(tmp_path / "last.pt", weights_only=True)
    model, _ = load_model(tmp_path / "last.pt")
    assert model.names == {0: "a", 1: "b", 2: "c"}


def test_a_resumed_run_keeps_its_files_as_saved(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"x")
    (tmp_path / "best.pt").write_bytes(b"x")
    saved = {}
    progress = LoopProgress(epoch=4, best_fitness=0.9, best_epoch=2)
    Checkpoints(tmp_path, tiny_setup(), {}, progress=progress, saved=saved,
                report=lambda _e: None)
    assert saved == {"last.pt": 4, "best.pt": 2}


def test_weights_that_became_nan_are_never_saved(tmp_path):
    setup = tiny_setup()
    with torch.no_grad():
        next(setup.ema.ema.parameters()).fill_(math.nan)
    hook = Checkpoints(tmp_path, setup, {}, progress=LoopProgress(), saved={},
                       report=lambda _e: None)
    with pytest.raises(TrainingDiverged, match="weights became NaN/inf in epoch 1"):
        hook.after_epoch(outcomes([0.5])[0])
    assert not list(tmp_path.iterdir())


# --- early stopping and the time limit -----------------------------------------------------


def test_early_stopping_after_patience_epochs_without_a_better_fitness():
    warnings = Warnings()
    hook = EarlyStopping(2, warnings)
    stops = [hook.after_epoch(o) for o in outcomes([0.5, 0.4, 0.6, 0.5, 0.3])]
    assert stops == [False, False, False, False, True]
    assert warnings == ["no improvement for 2 epochs (best: epoch 3); stopping early. Raise "
                        "patience= to train longer"]
    assert hook.before_train(LoopProgress()) is False  # a new run trains


def test_a_run_killed_after_it_stopped_early_has_nothing_left_to_train():
    hook = EarlyStopping(2, Warnings())
    assert hook.before_train(LoopProgress(epoch=4, best_fitness=0.6, best_epoch=2)) is True
    assert hook.before_train(LoopProgress(epoch=3, best_fitness=0.6, best_epoch=2)) is False


def test_the_time_limit_stops_after_the_epoch_that_ends_past_it():
    now = [100.0]
    warnings = Warnings()
    hook = TimeLimit(0.5, warnings, clock=lambda: now[0])
    first, second = outcomes([0.1, 0.2])
    assert hook.before_train(LoopProgress()) is False
    now[0] += 1800  # exactly at the limit: one more epoch
    assert hook.after_epoch(first) is False
    now[0] += 1
    assert hook.after_epoch(second) is True
    assert warnings == ["time=0.5 hours reached; stopping"]


# --- plots ---------------------------------------------------------------------------------


def test_plots_draw_three_batches_of_the_first_epoch_then_results_png(tmp_path):
    names = {0: "a", 1: "b"}
    hook = Plots(ClassifyTask(), tmp_path, names, first_epoch=3, warn=Warnings())
    batch = {"img": torch.rand(4, 3, 32, 32), "cls": torch.tensor([0, 1, 0, 1])}
    for epoch in (3, 4):
        for step in range(5):
            hook.before_step(epoch, step, batch)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "train_batch0.jpg", "train_batch1.jpg", "train_batch2.jpg"]
    ResultsCsv(tmp_path / "results.csv").after_epoch(outcomes([0.1])[0])
    hook.after_final(None)  # no final validation: results.png alone
    assert (tmp_path / "results.png").is_file()
    assert not (tmp_path / "confusion_matrix.png").exists()


def test_an_unreadable_results_csv_is_a_warning_not_a_failure(tmp_path):
    (tmp_path / "results.csv").write_text("epoch,x\n1,not a number\n")
    warnings = Warnings()
    Plots(ClassifyTask(), tmp_path, {}, first_epoch=0, warn=warnings).after_final(None)
    assert len(warnings) == 1 and warnings[0].startswith("results.png was not drawn: ")


def test_a_checkpoint_write_that_fails_is_raised_at_the_next_epoch_end(tmp_path):
    # Written in the background: the error surfaces on the run's thread, one epoch later at
    # the latest, and nothing unwritten is recorded as saved.
    blocker = tmp_path / "weights"
    blocker.write_text("a file where the weights folder should be")
    setup, saved, events = tiny_setup(), {}, []
    hook = Checkpoints(blocker, setup, {}, progress=LoopProgress(), saved=saved,
                       report=events.append)
    first, second = outcomes([0.5, 0.6])
    hook.after_epoch(first)
    with pytest.raises(OSError):
        hook.after_epoch(second)
    hook.close()
    assert saved == {} and events == []
