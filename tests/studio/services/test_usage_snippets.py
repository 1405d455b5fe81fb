"""Usage snippets of an export (issue 17): each plain-runtime script runs as written, with the
venv's python and that runtime alone, on a tiny exported model, and prints what the engine
predicts on the same image; paths are the export's own, never the studio's cache."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import YOLO
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.importers import import_dataset
from studio.services.model_export import ExportOutcome
from studio.services.usage_snippets import (
    PLACEHOLDER_IMAGE,
    example_image,
    imgsz_of,
    usage_snippets,
)

YAMLS = {"classify": "yolov8n-cls.yaml", "segment": "yolov8n-seg.yaml",
         "pose": "yolov8n-pose.yaml"}
LINE = re.compile(r"^(\w+) ([\d.]+) box (\[[^\]]*\])")


def exported(folder: Path, task: str, format: str, imgsz: int) -> Path:  # noqa: A002
    """A tiny model of ``task`` (classes cat, dog) exported to ``format``."""
    torch.manual_seed(0)
    model = build_model(YAMLS[task], num_classes=2)
    model.names = {0: "cat", 1: "dog"}
    make_decisive(model)  # outputs that decide: classes and boxes are well apart
    checkpoint = save_checkpoint(folder / task / "weights" / "best.pt",
                                 checkpoint_dict(model, train_args={"imgsz": imgsz}))
    return YOLO(checkpoint).export(format=format, imgsz=imgsz).path


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "pictures" / "street.png"
    path.parent.mkdir()
    pixels = np.random.default_rng(3).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    cv2.imwrite(str(path), pixels)
    return path


def run_plain_script(format: str, task: str, path: Path, image: Path,  # noqa: A002
                     tmp_path: Path) -> list[str]:
    """Write the plain-runtime snippet to a file, run it with this python, return its lines."""
    snippets = usage_snippets(format, task, path, image=image, imgsz=64)
    plain = snippets[-1]
    assert plain.title.endswith("(no engine)") and plain.language == "python"
    assert "from engine" not in plain.text and "studio" not in plain.text
    script = tmp_path / f"{task}_{format}.py"
    script.write_text(plain.text)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def engine_prediction(path: Path, image: Path):
    return YOLO(path).predict(str(image))[0]


def assert_same_detections(lines: list[str], result) -> list[re.Match]:
    """The script's objects are the engine's: names, scores and boxes (to a pixel)."""
    found = [LINE.match(line) for line in lines]
    assert all(found) and len(found) == len(result.boxes) > 0, lines
    for match, box, score, index in zip(found, result.boxes.xyxy.tolist(),
                                        result.boxes.conf.tolist(), result.boxes.cls.tolist(),
                                        strict=True):
        assert match.group(1) == result.names[int(index)]
        assert abs(float(match.group(2)) - score) < 1e-3
        assert np.allclose(ast.literal_eval(match.group(3)), box, atol=1.0)
    return found


def test_the_onnx_scripts_run_with_onnxruntime_and_agree_with_the_engine(tmp_path, image):
    for task in ("classify", "segment", "pose"):
        path = exported(tmp_path, task, "onnx", 64)
        lines = run_plain_script("onnx", task, path, image, tmp_path)
        result = engine_prediction(path, image)
        if task == "classify":
            top = result.probs.data.argmax().item()
            name, probability = lines[0].split()
            assert name == result.names[top] and len(lines) == 2  # both classes, best first
            assert abs(float(probability) - result.probs.data[top].item()) < 0.02
        else:
            assert_same_detections(lines, result)
        if task == "pose":
            joints = ast.literal_eval(lines[0].split(" keypoints ")[1])
            expected = result.keypoints.data[0].tolist()
            assert np.allclose(joints, expected, atol=1.0)
        if task == "segment":
            assert all(re.search(r"mask \d+ px$", line) for line in lines)


def test_the_torchscript_script_runs_with_torch_jit(tmp_path, image):
    path = exported(tmp_path, "pose", "torchscript", 64)
    lines = run_plain_script("torchscript", "pose", path, image, tmp_path)
    assert_same_detections(lines, engine_prediction(path, image))


def test_the_openvino_script_runs_with_the_openvino_runtime(tmp_path, image):
    pytest.importorskip("openvino", reason="the OpenVINO runtime is an optional extra")
    path = exported(tmp_path, "classify", "openvino", 32)
    snippets = usage_snippets("openvino", "classify", path, image=image)
    assert f'MODEL = r"{path / "best.xml"}"' in snippets[-1].text  # the folder's .xml
    lines = run_plain_script("openvino", "classify", path, image, tmp_path)
    result = engine_prediction(path, image)
    assert lines[0].split()[0] == result.names[result.probs.data.argmax().item()]


def test_snippets_point_at_the_export_and_the_image(tmp_path, image):
    path = tmp_path / "my runs" / "weights" / "best.onnx"
    snippets = usage_snippets("onnx", "segment", path, image=image, imgsz=320)
    assert [s.title for s in snippets] == ["Command line", "Python (engine)",
                                           "ONNX Runtime (no engine)"]
    shell, engine, plain = (s.text for s in snippets)
    assert f"yolo segment predict model='{path}' source={image} imgsz=320" in shell
    assert "yolo segment val model=" in shell and "data=path/to/data.yaml" in shell
    assert f'YOLO(r"{path}")' in engine and f'predict(r"{image}")' in engine
    assert f'MODEL = r"{path}"' in plain and f'IMAGE = r"{image}"' in plain
    assert "onnxruntime" in plain and "letterbox" in plain and "NCHW" in plain
    for snippet in snippets:
        assert ".cache" not in snippet.text


def test_formats_without_a_plain_runtime_still_get_the_commands(tmp_path):
    snippets = usage_snippets("coreml", "pose", tmp_path / "best.mlpackage")
    assert [s.title for s in snippets] == ["Command line", "Python (engine)"]
    assert f"source={PLACEHOLDER_IMAGE}" in snippets[0].text  # no image: a placeholder
    tflite = usage_snippets("tflite", "classify", tmp_path / "best.tflite")
    assert tflite[-1].title == "TF Lite (no engine)" and "Interpreter" in tflite[-1].text


def test_the_outcome_snippet_leaves_the_checks_dataset_out(tmp_path):
    # the engine's val line names the dataset the export's check used: the studio's cache
    cache = tmp_path / "project" / ".cache" / "export" / "dataset" / "data.yaml"
    outcome = ExportOutcome("onnx", "ONNX", "passed", "segment", path=tmp_path / "best.onnx",
                            usage=("yolo segment predict model=x imgsz=96",
                                   f"yolo segment val model=x imgsz=96 data={cache}"))
    assert imgsz_of(outcome.usage) == 96
    text = outcome.snippet()
    assert ".cache" not in text and "imgsz=96" in text and "onnxruntime" in text


def test_the_example_image_is_one_of_the_project(make_project, tmp_path, image):
    project = make_project("segment")
    assert example_image(project) is None
    import_dataset(project, image.parent, "images")
    assert example_image(project) == image
