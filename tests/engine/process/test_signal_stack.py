"""Ctrl+C still works after a runtime that replaces the main thread's alternate signal stack."""

import ctypes
import signal

from engine.backends import load_backend
from engine.export import export_model
from engine.nn import build_model
from engine.process.signal_stack import _StackT, signal_stack_kept


def _current_stack() -> tuple:
    state = _StackT()
    ctypes.CDLL(None).sigaltstack(None, ctypes.byref(state))
    return state.ss_sp, state.ss_size, state.ss_flags


def test_a_replaced_stack_is_put_back():
    before = _current_stack()
    buffer = ctypes.create_string_buffer(16384)
    with signal_stack_kept():
        replacement = _StackT(ctypes.cast(buffer, ctypes.c_void_p).value, 0, 16384)
        assert ctypes.CDLL(None).sigaltstack(ctypes.byref(replacement), None) == 0
        assert _current_stack() != before
    assert _current_stack() == before


def test_sigint_reaches_python_after_loading_an_openvino_model(tmp_path):
    # openvino 2026.4's CPU plugin left a stack on which the kernel could not deliver SIGINT:
    # the process died with SIGSEGV instead of running the handler
    model = build_model("yolov8n-cls.yaml", num_classes=2)
    path = export_model(model, "openvino", output=tmp_path / "m.pt", imgsz=32, dynamic=True,
                        verify=False).path
    before = _current_stack()
    load_backend(path)
    assert _current_stack() == before
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *_: seen.append("handled"))
    try:
        signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == ["handled"]
