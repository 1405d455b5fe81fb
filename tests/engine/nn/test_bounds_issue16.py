"""Sizes a model yaml or a checkpoint's yaml may ask for (issue 16): absurd widths, depths or
class counts are refused by a ModelConfigError / CheckpointError naming the key and the limit,
before anything is allocated, instead of ending in an allocator traceback."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from engine.checkpoints.format import checkpoint_dict, save_checkpoint
from engine.checkpoints.loading import load_model
from engine.errors import CheckpointError, ModelConfigError
from engine.nn.builder import MAX_PARAMETERS, parameter_estimate
from engine.nn.zoo import CONFIG_DIR, build_model, resolve_model_spec, zoo_names


def _config(scale: list[float], variant: str = "yolov8.yaml") -> dict:
    config = yaml.safe_load((CONFIG_DIR / variant).read_text())
    config["scales"] = {"n": scale}
    config["scale"] = "n"
    return config


@pytest.mark.parametrize("name", [n for n in zoo_names() if n[6] in "nx"])
def test_the_estimate_bounds_every_packaged_model_closely(name):
    """The estimate decides before allocating, so it must never be below the real count."""
    spec = resolve_model_spec(name)
    with torch.device("meta"):
        model = build_model(name)
    real = sum(p.numel() for p in model.parameters())
    estimate = parameter_estimate(spec.config, spec.scale)
    assert real <= estimate <= real * 1.05


def test_a_width_multiple_of_1000_is_refused_naming_scales(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(_config([0.33, 1000, 1024])))
    with pytest.raises(ModelConfigError) as caught:
        build_model(path)
    assert caught.value.key == "scales" and caught.value.path == str(path)
    message = str(caught.value)
    assert f"at most {MAX_PARAMETERS // 10**6:,} million" in message
    assert "width 1000" in message and "layer 1 (Conv)" in message


def test_a_depth_multiple_of_10000_is_refused():
    with pytest.raises(ModelConfigError, match="repeats its block 30000 times") as caught:
        build_model(_config([10000, 0.25, 1024]))
    assert caught.value.key == "scales"


@pytest.mark.parametrize(
    ("scale", "text"),
    [([0.33, 0, 1024], "width"), ([-1, 0.25, 1024], "depth"), ([0.33, 0.25, 0], "cap")],
)
def test_scale_values_must_be_positive(scale, text):
    with pytest.raises(ModelConfigError, match=f"{text} must be above 0") as caught:
        build_model(_config(scale))
    assert caught.value.key == "scales"


def test_an_absurd_class_count_is_refused():
    with pytest.raises(ModelConfigError, match="million parameters"):
        build_model("yolov8n.yaml", num_classes=10**9)


def test_a_checkpoint_whose_yaml_asks_for_absurd_widths_names_the_file(tmp_path):
    checkpoint = checkpoint_dict(build_model("yolov8n.yaml"))
    wide = copy.deepcopy(checkpoint["model_yaml"])
    wide["scales"]["n"] = [0.33, 1000, 1024]
    path = save_checkpoint(tmp_path / "wide.pt", {**checkpoint, "model_yaml": wide})
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    assert caught.value.path == str(path) and caught.value.key == "model_yaml.scales"
    assert "its model description cannot be built" in str(caught.value)
    assert "million parameters" in str(caught.value)


def _shared_bomb(levels: int) -> list:
    """Nested lists of shared references: 9 ** (levels + 1) strings in a few hundred bytes."""
    value: list = ["lol"] * 9
    for _ in range(levels):
        value = [value] * 9
    return value


@pytest.mark.parametrize("key", ["model_yaml", "names"])
def test_a_checkpoint_holding_a_reference_bomb_is_refused(tmp_path, key):
    checkpoint = checkpoint_dict(build_model("yolov8n.yaml"))
    if key == "model_yaml":
        hostile = {**checkpoint, "model_yaml": {**checkpoint["model_yaml"]}}
        hostile["model_yaml"]["backbone"] = [_shared_bomb(6)]
    else:
        hostile = {**checkpoint, "names": {0: _shared_bomb(6)}}
    path = save_checkpoint(tmp_path / "bomb.pt", hostile)
    with pytest.raises(CheckpointError, match="more than 1,000,000 values") as caught:
        load_model(path)
    assert caught.value.path == str(path) and caught.value.key == key
