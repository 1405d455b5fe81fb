"""The ``yolo`` command line."""

import subprocess
import sys

import pytest

from engine.cli import main, parse_arguments


def test_info_prints_the_layer_table(capsys):
    assert main(["segment", "info", "model=yolov8n-seg.yaml"]) == 0
    out = capsys.readouterr().out
    assert "Segment" in out and "3,409,968 parameters" in out


def test_p6_info_counts_at_1280(capsys):
    assert main(["info", "model=yolov8x-pose-p6.yaml"]) == 0
    assert "99,182,640 parameters" in capsys.readouterr().out


def test_misspelt_key_is_one_line_and_status_1(capsys):
    assert main(["info", "model=yolov8n-seg.yaml", "epoch=3"]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "yolo: error: command line, key 'epoch': unknown setting 'epoch'. Did you mean 'epochs'?"
    )


def test_task_mismatch_is_reported(capsys):
    assert main(["pose", "info", "model=yolov8n-seg.yaml"]) == 1
    assert "is a segment model, but task=pose" in capsys.readouterr().err


def test_stray_word_and_missing_mode_are_reported():
    from engine import SettingsError

    with pytest.raises(SettingsError, match="'trian' is neither a task"):
        parse_arguments(["trian", "model=x.yaml"])
    with pytest.raises(SettingsError, match="no mode given"):
        parse_arguments(["model=x.yaml"])


def test_values_are_typed():
    settings = parse_arguments(["info", "imgsz=320", "amp=False", "classes=[0,2]", "conf=None"])
    assert (settings.imgsz, settings.amp, settings.classes, settings.conf) == (
        320,
        False,
        [0, 2],
        None,
    )


def test_settings_lists_every_key(capsys):
    assert main(["settings"]) == 0
    assert "epochs: 100" in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == __import__("engine").__version__
