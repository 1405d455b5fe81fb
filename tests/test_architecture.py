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
    import ast

    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):  # ast.literal_eval (literals only) is allowed
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else None
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    name = func.attr if func.value.id == "builtins" else None
                assert name not in ("eval", "exec", "compile"), f"{path}:{node.lineno}"
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}: {line.strip()}"


def test_the_studio_uses_only_the_engines_public_names():
    import ast

    for path in (ROOT / "studio").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
                assert not any(part.startswith("_") for part in node.module.split(".")), path
                private = [a.name for a in node.names
                           if a.name.startswith("_") and not a.name.startswith("__")]
                assert not private, f"{path}: imports {private} from {node.module}"


def test_the_studio_is_no_dependency_of_the_engine_package():
    code = (
        "import sys, studio.state, studio.services.projects\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
