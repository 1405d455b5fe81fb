"""The plot worker (engine/plot_worker.py): figures drawn in a child process that loaded
matplotlib while the run trained, the same pixels as drawn in-process, and every figure it
could not draw drawn in-process instead."""

from __future__ import annotations

import os
import signal

import cv2
import numpy as np
import pytest

from engine.errors import EngineError
from engine.plot_worker import FigureJobs, PlotWorker
from engine.plots import plot_confusion_matrix, plot_pr_curve, plot_results

RESULTS = "epoch,train/loss,metrics/accuracy_top1,val/loss\n" + "".join(
    f"{e},{2.0 / e:.4f},{0.1 * e:.3f},{1.5 / e:.4f}\n" for e in range(1, 8))


@pytest.fixture
def worker():
    started = PlotWorker.start()
    assert started is not None
    yield started
    started.close()


def _figures(folder):
    """Draw results.png, a confusion matrix and a PR curve (numpy arguments) into ``folder``."""
    folder.mkdir(exist_ok=True)
    (folder / "results.csv").write_text(RESULTS)
    plot_results(folder / "results.csv")
    matrix = np.arange(16).reshape(4, 4)
    plot_confusion_matrix(matrix, list("abcd"), folder / "cm.png", normalize=False)
    recall = np.linspace(0, 1, 50)
    precision = np.stack([1 - recall ** (k + 1) for k in range(3)]).astype(np.float32)
    plot_pr_curve(recall, precision, ["x", "y", "z"], folder / "pr.png",
                  ap50=np.array([0.5, 0.6, 0.7]))


def test_the_worker_draws_the_same_pictures_as_this_process(worker, tmp_path):
    _figures(tmp_path / "here")
    jobs = FigureJobs(worker)
    with jobs.delegated():
        _figures(tmp_path / "there")
    assert not (tmp_path / "there" / "results.png").exists() or worker.alive
    jobs.finish()
    for name in ("results.png", "cm.png", "pr.png"):
        here = cv2.imread(str(tmp_path / "here" / name))
        there = cv2.imread(str(tmp_path / "there" / name))
        assert here is not None and there is not None, name
        assert np.array_equal(here, there), name
    assert worker.alive


def test_a_delegated_call_returns_the_file_it_will_write(worker, tmp_path):
    (tmp_path / "results.csv").write_text(RESULTS)
    jobs = FigureJobs(worker)
    with jobs.delegated():
        assert plot_results(tmp_path / "results.csv") == tmp_path / "results.png"
        assert plot_results(tmp_path / "results.csv", tmp_path / "r.png") == tmp_path / "r.png"
    jobs.finish()
    assert (tmp_path / "results.png").is_file() and (tmp_path / "r.png").is_file()


def test_a_figure_the_worker_fails_is_drawn_here_and_raises_as_it_would(worker, tmp_path):
    (tmp_path / "results.csv").write_text("epoch,loss\n1,0.5\n2,oops\n")
    jobs = FigureJobs(worker)
    with jobs.delegated():
        plot_results(tmp_path / "results.csv")
    with pytest.raises(EngineError, match="not a number") as raised:
        jobs.finish()
    assert "results.csv:3:" in str(raised.value)
    assert worker.alive  # one bad figure does not stop the worker


def test_figures_are_drawn_here_when_the_worker_has_died(worker, tmp_path):
    os.kill(worker._process.pid, signal.SIGKILL)
    worker._process.wait()
    jobs = FigureJobs(worker)
    with jobs.delegated():
        _figures(tmp_path / "after")
    jobs.finish()
    assert not worker.alive
    assert all((tmp_path / "after" / name).is_file() for name in ("results.png", "cm.png", "pr.png"))


def test_without_a_worker_figures_are_drawn_here(tmp_path):
    jobs = FigureJobs(None)
    with jobs.delegated():
        _figures(tmp_path / "local")
    assert not (tmp_path / "local" / "cm.png").exists()  # handed over, not drawn yet
    jobs.finish()
    assert all((tmp_path / "local" / name).is_file() for name in ("results.png", "cm.png", "pr.png"))


def test_the_worker_runs_only_the_figure_functions(worker, tmp_path):
    job = worker.send("remove", (str(tmp_path),), {})
    assert worker.wait({job}) == {job: "no figure function named 'remove'"}
    assert tmp_path.exists()


def test_yolo_train_starts_the_worker_early_only_where_it_will_draw():
    from engine.cli import wants_plot_worker

    train = ["classify", "train", "data=digits", "epochs=3"]
    assert wants_plot_worker(train, {})
    assert wants_plot_worker([*train, "device=cpu", "plots=True"], {"RANK": "0"})
    assert not wants_plot_worker([*train, "plots=False"], {})
    assert not wants_plot_worker(train, {"RANK": "1"})  # another rank of a distributed run
    # the launcher of a run on several devices: each device's process starts its own
    assert not wants_plot_worker([*train, "device=0,1"], {})
    assert not wants_plot_worker([*train, "device=[0, 1]"], {})
    assert not wants_plot_worker(train, {"YOLO_DDP_CPU_PROCESSES": "2"})
