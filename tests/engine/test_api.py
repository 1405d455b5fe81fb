"""The facade's two kinds of model: ``YOLO(source)`` opens a TrainableModel (a yaml or a .pt)
or an ExportedModel (an export); both predict and validate, and an export says, naming its
file, what only the .pt can do."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from engine import YOLO
from engine.api import ExportedModel, TrainableModel
from engine.errors import ModelConfigError
from engine.events import Warning, ignore
from engine.export.run import default_imgsz_multiple
from engine.nn import build_model
from engine.tasks import all_tasks, get_task

TASKS = [pytest.param(task, id=task.name) for task in all_tasks()]
DIGITS = {i: str(i) for i in range(10)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A digits classifier's checkpoint and its ONNX export (unchecked: made to be opened)."""
    folder = tmp_path_factory.mktemp("api")
    model = YOLO("yolov8n-cls.yaml", num_classes=10, progress=ignore)
    model.model.names = DIGITS
    checkpoint = model.save(folder / "m.pt")
    from engine.export import export_model

    result = export_model(YOLO(checkpoint, progress=ignore).model, "onnx", output=checkpoint,
                          imgsz=32, verify=False)
    return checkpoint, result


def test_yolo_opens_the_kind_its_source_holds(files):
    checkpoint, result = files
    built = YOLO("yolov8n-cls.yaml", num_classes=3, progress=ignore)
    loaded = YOLO(checkpoint, progress=ignore)
    exported, from_result = YOLO(result.path, progress=ignore), YOLO(result, progress=ignore)
    assert [type(m) for m in (built, loaded, exported, from_result)] == [
        TrainableModel, TrainableModel, ExportedModel, ExportedModel]
    assert all(isinstance(m, YOLO) for m in (built, loaded, exported, from_result))
    assert (built.checkpoint_path, loaded.checkpoint_path) == (None, checkpoint)
    assert exported.checkpoint_path == result.path and exported.exported is not None
    assert (loaded.task, loaded.names) == (exported.task, exported.names) == ("classify", DIGITS)
    # what the studio and scripts test: a trainable model holds a torch model, an export none
    assert loaded.model is not None and loaded.exported is None and exported.model is None
    assert exported.checkpoint_meta == {"train_args": {"imgsz": 32}}
    params = loaded.model.num_parameters()
    assert repr(loaded) == f"YOLO(task='classify', classes=10, params={params:,})"
    assert repr(exported) == "YOLO(task='classify', classes=10, export='m.onnx')"


def test_a_source_of_neither_kind_says_what_is_expected(tmp_path):
    with pytest.raises(ModelConfigError, match=r"notes\.txt: expected a model yaml .*, a "
                       r"checkpoint \(\.pt\) or an export"):
        YOLO(tmp_path / "notes.txt")


def test_a_kind_named_directly_refuses_the_other_kinds_file(files):
    checkpoint, result = files
    with pytest.raises(ModelConfigError, match=r"m\.onnx: is not a model yaml or a \.pt"):
        TrainableModel(result.path, progress=ignore)
    with pytest.raises(ModelConfigError, match=r"m\.pt: is not an export"):
        ExportedModel(checkpoint, progress=ignore)
    assert type(TrainableModel(checkpoint, progress=ignore)) is TrainableModel


def test_a_wrong_task_is_refused_for_both_kinds(files):
    for source in files:
        with pytest.raises(ModelConfigError, match="is a classify model, but task=segment"):
            YOLO(source, task="segment", progress=ignore)


def _only_trainable() -> list[str]:
    """The public methods a TrainableModel adds to what every YOLO offers."""
    shared = {name for name in dir(YOLO) if not name.startswith("_")}
    return sorted(name for name, member in vars(TrainableModel).items()
                  if callable(member) and not name.startswith("_") and name not in shared
                  and not isinstance(member, classmethod))


def _call(model, name: str, folder):
    arguments = {"train": {"data": "digits"}, "export": {"format": "onnx"},
                 "load": {"weights": folder / "m.pt"}, "save": {"path": folder / "copy.pt"},
                 "forward": {"images": torch.zeros(1, 3, 32, 32)}}
    return getattr(model, name)(**arguments.get(name, {}))


