"""Building, outputs, strides, overrides, fusing and info of zoo models."""

import pytest
import torch

from engine import YOLO, ModelConfigError
from engine.nn import build_model
from engine.nn.summary import summarize


def meta(name, **kw):
    with torch.device("meta"):
        return build_model(name, **kw).eval()


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("yolov8n-seg.yaml", [(1, 116, 8400), (1, 32, 160, 160)]),
        ("yolov8n-pose.yaml", [(1, 56, 8400)]),
        ("yolov8n-cls.yaml", [(1, 1000), (1, 1000)]),
        ("yolov8n.yaml", [(1, 84, 8400)]),
    ],
)
def test_eval_outputs_have_reference_layout_at_640(name, shapes):
    model = meta(name)
    with torch.no_grad():
        out = model(torch.empty(1, 3, 640, 640, device="meta"))
    first, rest = out
    got = [tuple(first.shape)]
    if model.task == "segment":
        got.append(tuple(rest[2].shape))
    elif model.task == "classify":
        got.append(tuple(rest.shape))
    assert got == shapes


def test_p6_pose_has_four_levels_and_stride_64():
    model = meta("yolov8x-pose-p6.yaml")
    assert model.strides == (8, 16, 32, 64)
    with torch.no_grad():
        out, _ = model(torch.empty(1, 3, 1280, 1280, device="meta"))
    assert tuple(out.shape) == (1, 56, 160**2 + 80**2 + 40**2 + 20**2)


def test_analytic_strides_match_real_feature_maps():
    model = build_model("yolov8n-seg.yaml").eval()
    with torch.no_grad():
        _, (raw, _, _) = model(torch.zeros(1, 3, 256, 256))
    assert [256 // level.shape[-1] for level in raw] == list(model.strides) == [8, 16, 32]


def test_train_mode_returns_raw_levels():
    model = build_model("yolov8n-pose.yaml", keypoint_shape=(5, 3)).train()
    levels, keypoints = model(torch.rand(2, 3, 64, 64))
    assert [tuple(x.shape) for x in levels] == [(2, 65, 8, 8), (2, 65, 4, 4), (2, 65, 2, 2)]
    assert tuple(keypoints.shape) == (2, 15, 84)


def test_overrides_of_classes_keypoints_and_channels():
    model = meta("yolov8n-pose.yaml", num_classes=3, keypoint_shape=[4, 2], in_channels=1)
    assert model.num_classes == 3 and model.keypoint_shape == (4, 2) and model.in_channels == 1
    assert model.model[0].conv.in_channels == 1
    with torch.no_grad():
        out, _ = model(torch.empty(1, 1, 64, 64, device="meta"))
    assert out.shape[1] == 4 + 3 + 8


def test_detection_family_uses_reference_batchnorm_settings_and_classifier_defaults():
    seg, cls = meta("yolov8n-seg.yaml"), meta("yolov8n-cls.yaml")
    assert seg.model[0].bn.eps == 1e-3 and seg.model[0].bn.momentum == 0.03
    assert cls.model[0].bn.eps == 1e-5 and cls.model[0].bn.momentum == 0.1


def _randomise_batchnorm(model):
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


@pytest.mark.parametrize("name", ["yolov8n-seg.yaml", "yolov8n-pose.yaml", "yolov8n-cls.yaml"])
def test_fuse_keeps_outputs(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    _randomise_batchnorm(model)
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        before = model(x)[0].clone()
        model.fuse()
        after = model(x)[0]
    assert model.is_fused
    scale = before.abs().clamp(min=1.0)  # boxes are in pixels: compare relative to size
    assert ((after - before).abs() / scale).max() <= 1e-5


def test_info_prints_layer_table_parameters_and_gflops(capsys):
    summary = YOLO("yolov8n-seg.yaml").info(detailed=True)
    printed = capsys.readouterr().out
    assert "22        [15, 18, 21]" in printed and "Segment" in printed
    assert "3,409,968 parameters" in printed and "12.0 GFLOPs at 640x640" in printed
    assert summary.parameters == 3_409_968 and len(summary.layers) == 23


def test_summary_of_fused_model_says_so():
    model = build_model("yolov8n-cls.yaml").eval().fuse()
    summary = summarize(model)
    assert summary.fused and "(fused)" in str(summary)


# ---- bad input: one clear error naming the file and the problem
def test_bad_scale_letter_is_named(tmp_path):
    with pytest.raises(
        ModelConfigError, match=r"yolov8q-seg\.yaml: unknown scale 'q'.*n, s, m, l, x"
    ):
        build_model("yolov8q-seg.yaml")


def test_unknown_name_is_named():
    with pytest.raises(ModelConfigError, match=r"mymodel\.yaml: no such file"):
        build_model("mymodel.yaml")


def _write_yaml(tmp_path, text, name="custom-n.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = """nc: 2
scales: {n: [0.33, 0.25, 1024]}
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
head:
  - [-1, 1, Classify, [nc]]
"""


def test_custom_yaml_on_disk_builds(tmp_path):
    model = build_model(_write_yaml(tmp_path, BASE))
    assert model.task == "classify" and model.num_classes == 2


def test_unknown_block_is_named_with_suggestion(tmp_path):
    path = _write_yaml(tmp_path, BASE.replace("[-1, 1, Conv, [128", "[-1, 1, Convv, [128"))
    with pytest.raises(
        ModelConfigError,
        match=r"custom-n\.yaml: layer 1 uses unknown block 'Convv'; did you mean 'Conv'",
    ):
        build_model(path)


def test_python_in_yaml_is_never_evaluated(tmp_path):
    path = _write_yaml(tmp_path, BASE.replace("Conv, [128", "__import__('os').system, [128"))
    with pytest.raises(ModelConfigError, match="unknown block"):
        build_model(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = _write_yaml(tmp_path, BASE.replace("head:", "head: [unclosed"))
    with pytest.raises(ModelConfigError, match=r"custom-n\.yaml:\d+: not valid yaml"):
        build_model(path)


def test_forward_reference_is_refused(tmp_path):
    path = _write_yaml(tmp_path, BASE.replace("[-1, 1, Conv, [128", "[3, 1, Conv, [128"))
    with pytest.raises(ModelConfigError, match="layer 1 reads from layer 3"):
        build_model(path)


def test_missing_head_section_is_named(tmp_path):
    path = _write_yaml(tmp_path, BASE.split("head:")[0])
    with pytest.raises(ModelConfigError, match=r"key 'head': must be a non-empty list"):
        build_model(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"num_classes": 0}, "number of classes"),
        ({"keypoint_shape": (17, 4)}, "keypoint shape"),
    ],
)
def test_bad_overrides_are_named(override, message):
    with pytest.raises(ModelConfigError, match=message):
        build_model("yolov8n-pose.yaml", **override)
