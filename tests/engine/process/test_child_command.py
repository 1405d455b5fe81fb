"""engine/process/child_command.py: which arguments are a Python-style child command, and that
running one behaves as ``python -m`` / ``python -c`` do (in a fresh interpreter each: it sets
``sys.argv`` and runs ``__main__`` code)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.process.child_command import PythonArguments, is_frozen, parse_python_arguments

DISPATCH = ("import sys; from engine.process.child_command import run_python_arguments; "
            "done = run_python_arguments(sys.argv[1:]); "
            "print('dispatched' if done else 'not a child', file=sys.stderr)")


@pytest.mark.parametrize(("argv", "expected"), [
    (["-m", "studio.services.training_process"],
     PythonArguments("-m", "studio.services.training_process", ())),
    (["-m", "engine.backends.isolated", "/m.onnx", "fp16"],
     PythonArguments("-m", "engine.backends.isolated", ("/m.onnx", "fp16"))),
    (["-c", "print(1)", "a"], PythonArguments("-c", "print(1)", ("a",))),
    ([], None), (["-m"], None), (["--demo"], None), (["project", "-m", "x"], None),
])
def test_parse_python_arguments(argv, expected):
    assert parse_python_arguments(argv) == expected


def test_not_frozen_here():
    assert not is_frozen()


def _dispatch(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DISPATCH, *argv], capture_output=True,
                          text=True, timeout=60, check=False)


def test_c_runs_code_as_main_with_python_argv():
    done = _dispatch("-c", "import sys; print(__name__, sys.argv)", "a", "b")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "__main__ ['-c', 'a', 'b']\n" and done.stderr == "dispatched\n"


def test_m_runs_module_as_main_like_python(tmp_path):
    data = tmp_path / "job.json"
    data.write_text('{"b": 1, "a": [2]}')
    ours = _dispatch("-m", "json.tool", "--sort-keys", str(data))
    python = subprocess.run([sys.executable, "-m", "json.tool", "--sort-keys", str(data)],
                            capture_output=True, text=True, timeout=60, check=True)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == python.stdout and ours.stderr == "dispatched\n"
    assert json.loads(python.stdout) == {"a": [2], "b": 1}


def test_a_childs_exit_status_passes_through(tmp_path):
    done = _dispatch("-c", "raise SystemExit(3)")
    assert done.returncode == 3 and "dispatched" not in done.stderr
    missing = _dispatch("-m", "json.tool", str(tmp_path / "missing.json"))
    assert missing.returncode != 0 and "missing.json" in missing.stderr


def test_other_arguments_are_the_apps():
    done = _dispatch("--demo", "pose")
    assert done.returncode == 0 and done.stderr == "not a child\n"
