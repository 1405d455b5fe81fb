"""An export run ends with exactly one RunFinished after its RunStarted, however it ends: passed,
failed its parity check, failed while writing, cancelled; a refused export starts no run."""

import pytest
import torch

from engine.cancel import CancelToken
from engine.errors import Cancelled, ExportError
from engine.events import RunFinished, RunStarted
from engine.export import export_model, get_exporter
from engine.nn import build_model


@pytest.fixture(scope="module")
def classifier():
    model = build_model("yolov8n-cls.yaml", num_classes=3)
    model.names = {0: "cat", 1: "dog", 2: "bird"}
    return model


def runs(events):
    """The run events only, as (kind, status)."""
    return [(type(e).__name__, getattr(e, "status", None)) for e in events
            if isinstance(e, RunStarted | RunFinished)]


def test_an_export_that_fails_its_parity_check_ends_failed_with_its_figures(
    classifier, tmp_path, monkeypatch
):
    exporter = get_exporter("torchscript")
    real_export = type(exporter).export

    def export_other_weights(self, model, example, target, **kwargs):
        # A real export of different weights: the parity check must find them apart.
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter))
        return real_export(self, model, example, target, **kwargs)

    monkeypatch.setattr(type(exporter), "export", export_other_weights)
    events = []
    result = export_model(classifier, "torchscript", output=tmp_path / "m.pt", imgsz=32,
                          progress=events.append)
    assert not result.passed and result.parity.status == "failed"
    assert runs(events) == [("RunStarted", None), ("RunFinished", "failed")]
    finished = events[-1]
    assert finished.message == result.parity.summary()
    assert finished.results["size_mb"] == result.size_mb
    assert finished.results["export"]["passed"] is False
    assert finished.save_dir == str(tmp_path)


def test_a_passed_export_ends_completed_with_its_figures(classifier, tmp_path):
    events = []
    result = export_model(classifier, "torchscript", output=tmp_path / "m.pt", imgsz=32,
                          progress=events.append)
    assert runs(events) == [("RunStarted", None), ("RunFinished", "completed")]
    finished = events[-1]
    assert finished.message == f"exported {result.path}" and finished.mode == "export"
    assert finished.results["export"]["format"] == "torchscript"
    assert finished.results["size_mb"] == result.size_mb and finished.seconds > 0


def test_every_ending_after_the_start_closes_the_run_once(classifier, tmp_path, monkeypatch):
    events = []
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        export_model(classifier, "torchscript", output=tmp_path / "a.pt", imgsz=32,
                     progress=events.append, cancel=token)
    with pytest.raises(ExportError, match="does not take keras=True"):  # refused: no run
        export_model(classifier, "onnx", output=tmp_path / "b.pt", imgsz=32, keras=True,
                     progress=events.append)

    def broken(self, *args, **kwargs):
        raise RuntimeError("the converter broke")

    monkeypatch.setattr(type(get_exporter("torchscript")), "export", broken)
    with pytest.raises(ExportError, match=r"TorchScript export of yolov8n-cls failed "
                                          r"\(RuntimeError: the converter broke\)") as caught:
        export_model(classifier, "torchscript", output=tmp_path / "c.pt", imgsz=32,
                     progress=events.append)
    assert runs(events) == [("RunStarted", None), ("RunFinished", "cancelled"),
                            ("RunStarted", None), ("RunFinished", "failed")]
    assert events[-1].message == str(caught.value) and events[-1].results == {}
