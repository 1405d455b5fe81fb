"""Classification training end to end on real (small) data: folders, events, resume, cancel."""

from __future__ import annotations

import csv
import shutil
import threading

import pytest
import torch
import yaml

from engine import YOLO
from engine.cancel import CancelToken
from engine.errors import CheckpointError, DatasetError, SettingsError
from engine.events import CheckpointSaved, EpochEnd, RunFinished, RunStarted, StepEnd, Warning
from engine.train.classify import ClassifyTask

from .conftest import quick


class Recorder(list):
    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]


def train(digits, tmp_path, progress=None, model="yolov8n-cls.yaml", **overrides):
    yolo = YOLO(model)
    settings = quick(data=str(digits), project=str(tmp_path / "runs"), **overrides)
    return yolo, yolo.train(progress=Recorder() if progress is None else progress, **settings)


def test_a_run_leaves_weights_results_and_args(digits, tmp_path):
    events = Recorder()
    model, result = train(digits, tmp_path, events, plots=True)
    run = tmp_path / "runs" / "train"
    assert result.status == "completed" and result.save_dir == run
    for name in ("weights/last.pt", "weights/best.pt", "results.csv", "args.yaml",
                 "results.png", "confusion_matrix.png", "confusion_matrix_normalized.png",
                 "confusion_matrix.csv", "train_batch0.jpg", "train_batch2.jpg"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train/loss", "metrics/accuracy_top1", "metrics/accuracy_top5", "val/loss",
            "lr/pg0", "lr/pg1", "lr/pg2"} <= set(rows[0])
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert args["data"] == str(digits) and args["imgsz"] == 32 and args["epochs"] == 2
    # events: started, steps, two epochs, checkpoints, finished — in that order
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert [e.epoch for e in events.of(EpochEnd)] == [1, 2]
    assert events.of(StepEnd)[-1].images_per_s > 0
    assert any(e.is_best for e in events.of(CheckpointSaved))
    # the facade now holds best.pt and remembers its data
    assert model.checkpoint_path == run / "weights" / "best.pt"
    assert model.names == {i: str(i) for i in range(10)}


def test_runs_number_themselves_and_name_exist_ok_choose_the_folder(digits, tmp_path):
    _, first = train(digits, tmp_path, epochs=1)
    _, second = train(digits, tmp_path, epochs=1)
    _, named = train(digits, tmp_path, epochs=1, name="mine")
    _, reused = train(digits, tmp_path, epochs=1, name="mine", exist_ok=True)
    assert [p.name for p in (first.save_dir, second.save_dir, named.save_dir)] == [
        "train", "train2", "mine"]
    assert reused.save_dir == named.save_dir


