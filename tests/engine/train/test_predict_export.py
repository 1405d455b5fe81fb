"""Predict with a trained classifier, export it, and predict and validate on the export."""

from __future__ import annotations

import types

import numpy as np
import onnx
import pytest
import torch

from engine import YOLO
from engine.cli import main
from engine.data.images import read_image
from engine.events import ignore


def images_of(digits, n=5):
    return sorted((digits / "val").glob("*/*.png"))[:n]


def test_predict_returns_results_with_probs_and_speed(trained, digits):
    model = YOLO(trained, progress=ignore)
    paths = images_of(digits)
    results = model(paths)
    assert [r.path for r in results] == list(map(str, paths))
    first = results[0]
    assert first.probs.data.shape == (10,) and float(first.probs.data.sum()) == pytest.approx(1)
    assert set(first.speed) == {"preprocess", "inference", "postprocess"}
    assert first.names == {i: str(i) for i in range(10)} and first.orig_img.shape == (32, 32, 3)
    stream = model.predict(source=paths, stream=True)
    assert isinstance(stream, types.GeneratorType)
    batched = model.predict(source=paths, batch=4)
    for a, b in zip(results, stream, strict=True):
        assert torch.allclose(a.probs.data, b.probs.data, atol=1e-6)
    for a, b in zip(results, batched, strict=True):
        assert torch.allclose(a.probs.data, b.probs.data, atol=1e-5)
    array = read_image(paths[0])
    assert torch.allclose(model(array)[0].probs.data, first.probs.data, atol=1e-6)


def test_predict_save_writes_annotated_images(trained, digits, tmp_path):
    model = YOLO(trained, progress=ignore)
    sources = images_of(digits, 2)
    sources += [sources[0]]  # the same name twice in one run is not overwritten
    model.predict(source=sources, save=True, project=str(tmp_path), name="p")
    written = sorted(path.name for path in (tmp_path / "p").iterdir())
    first, second = sources[0].stem, sources[1].stem
    assert written == sorted([f"{first}.png", f"{second}.png", f"{first}_2.png"])
    assert read_image(tmp_path / "p" / f"{first}.png").shape == (32, 32, 3)


def test_cli_predict_prints_a_line_per_image(trained, digits, capsys):
    status = main(["classify", "predict", f"model={trained}", f"source={digits / 'val' / '3'}"])
    *out, ran_on = capsys.readouterr().out.strip().splitlines()
    assert status == 0 and len(out) == len(list((digits / "val" / "3").glob("*.png")))
    assert out[0].startswith("1 ") and out[0].count(",") == 4
    assert ran_on == "ran on PyTorch"  # the suite's default runtime (tests/conftest.py)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_then_predict_and_val_on_the_export(trained, digits, tmp_path, fmt,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = YOLO(trained, progress=ignore)
    result = model.export(format=fmt)
    path = result.path
    # the parity gate ran on the model's own dataset images, beside the checkpoint
    assert result.parity.status == "passed" and result.parity.inputs > 1
    assert path.suffix == f".{fmt}" and path.parent == trained.parent
    exported = YOLO(path, progress=ignore)
    assert exported.task == "classify" and exported.names == model.names
    paths = images_of(digits)
    ours = np.stack([r.probs.numpy() for r in model(paths)])
    theirs = np.stack([r.probs.numpy() for r in exported(paths)])
    assert np.abs(ours - theirs).max() < 1e-4
    assert exported.val(data=str(digits)).top1 == pytest.approx(model.val().top1)
    with pytest.raises(Exception, match="exported model"):
        exported.train(data=str(digits))


def test_onnx_metadata_names_the_model(trained, tmp_path):
    path = YOLO(trained, progress=ignore).export(format="onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["task"] == "classify" and "imgsz" in props and "stride" in props
    assert "'9'" in props["names"] or '"9"' in props["names"]


def test_cli_export_shows_how_to_use_it(trained, capsys):
    assert main(["export", f"model={trained}", "format=onnx"]) == 0
    out = capsys.readouterr().out
    assert "ONNX export done in" in out and "parity with the PyTorch model: passed" in out
    assert "yolo classify predict model=" in out and "yolo classify val model=" in out
