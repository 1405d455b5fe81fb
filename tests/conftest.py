"""Shared test set-up: no test may reach the internet, the user's weights cache or datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL = FIXTURES / "ultralytics"


@pytest.fixture(autouse=True)
def _isolated_weights(tmp_path_factory, monkeypatch):
    """Point the weights cache at a temp folder and downloads at a closed local port."""
    monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_DIR", str(tmp_path_factory.mktemp("weights")))
    monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", "http://127.0.0.1:9/closed")


@pytest.fixture(autouse=True)
def _isolated_datasets(tmp_path_factory, monkeypatch):
    """Named datasets live in a temp folder; their downloads go to a closed local port."""
    monkeypatch.setenv("YOLO_STUDIO_DATASETS_DIR", str(tmp_path_factory.mktemp("datasets")))
    monkeypatch.setenv("YOLO_STUDIO_DATASETS_URL", "http://127.0.0.1:9/closed")
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _pytorch_runtime(monkeypatch):
    """A .pt predicts and validates with PyTorch unless a test asks for the fast CPU path
    (tests/engine/api/test_runtime_cache.py): compiling every checkpoint a test makes for
    OpenVINO would cost seconds each. Tests of the default delete the variable. The fast path
    is held to float32 so that its tests can ask for PyTorch's very numbers; the bf16 tests
    (tests/engine/test_runtime_bf16.py) delete that variable too."""
    monkeypatch.setenv("YOLO_STUDIO_RUNTIME", "torch")
    monkeypatch.setenv("YOLO_STUDIO_RUNTIME_PRECISION", "f32")