def test_same_seed_same_weights_whatever_the_threads_and_cache(digits, tmp_path,
                                                              one_torch_thread):
    # loader threads and caches vary here; torch's thread count is held
    _, a = train(digits, tmp_path / "a", epochs=1)
    _, b = train(digits, tmp_path / "b", epochs=1, workers=0, cache="ram")
    wa = torch.load(a.last, weights_only=True)["state_dict"]
    wb = torch.load(b.last, weights_only=True)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_val_without_arguments_uses_the_stored_data(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, result = train(digits, tmp_path, epochs=1)
    metrics = model.val(progress=Recorder())
    assert metrics.seen == 40 and 0.0 <= metrics.top1 <= metrics.top5 <= 1.0
    assert metrics.top1 == pytest.approx(result.metrics["metrics/accuracy_top1"])
    assert (metrics.save_dir / "confusion_matrix.png").is_file()
    assert metrics.save_dir.resolve().parent == tmp_path / "runs" / "classify"


def test_cancel_returns_quickly_and_leaves_a_resumable_run(digits, tmp_path):
    token, events = CancelToken(), Recorder()

    def progress(event):
        events(event)
        if isinstance(event, EpochEnd) and event.epoch == 1:
            token.cancel()

    yolo = YOLO("yolov8n-cls.yaml")
    result = yolo.train(progress=progress, cancel=token,
                        **quick(data=str(digits), project=str(tmp_path / "r"), epochs=3))
    assert result.status == "cancelled" and result.epochs_completed == 1
    assert events.of(RunFinished)[-1].status == "cancelled"
    assert not [t for t in threading.enumerate() if t.name.startswith("yolo-data")]
    state = torch.load(result.last, weights_only=True)
    assert state["epoch"] == 0 and "train_state" in state


@pytest.fixture
def one_torch_thread(monkeypatch):
    """One torch thread in every run of the test: without OMP_NUM_THREADS a run follows the
    machine's load (engine/process/threads.py), and another count sums in another order."""
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_resume_continues_exactly(digits, tmp_path, one_torch_thread):
    _, straight = train(digits, tmp_path / "straight", epochs=3)
    token = CancelToken()

    def stop_after_two(event):
        if isinstance(event, EpochEnd) and event.epoch == 2:
            token.cancel()

    stopped = YOLO("yolov8n-cls.yaml").train(
        progress=stop_after_two, cancel=token,
        **quick(data=str(digits), project=str(tmp_path / "split"), epochs=3))
    assert stopped.status == "cancelled"
    resumed = YOLO(stopped.last).train(resume=True, progress=Recorder())
    assert resumed.status == "completed" and resumed.save_dir == stopped.save_dir
    a = torch.load(straight.last, weights_only=True)
    b = torch.load(resumed.last, weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    rows = list(csv.DictReader((resumed.save_dir / "results.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    # a finished run has nothing left to resume
    with pytest.raises(CheckpointError, match="nothing to resume"):
        YOLO(resumed.last).train(resume=True)


def test_a_nan_loss_is_skipped_and_never_saved(digits, tmp_path, monkeypatch):
    original = ClassifyTask.loss
    calls = {"n": 0}

    def sometimes_nan(self, model, preds, batch):
        loss, items = original(self, model, preds, batch)
        calls["n"] += 1
        if calls["n"] == 3:
            loss = loss * float("nan")
        return loss, items

    monkeypatch.setattr(ClassifyTask, "loss", sometimes_nan)
    events = Recorder()
    _, result = train(digits, tmp_path, events, epochs=1)
    assert result.status == "completed"
    assert any("step 3: the loss is nan" in w.message for w in events.of(Warning))
    weights = torch.load(result.last, weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_a_loss_that_stays_nan_stops_the_run_without_a_checkpoint(digits, tmp_path,
                                                                   monkeypatch):
    def always_nan(self, model, preds, batch):
        loss = preds.sum() * float("nan")
        return loss, loss.detach().reshape(1)

    monkeypatch.setattr(ClassifyTask, "loss", always_nan)
    with pytest.raises(Exception, match="not finite"):
        train(digits, tmp_path, epochs=1)
    assert not (tmp_path / "runs" / "train" / "weights" / "last.pt").exists()


def test_a_corrupt_image_never_kills_the_run(digits, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(digits, data)
    bad = next((data / "train" / "3").glob("*.png"))
    bad.write_bytes(b"\x89PNG garbage")
    events = Recorder()
    _, result = train(data, tmp_path, events, epochs=1)
    assert result.status == "completed"
    assert any(w.path == str(bad) for w in events.of(Warning))
    assert bad.read_bytes() == b"\x89PNG garbage"


def test_imgsz_is_rounded_up_to_the_stride_with_a_warning(digits, tmp_path):
    events = Recorder()
    _, result = train(digits, tmp_path, events, epochs=1, imgsz=30)
    assert any("imgsz=30 is not a multiple" in w.message and "using 32" in w.message
               for w in events.of(Warning))
    assert yaml.safe_load((result.save_dir / "args.yaml").read_text())["imgsz"] == 32


def test_freeze_keeps_early_layers_fixed(digits, tmp_path):
    yolo = YOLO("yolov8n-cls.yaml")
    _, result = train(digits, tmp_path, epochs=1, freeze=3)
    del yolo
    first = torch.load(result.last, weights_only=True)
    assert first["train_args"]["freeze"] == 3


def test_bad_input_gets_clear_errors(digits, tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        train(tmp_path / "missing", tmp_path)
    with pytest.raises(SettingsError, match="epocs"):
        YOLO("yolov8n-cls.yaml").train(data=str(digits), epocs=3)
    with pytest.raises(SettingsError, match="CUDA"):
        train(digits, tmp_path, device=0)
    seg = YOLO("yolov8n-seg.yaml")  # a classify folder is no segment dataset
    with pytest.raises(DatasetError, match="is a folder with no .yaml file"):
        seg.train(data=str(digits), epochs=1)
    pose = YOLO("yolov8n-pose.yaml")
    with pytest.raises(DatasetError, match="is a folder with no .yaml file"):
        pose.train(data=str(digits), epochs=1)


def test_training_from_an_official_checkpoint_and_with_pretrained(digits, tmp_path):
    from tests.conftest import OFFICIAL

    official = OFFICIAL / "yolov8n-cls-digits.pt"
    start = YOLO(official, progress=Recorder())
    before = start.val(data=str(digits), project=str(tmp_path / "v"), progress=Recorder()).top1
    assert before > 0.8  # the reference's digits model already knows the digits
    _, tuned = train(digits, tmp_path / "a", model=official, epochs=1)
    assert tuned.metrics["metrics/accuracy_top1"] > 0.5
    events = Recorder()
    _, transferred = train(digits, tmp_path / "b", events, epochs=1, pretrained=str(official))
    assert any("transferred" in w.message for w in events.of(Warning))
    assert transferred.metrics["metrics/accuracy_top1"] > 0.5


def test_a_dataset_with_other_classes_resizes_the_classifier(tmp_path):
    from engine.data.samples import make_digits_folder

    data = make_digits_folder(tmp_path / "d", limit=160)
    for split in ("train", "val"):
        for digit in "3456789":
            shutil.rmtree(data / split / digit)
    model, result = train(data, tmp_path, epochs=1)
    assert model.names == {0: "0", 1: "1", 2: "2"}
    assert model.model.head.linear.out_features == 3
