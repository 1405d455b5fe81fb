"""House rules that a test can hold: the engine imports no Qt and has no import side effects."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_engine_imports_no_gui_and_touches_no_network():
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise AssertionError('network at import')\n"
        "socket.socket.connect = refuse\n"
        "import engine, engine.cli, engine.weights, engine.checkpoints, engine.nn.flops\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'sqlalchemy', 'studio')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_eval_or_unsafe_load_in_the_engine():
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        assert "eval(" not in text.replace(".eval(", ""), path
        assert "exec(" not in text, path
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}: {line.strip()}"
