"""The export options are declared once (ExportOptions' option fields): Settings has each one
under the same name with the same default, export_model takes exactly those, and the facade
reads them from Settings in one place."""

from dataclasses import fields

import pytest

from engine.config import Settings
from engine.errors import ExportError
from engine.export import EXPORT_FORMATS, EXPORT_OPTIONS, ExportOptions, export_model, option_values
from engine.export.base import DEFAULT_OPSET, check_options, given_options
from engine.nn import build_model


@pytest.fixture(scope="module")
def classifier():
    return build_model("yolov8n-cls.yaml", num_classes=2)


def test_the_options_are_exportoptions_own_fields_in_its_order():
    declared = [f.name for f in fields(ExportOptions)]
    assert list(EXPORT_OPTIONS) == [n for n in declared if n in EXPORT_OPTIONS]
    assert {"half", "dynamic", "simplify", "opset", "optimize", "int8", "nms", "keras",
            "workspace"} <= set(EXPORT_OPTIONS)
    # what the file describes, not a format option
    assert not {"imgsz", "batch", "calibration"} & set(EXPORT_OPTIONS)


@pytest.mark.parametrize("name", list(EXPORT_OPTIONS))
def test_settings_has_each_export_option_with_the_same_default(name):
    assert name in Settings.model_fields, f"Settings has no key {name!r} for the export option"
    assert Settings.model_fields[name].default == EXPORT_OPTIONS[name], (
        f"Settings.{name} defaults to {Settings.model_fields[name].default!r}, "
        f"ExportOptions.{name} to {EXPORT_OPTIONS[name]!r}"
    )


def test_every_argument_a_format_honours_is_declared():
    for key, exporter in EXPORT_FORMATS.items():
        assert exporter.arguments <= {"imgsz", "batch", *EXPORT_OPTIONS}, key


def test_option_values_reads_every_option_from_settings_by_name():
    settings = Settings(half=True, opset=12, workspace=2.5, simplify=False, format="onnx")
    assert option_values(settings) == {
        "half": True, "dynamic": False, "simplify": False, "opset": 12, "optimize": False,
        "int8": False, "nms": False, "keras": False, "workspace": 2.5,
    }
    assert option_values(Settings()) == EXPORT_OPTIONS  # the defaults agree as a whole


def test_an_unset_opset_is_the_default_opset():
    assert ExportOptions(imgsz=(32, 32)).opset == DEFAULT_OPSET
    assert ExportOptions(imgsz=(32, 32), opset=12).opset == 12


def test_given_options_fill_the_defaults_and_an_unknown_one_is_named():
    assert given_options({"half": True}) == {**EXPORT_OPTIONS, "half": True}
    with pytest.raises(TypeError, match="unexpected keyword argument 'dinamic'; did you mean "
                                        "'dynamic'\\? the export options are imgsz, batch, half"):
        given_options({"dinamic": True})


def test_export_model_refuses_an_unknown_option_before_anything_is_written(classifier, tmp_path):
    events = []
    with pytest.raises(TypeError, match="unexpected keyword argument 'quantize'"):
        export_model(classifier, "onnx", output=tmp_path / "m.pt", imgsz=32, quantize=True,
                     progress=events.append)
    assert not events and not list(tmp_path.iterdir())



def test_check_options_keeps_what_the_format_does_not_take_at_its_default():
    given = given_options({"half": 1, "int8": True, "simplify": False, "opset": 12,
                           "workspace": 3})
    onnx = check_options(given, imgsz=(32, 32), batch=2,
                         honoured=frozenset({"half", "simplify", "opset"}))
    assert (onnx.half, onnx.int8, onnx.simplify, onnx.opset, onnx.workspace) == (
        True, False, False, 12, None)
    tensorrt = check_options(given, imgsz=(32, 32), batch=2,
                             honoured=frozenset({"half", "int8", "workspace"}))
    # int8 weights are not also fp16; an option it does not take keeps its default
    assert (tensorrt.half, tensorrt.int8, tensorrt.workspace, tensorrt.simplify,
            tensorrt.opset) == (False, True, 3.0, True, DEFAULT_OPSET)
    with pytest.raises(ExportError, match="workspace is TensorRT's memory limit") as caught:
        check_options(given_options({"workspace": -1}), imgsz=(32, 32), batch=1,
                      honoured=frozenset())
    assert caught.value.key == "workspace"
