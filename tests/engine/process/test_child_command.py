"""engine/process/child_command.py: which arguments are a Python-style child command, and that
running a ``-m`` one behaves as ``python -m`` does (in a fresh interpreter each: it sets
``sys.argv`` and runs ``__main__`` code). The bundle's entry runs ``-c`` code itself
(tests/installer/test_bundle_entry.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.process.child_command import (
    PythonArguments,
    is_frozen,
    parse_python_arguments,
    run_module_command,
)

DISPATCH = ("import sys\n"
            "from engine.process.child_command import parse_python_arguments, "
            "run_module_command\n"
            "command = parse_python_arguments(sys.argv[1:])\n"
            "print('not a child' if command is None else 'dispatching', file=sys.stderr)\n"
            "if command is not None:\n"
            "    run_module_command(command)\n")


@pytest.mark.parametrize(("argv", "expected"), [
    (["-m", "studio.services.training_process"],
     PythonArguments("-m", "studio.services.training_process", ())),
    (["-m", "engine.backends.isolated", "/m.onnx", "fp16"],
     PythonArguments("-m", "engine.backends.isolated", ("/m.onnx", "fp16"))),
    (["-c", "print(1)", "a"], PythonArguments("-c", "print(1)", ("a",))),
    (["-u", "-B", "-m", "engine.cli", "train"], PythonArguments("-m", "engine.cli", ("train",))),
    ([], None), (["-m"], None), (["-u"], None), (["--demo"], None),
    (["project", "-m", "x"], None), (["-u", "project"], None),
])
def test_parse_python_arguments(argv, expected):
    assert parse_python_arguments(argv) == expected


def test_not_frozen_here():
    assert not is_frozen()


def test_only_module_commands_run_here():
    with pytest.raises(ValueError, match="only -m commands"):
        run_module_command(PythonArguments("-c", "print(1)", ()))


def _dispatch(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DISPATCH, *argv], capture_output=True,
                          text=True, timeout=60, check=False)


def test_m_runs_module_as_main_like_python(tmp_path):
    data = tmp_path / "job.json"
    data.write_text('{"b": 1, "a": [2]}')
    ours = _dispatch("-m", "json.tool", "--sort-keys", str(data))
    python = subprocess.run([sys.executable, "-m", "json.tool", "--sort-keys", str(data)],
                            capture_output=True, text=True, timeout=60, check=True)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == python.stdout and ours.stderr == "dispatching\n"
    assert json.loads(python.stdout) == {"a": [2], "b": 1}


def test_a_modules_exit_status_passes_through(tmp_path):
    missing = _dispatch("-m", "json.tool", str(tmp_path / "missing.json"))
    python = subprocess.run([sys.executable, "-m", "json.tool", str(tmp_path / "missing.json")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == python.returncode != 0
    assert "missing.json" in missing.stderr


def test_other_arguments_are_the_apps():
    done = _dispatch("--demo", "pose")
    assert done.returncode == 0 and done.stderr == "not a child\n"
