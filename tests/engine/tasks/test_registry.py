"""The task registry, tested over every registered task: a new task module is tested here
without a line added (timm's pattern). Each task builds its model, trains (its hooks' data and
validation), validates, predicts and gives export samples through the same paths as the others.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine import YOLO
from engine.cancel import NEVER
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.cli import parse_arguments
from engine.config import validate_settings
from engine.errors import ModelConfigError
from engine.events import ignore
from engine.export import dataset_samples
from engine.export.parity import head_rule
from engine.nn import build_model
from engine.tasks import all_tasks, find_task, get_task, task_for, task_names

ROOT = Path(__file__).resolve().parents[3]
TASKS = [pytest.param(task, id=task.name) for task in all_tasks()]
IMGSZ = 64


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory) -> dict[str, Path]:
    """Each task's small generated dataset, made once."""
    root = tmp_path_factory.mktemp("task_data")
    return {task.name: task.sample_data(root / task.name) for task in all_tasks()}


def test_the_registry_holds_the_tasks_the_engine_ships_in_order():
    assert task_names() == ("classify", "segment", "pose", "detect")
    assert [get_task(name).name for name in task_names()] == list(task_names())
    assert len({task.suffix for task in all_tasks()}) == len(all_tasks())


def test_an_unknown_task_names_the_known_ones():
    with pytest.raises(ModelConfigError, match=r"key 'task': unknown task 'obb'; the tasks are "
                       r"classify, segment, pose, detect$"):
        get_task("obb")
    assert find_task("obb") is None and find_task(None) is None


def test_a_model_of_a_task_without_a_module_is_refused_with_what_is_available(tmp_path):
    with pytest.raises(ModelConfigError, match=r"best\.pt: training obb models is not available "
                       r"in engine .* yet; classification, segmentation, pose and detection are"):
        task_for("obb", "training", path=tmp_path / "best.pt")
    with pytest.raises(ModelConfigError, match=r"key 'model': validating obb models"):
        task_for("obb", "validating")


def test_importing_the_tasks_imports_no_torch():
    code = "import sys, engine.tasks; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("task", TASKS)
def test_a_task_names_its_model_size_metric_and_annotation(task):
    model = build_model(task.model_name("n"), num_classes=2)
    assert model.task == task.name
    assert task.model_name("s", ".pt") == f"yolov8s{task.suffix}.pt"
    assert task.imgsz % 32 == 0 and task.imgsz >= 32
    assert task.key_metric.startswith("metrics/") and task.metric_label
    assert task.annotation_kind and task.title
    assert task.parity() is head_rule(model)  # the task's rule fits what its head outputs
    # the settings and the command line know it (config.settings.Task lists the names)
    assert parse_arguments([task.name, "val"]).task == task.name


def _task_model(task, hooks, data_names):
    """The task's packaged model with a head for the data (as training adapts it)."""
    model = hooks.adapt_model(build_model(task.model_name("n")), data_names)
    model.names = dict(data_names)  # as the trainer names them
    return model


def _settings(task, data: Path):
    return validate_settings({"data": str(data), "imgsz": IMGSZ, "batch": 4, "workers": 1,
                              "plots": False, "mode": "train", "task": task.name})


@pytest.mark.parametrize("task", TASKS)
def test_a_task_trains_on_its_data_and_its_fitness_is_its_validations(
    task, sample_data, tmp_path
):
    hooks = task.hooks(ignore)
    assert hooks.task == task.name and hooks.loss_names
    settings = _settings(task, sample_data[task.name])
    data = hooks.build_data(settings, IMGSZ, 4, warn=lambda _m, _p: None, cancel=NEVER)
    assert data.val is not None and len(data.names) >= 1
    model = _task_model(task, hooks, data.names)
    try:
        validation = hooks.validate(model, data.val, torch.device("cpu"), half=False,
                                    cancel=NEVER)
    finally:
        data.train.close()
        data.val.close()
    metrics = dict(validation.metrics)
    assert task.key_metric in task.metric_columns and set(task.metric_columns) <= set(metrics)
    assert task.fitness(metrics) == pytest.approx(validation.fitness)
    better = {**metrics, task.key_metric: metrics[task.key_metric] + 0.5}
    assert task.fitness(better) > task.fitness(metrics)  # the key metric counts


@pytest.mark.parametrize("task", TASKS)
def test_a_task_validates_predicts_and_exports_through_the_facade(
    task, sample_data, tmp_path
):
    data = sample_data[task.name]
    hooks = task.hooks(ignore)
    loaded = hooks.build_data(_settings(task, data), IMGSZ, 4, warn=lambda _m, _p: None,
                              cancel=NEVER)
    loaded.train.close()
    if loaded.val is not None:
        loaded.val.close()
    checkpoint = save_checkpoint(
        tmp_path / "best.pt", checkpoint_dict(_task_model(task, hooks, loaded.names))
    )
    model = YOLO(checkpoint, progress=ignore)
    metrics = model.val(data=str(data), imgsz=IMGSZ, batch=4, workers=1, plots=False,
                        project=str(tmp_path))
    assert task.key_metric in metrics.results_dict
    samples = dataset_samples(data, task.samples(), (IMGSZ, IMGSZ), count=2)
    assert len(samples) == 2 and all(s.shape == (3, IMGSZ, IMGSZ) for s in samples)
    image = (samples[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
    results = model.predict(image, imgsz=IMGSZ)
    assert len(results) == 1 and results[0].orig_img.shape == image.shape
    assert results[0].names == loaded.names
    exported = model.export(format="torchscript", imgsz=IMGSZ, data=str(data))
    assert exported.passed and exported.parity.inputs >= 2  # noise and the dataset's images


@pytest.mark.parametrize("task", TASKS)
def test_a_task_trains_an_epoch_through_the_facade(task, sample_data, tmp_path):
    model = YOLO(task.model_name("n"), progress=ignore)
    result = model.train(data=str(sample_data[task.name]), epochs=1, imgsz=IMGSZ, batch=4,
                         workers=1, plots=False, project=str(tmp_path), seed=0)
    assert result.status == "completed" and result.best is not None and result.best.is_file()
    assert task.key_metric in result.validation.metrics
    assert YOLO(result.best, progress=ignore).task == task.name
