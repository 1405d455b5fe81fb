"""The ``yolo`` command line refuses arguments it would otherwise take silently (issue 16):
a key given twice, a key with no value, a second mode or task, and sizes that cannot be
allocated."""

from __future__ import annotations

import pytest

from engine import SettingsError
from engine.cli import main, parse_arguments


def test_a_key_given_twice_is_refused_naming_it():
    with pytest.raises(SettingsError) as caught:
        parse_arguments(["train", "epochs=3", "epochs=5"])
    assert caught.value.key == "epochs"
    assert "given twice (epochs=3, then epochs=5)" in str(caught.value)


def test_an_empty_value_is_refused_and_says_how_to_get_the_default():
    with pytest.raises(SettingsError) as caught:
        parse_arguments(["predict", "conf="])
    assert caught.value.key == "conf"
    assert "no value after 'conf='" in str(caught.value)
    assert "leave conf out" in str(caught.value)


def test_an_explicit_none_is_still_a_value():
    assert parse_arguments(["predict", "conf=None"]).conf is None


@pytest.mark.parametrize(
    ("args", "key", "text"),
    [
        (["train", "val"], "mode", "two modes given ('train', then 'val')"),
        (["train", "mode=val"], "mode", "two modes given ('train', then 'val')"),
        (["segment", "pose", "train"], "task", "two tasks given ('segment', then 'pose')"),
    ],
)
def test_a_second_mode_or_task_is_refused(args, key, text):
    with pytest.raises(SettingsError) as caught:
        parse_arguments(args)
    assert caught.value.key == key and text in str(caught.value)


def test_the_terminal_shows_one_line_and_status_1(capsys):
    assert main(["info", "model=yolov8n.yaml", "imgsz=320", "imgsz=640"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "yolo: error: command line, key 'imgsz': given twice (imgsz=320, then imgsz=640); "
        "give each key once"
    )


def test_convert_refuses_the_same_mistakes(capsys):
    assert main(["convert", "source=a.json", "output=x", "output=y"]) == 1
    assert "key 'output': given twice" in capsys.readouterr().err
    assert main(["convert", "source=a.json", "task="]) == 1
    assert "key 'task': no value after 'task='" in capsys.readouterr().err


@pytest.mark.parametrize("imgsz", [100000, [640, 100000], 0, -32, [640, 480, 3]])
def test_an_image_size_that_cannot_be_allocated_is_refused(imgsz):
    from engine.config import validate_settings
    from engine.config.settings import MAX_IMGSZ

    with pytest.raises(SettingsError) as caught:
        validate_settings({"imgsz": imgsz})
    assert caught.value.key == "imgsz"
    assert f"1 to {MAX_IMGSZ} px" in str(caught.value) or "one or two sides" in str(caught.value)


def test_the_largest_image_size_is_accepted():
    from engine.config import validate_settings
    from engine.config.settings import MAX_IMGSZ

    assert validate_settings({"imgsz": [MAX_IMGSZ, 32]}).imgsz == [MAX_IMGSZ, 32]


def test_imgsz_100000_is_one_line_on_the_terminal(capsys):
    assert main(["segment", "predict", "model=yolov8n-seg.yaml", "imgsz=100000"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("yolo: error: command line, key 'imgsz': each side must be 1 to 8192 px")
    assert "(got 100000)" in err and "\n" not in err