def test_an_export_refuses_what_only_the_pt_can_do_naming_its_file(files, tmp_path):
    """Each method a TrainableModel adds (a new one too) raises ModelConfigError on an export,
    with the file and what to do (forward() raised AttributeError on None)."""
    _checkpoint, result = files
    exported = YOLO(result, progress=ignore)
    refused = _only_trainable()
    assert {"train", "export", "info", "fuse", "load", "save", "forward"} <= set(refused)
    for name in refused:
        with pytest.raises(ModelConfigError) as caught:
            _call(exported, name, tmp_path)
        message = str(caught.value)
        assert message.startswith(f"{result.path}: is an exported model: it can predict and "
                                  "val, but not "), name
        assert message.endswith("Use the .pt checkpoint it was exported from"), name
    assert not (tmp_path / "copy.pt").exists()


def test_both_kinds_predict_and_validate_alike(files, tmp_path):
    checkpoint, result = files
    data = get_task("classify").sample_data(tmp_path)
    image = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    answers = []
    for model in (YOLO(checkpoint, progress=ignore), YOLO(result, progress=ignore)):
        (prediction,) = model.predict(image, imgsz=32)
        metrics = model.val(data=str(data), imgsz=32, batch=8, workers=1, plots=False,
                            project=str(tmp_path))
        answers.append((prediction.probs.top1, metrics.top1))
    assert answers[0][0] == answers[1][0]
    assert answers[0][1] == pytest.approx(answers[1][1], abs=0.02)


@pytest.mark.parametrize("task", TASKS)
def test_a_tasks_image_size_rule_fits_its_model(task):
    """Task.any_imgsz (what the facade hands export's check_imgsz) agrees with the model's head:
    a classifier takes any size, the detection family multiples of its largest stride."""
    with torch.device("meta"):
        model = build_model(task.model_name("n"), num_classes=2)
    stride = max(int(s) for s in model.strides)
    assert default_imgsz_multiple(model) == (1 if task.any_imgsz else stride)


@pytest.mark.parametrize(("config", "asked", "exported"),
                         [("yolov8n-cls.yaml", 50, (50, 50)), ("yolov8n-seg.yaml", 50, (64, 64))])
def test_the_facade_exports_at_the_size_its_task_allows(config, asked, exported, tmp_path):
    checkpoint = YOLO(config, num_classes=2, progress=ignore).save(tmp_path / "m.pt")
    events = []
    result = YOLO(checkpoint, progress=ignore).export(format="torchscript", imgsz=asked,
                                                      progress=events.append)
    assert result.imgsz == exported and result.path.parent == tmp_path
    warned = [e.message for e in events if isinstance(e, Warning)]
    assert warned == ([] if exported == (asked, asked) else [
        f"imgsz={asked} is not a multiple of the model's largest stride 32; exporting at "
        f"{exported[0]}x{exported[1]} instead"])


def test_the_export_refusals_take_the_trainable_signatures():
    """A call written for a .pt (positional and keyword arguments) reaches the refusal, not a
    TypeError."""
    for name in _only_trainable():
        trainable = inspect.signature(getattr(TrainableModel, name))
        exported = inspect.signature(getattr(ExportedModel, name))
        for parameter in trainable.parameters.values():
            if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                continue
            accepts = parameter.name in exported.parameters or any(
                p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                for p in exported.parameters.values())
            assert accepts, f"ExportedModel.{name} does not take {parameter.name}"


def test_predict_after_load_or_train_uses_the_new_weights(files, tmp_path):
    """The PyTorch backend predict caches holds a copy of the model: weights loaded or trained
    afterwards must reach it (it predicted with the old weights)."""
    checkpoint, _ = files
    image = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)

    def probabilities(model):
        (result,) = model.predict(image, imgsz=32)
        return result.probs.data

    model = YOLO("yolov8n-cls.yaml", num_classes=10, progress=ignore)
    probabilities(model)  # caches the backend
    model.load(checkpoint)
    torch.testing.assert_close(probabilities(model),
                               probabilities(YOLO(checkpoint, progress=ignore)))
    data = get_task("classify").sample_data(tmp_path)
    result = model.train(data=str(data), epochs=1, imgsz=32, batch=16, workers=1, plots=False,
                         project=str(tmp_path), seed=0, val=False)
    trained = YOLO(result.best or result.last, progress=ignore)
    torch.testing.assert_close(probabilities(model), probabilities(trained))
