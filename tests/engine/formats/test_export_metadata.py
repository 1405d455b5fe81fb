"""The export metadata codec: each store it writes reads back the same, and it needs no torch."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.errors import ExportError
from engine.formats.export_metadata import (
    engine_header,
    metadata_to_json,
    metadata_to_strings,
    read_engine_file,
    read_metadata,
    read_metadata_yaml,
    write_metadata_yaml,
)

ROOT = Path(__file__).resolve().parents[3]
METADATA = {
    "description": "YOLO Studio pose model yolov8n-pose",
    "author": "YOLO Studio",
    "names": {0: "person", 1: "dog"},
    "kpt_shape": [5, 3],
    "task": "pose",
    "stride": torch.tensor(32),  # a tensor, as a model's stride may be
    "imgsz": (64, 96),
    "batch": 2,
    "args": {"imgsz": [64, 96], "batch": 2, "half": False, "dynamic": False},
}


def _check(parsed):
    assert (parsed.task, parsed.names, parsed.stride) == ("pose", {0: "person", 1: "dog"}, 32)
    assert (parsed.imgsz, parsed.batch, parsed.dynamic, parsed.half) == ((64, 96), 2, False, False)
    assert parsed.extras["kpt_shape"] == [5, 3] and parsed.extras["author"] == "YOLO Studio"


def test_every_store_reads_back_what_was_written(tmp_path):
    strings = metadata_to_strings(METADATA)
    assert ast.literal_eval(strings["names"]) == {0: "person", 1: "dog"}  # the reference's form
    _check(read_metadata(strings, "m.onnx"))
    _check(read_metadata(__import__("json").loads(metadata_to_json(METADATA)), "m.torchscript"))
    write_metadata_yaml(tmp_path, METADATA)
    _check(read_metadata_yaml(tmp_path))
    engine = tmp_path / "m.engine"
    engine.write_bytes(engine_header(METADATA) + b"ENGINE BYTES")
    raw, rest = read_engine_file(engine)
    assert rest == b"ENGINE BYTES"
    _check(read_metadata(raw, engine))


def test_a_missing_key_names_the_file_and_the_key(tmp_path):
    strings = metadata_to_strings({k: v for k, v in METADATA.items() if k != "imgsz"})
    with pytest.raises(ExportError, match="has no 'imgsz' in its metadata") as caught:
        read_metadata(strings, tmp_path / "m.onnx")
    assert caught.value.key == "imgsz" and str(caught.value.path) == str(tmp_path / "m.onnx")


def test_the_codec_loads_without_torch():
    code = (
        "import sys\n"
        "from engine.formats.export_metadata import metadata_to_strings, read_metadata\n"
        "metadata = read_metadata(metadata_to_strings({'task': 'classify', 'names': ['a'], "
        "'stride': 1, 'imgsz': [32, 32]}), 'm.onnx')\n"
        "assert metadata.names == {0: 'a'} and metadata.imgsz == (32, 32), metadata\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
