"""Typed settings with the reference defaults; unknown keys suggest the closest one."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import SettingsError
from engine.config import SETTING_KEYS, Settings, validate_settings

# A sample of the reference's defaults, one or more from each group.
REFERENCE_DEFAULTS = {
    "epochs": 100,
    "patience": 100,
    "batch": 16,
    "imgsz": 640,
    "workers": 8,
    "optimizer": "auto",
    "seed": 0,
    "close_mosaic": 10,
    "amp": True,
    "overlap_mask": True,
    "mask_ratio": 4,
    "dropout": 0.0,
    "iou": 0.7,
    "max_det": 300,
    "conf": None,
    "format": "torchscript",
    "simplify": True,
    "opset": None,
    "lr0": 0.01,
    "lrf": 0.01,
    "momentum": 0.937,
    "weight_decay": 0.0005,
    "warmup_epochs": 3.0,
    "warmup_momentum": 0.8,
    "warmup_bias_lr": 0.1,
    "box": 7.5,
    "cls": 0.5,
    "dfl": 1.5,
    "pose": 12.0,
    "kobj": 1.0,
    "nbs": 64,
    "hsv_h": 0.015,
    "hsv_s": 0.7,
    "hsv_v": 0.4,
    "translate": 0.1,
    "scale": 0.5,
    "fliplr": 0.5,
    "mosaic": 1.0,
    "mixup": 0.0,
    "copy_paste": 0.0,
    "erasing": 0.4,
    "auto_augment": "randaugment",
    "split": "val",
    "vid_stride": 1,
    "save_period": -1,
}


def test_defaults_follow_the_reference():
    defaults = Settings().model_dump()
    assert {k: defaults[k] for k in REFERENCE_DEFAULTS} == REFERENCE_DEFAULTS
    assert len(SETTING_KEYS) >= 100


def test_misspelt_key_suggests_the_right_one():
    with pytest.raises(
        SettingsError, match=r"key 'epoch': unknown setting 'epoch'\. Did you mean 'epochs'\?"
    ):
        validate_settings({"epoch": 5})


def test_hopeless_key_points_to_the_listing():
    with pytest.raises(SettingsError, match="unknown setting 'qqqqqq'.*yolo settings"):
        validate_settings({"qqqqqq": 1})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", "many"),
        ("lr0", -1.0),
        ("optimizer", "Adagrad"),
        ("fliplr", 2),
        ("split", "dev"),
    ],
)
def test_wrong_type_or_range_names_the_key_and_value(key, value):
    with pytest.raises(SettingsError, match=rf"key '{key}': .*\(got {value!r}\)"):
        validate_settings({key: value})


def test_values_are_coerced_from_strings_and_layered_over_a_base():
    base = validate_settings({"epochs": "5", "imgsz": 320})
    assert base.epochs == 5
    merged = validate_settings({"batch": 8}, base=base)
    assert (merged.epochs, merged.imgsz, merged.batch) == (5, 320, 8)


@given(st.sampled_from(SETTING_KEYS), st.sampled_from(["x", "_", "s"]))
def test_any_single_typo_of_a_key_is_an_error_not_ignored(key, extra):
    typo = key + extra
    if typo in SETTING_KEYS:
        return
    with pytest.raises(SettingsError, match=f"unknown setting '{typo}'"):
        validate_settings({typo: 1})
