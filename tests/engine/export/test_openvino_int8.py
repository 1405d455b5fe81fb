"""Issue 21, int8 that pays: an int8 OpenVINO export runs its convolutions in int8 once the
CPU plugin has compiled it (``precision_census`` reads the compiled graph), while the box
decoding (the DFL's softmax and expectation, anchor arithmetic, sigmoid) stays in fp32."""

from __future__ import annotations

import pytest

from engine.backends import load_backend
from engine.export import dataset_samples, export_model
from engine.export.openvino import precision_census
from engine.tasks import get_task

from .task_models import make_datasets, task_model


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A 64 px yolov8n-seg exported to OpenVINO fp32 and int8 (calibrated on shapes)."""
    root = tmp_path_factory.mktemp("openvino_int8")
    data = make_datasets(root)["segment"]
    samples = dataset_samples(data, get_task("segment").samples(), (64, 64))
    model = task_model("segment")
    return {
        precision: export_model(model, "openvino", output=root / precision / "best.pt",
                                imgsz=64, samples=samples, int8=precision == "int8",
                                verify=precision == "int8")
        for precision in ("fp32", "int8")
    }


def test_compiled_int8_model_runs_its_convolutions_in_int8(exports):
    fp32 = precision_census(load_backend(exports["fp32"].path).compiled)
    int8 = precision_census(load_backend(exports["int8"].path).compiled)
    assert fp32.int8_ops == 0 and fp32.int8_convolutions == 0 and fp32.convolutions > 60
    assert int8.convolutions == fp32.convolutions
    # the DFL's fixed convolution and the head's nine output convolutions (the last 1x1 of
    # each branch: boxes, classes, mask coefficients at 3 levels) are kept in fp32
    # (kept_in_float); at this tiny size the CPU plugin also runs the mask prototypes'
    # upsampling in fp32 (in int8 at 640)
    kept = {name.split("/")[0] for name in int8.float_convolutions}
    outputs = {f"__module.model.22.{branch}.{level}.2" for branch in ("cv2", "cv3", "cv4")
               for level in range(3)}
    assert {"__module.model.22.dfl.conv", *outputs} <= kept
    assert kept <= {"__module.model.22.dfl.conv", "__module.model.22.proto.upsample", *outputs}
    assert int8.int8_convolutions == int8.convolutions - len(int8.float_convolutions)
    assert int8.int8_ops > int8.float_ops
    assert int8.summary().startswith(f"{int8.int8_ops} ops in int8, {int8.float_ops} in fp32 "
                                     f"({int8.int8_convolutions} of {int8.convolutions} "
                                     "convolutions in int8")
    assert exports["int8"].parity.status == "passed" and exports["int8"].parity.precision == "int8"
