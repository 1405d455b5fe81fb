"""Every zoo model has the reference's parameter count to the unit and its GFLOPs within 2%.

Models are built on the meta device, so even the x scales cost no memory or compute.
"""

import json
import re

import pytest
import torch

from engine import YOLO
from engine.nn import build_model
from engine.nn.flops import count_flops, default_imgsz
from tests.conftest import FIXTURES

# Reference parameter counts and fused-model GFLOPs at 640 (1280 for P6); one table shared
# with benchmarks/zoo_parity.py.
REFERENCE = {
    name: (entry["params"], entry["gflops"])
    for name, entry in json.loads((FIXTURES / "reference_zoo.json").read_text())["models"].items()
}

_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_LAYER_ROW = re.compile(r"^\s*(?P<index>\d+)\s+(-?\d+|\[[^\]]*\])\s+\S+\s+(?P<params>\d+)$")


def meta_model(name: str, **overrides):
    with torch.device("meta"):
        return build_model(f"{name}.yaml", **overrides)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_parameter_count_equals_reference(name):
    assert meta_model(name).num_parameters() == REFERENCE[name][0]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_gflops_within_two_percent_of_reference(name):
    model = meta_model(name)
    gflops = count_flops(model, default_imgsz(model), fused=True)
    assert gflops == pytest.approx(REFERENCE[name][1], rel=0.02)


def test_ten_class_classifier_has_reference_count():
    assert meta_model("yolov8n-cls", num_classes=10).num_parameters() == 1_451_098


def test_yolo_facade_builds_scale_from_name():
    model = YOLO("yolov8s-pose.yaml")
    assert model.model.yaml["scale"] == "s" and model.task == "pose"
    assert model.model.num_parameters() == REFERENCE["yolov8s-pose"][0]


@pytest.mark.parametrize(
    ("stem", "overrides"),
    [
        ("yolov8n-cls", {}),
        ("yolov8n-cls_nc10", {"num_classes": 10}),
        ("yolov8n-seg", {}),
        ("yolov8n-seg_nc4", {"num_classes": 4}),
        ("yolov8n-pose", {}),
        ("yolov8n-pose_kpt5", {"keypoint_shape": (5, 3)}),
    ],
)
def test_per_layer_and_per_tensor_layout_matches_reference(stem, overrides):
    listing = (FIXTURES / "reference-architecture" / f"layers_{stem}.txt").read_text()
    model = meta_model(stem.split("_")[0], **overrides)
    expected_tensors, expected_layers = {}, {}
    for line in listing.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("model.") and not parts[0].endswith(_BUFFERS):
            expected_tensors[parts[0]] = int(parts[-1])
        layer = _LAYER_ROW.match(line)
        if layer:
            expected_layers[int(layer["index"])] = int(layer["params"])
    assert {name: p.numel() for name, p in model.named_parameters()} == expected_tensors
    assert {layer.i: layer.np for layer in model.model} == expected_layers
