"""Where each export format keeps its parts: the file names inside an export's file or folder.

The exporters write these names and the backends look for them, so both import them from here
rather than from each other. ``metadata.yaml`` (every folder export's metadata) is in
``export_metadata``; what each file holds is up to its runtime.
"""

from __future__ import annotations

TORCHSCRIPT_CONFIG_FILE = "config.txt"
"""The extra file inside a ``.torchscript`` archive that holds the export's metadata (JSON)."""

NCNN_PARAM_FILE = "model.ncnn.param"
NCNN_BIN_FILE = "model.ncnn.bin"
NCNN_FILES = (NCNN_PARAM_FILE, NCNN_BIN_FILE)
"""What an ncnn export folder holds besides ``metadata.yaml``: the graph, then the weights."""

PADDLE_PARAMS_SUFFIX = ".pdiparams"
PADDLE_PROGRAM_SUFFIXES = (".json", ".pdmodel")
"""Paddle >= 3 writes the program as ``.json`` (PIR); older versions as ``.pdmodel``."""
