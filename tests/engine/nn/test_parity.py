"""Every zoo model has the reference's parameter count to the unit and its GFLOPs within 2%.

Models are built on the meta device, so even the x scales cost no memory or compute.
"""

import re

import pytest
import torch

from engine import YOLO
from engine.nn import build_model
from engine.nn.flops import count_flops, default_imgsz

# Reference parameter counts (classify: 1000 classes; segment: 80; pose: 1 class, 17 kpts)
# and GFLOPs of the BN-fused model at 640 (1280 for P6).
REFERENCE = {
    "yolov8n-cls": (2_719_288, 3.29),
    "yolov8s-cls": (6_361_736, 12.45),
    "yolov8m-cls": (17_053_336, 41.64),
    "yolov8l-cls": (37_480_744, 98.71),
    "yolov8x-cls": (57_422_840, 153.80),
    "yolov8n-seg": (3_409_968, 12.00),
    "yolov8s-seg": (11_821_056, 40.09),
    "yolov8m-seg": (27_285_968, 104.54),
    "yolov8l-seg": (45_997_728, 210.39),
    "yolov8x-seg": (71_827_888, 328.36),
    "yolov8n-pose": (3_295_470, 9.18),
    "yolov8s-pose": (11_626_046, 30.19),
    "yolov8m-pose": (26_464_462, 81.02),
    "yolov8l-pose": (44_489_196, 168.55),
    "yolov8x-pose": (69_491_724, 263.21),
    "yolov8x-pose-p6": (99_182_640, 1066.4),
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
    from tests.conftest import FIXTURES

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
