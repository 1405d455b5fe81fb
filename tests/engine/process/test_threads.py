"""The thread policy: OpenMP spin settings before torch starts, non-spinning ORT sessions."""

import os
import subprocess
import sys
from pathlib import Path

from engine.process.threads import OPENMP_SETTINGS, configure_threads, session_options

ROOT = Path(__file__).resolve().parents[3]


def test_sets_the_openmp_spin_policy_when_the_user_chose_none():
    environ = {"PATH": "/bin"}
    assert configure_threads(environ) == OPENMP_SETTINGS
    assert environ == {"PATH": "/bin", **OPENMP_SETTINGS}


def test_a_users_own_openmp_policy_is_kept():
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        environ = {name: "ACTIVE" if name == "OMP_WAIT_POLICY" else "200000"}
        before = dict(environ)
        assert configure_threads(environ) == {}
        assert environ == before


def test_too_late_once_torch_is_imported(monkeypatch):
    for name in OPENMP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert "torch" in sys.modules  # the test session has imported it
    assert configure_threads() == {}
    assert not set(OPENMP_SETTINGS) & set(os.environ)


def test_can_run_before_torch_is_imported():
    # ``import engine`` and the CLI module load no torch, so the policy can still reach it.
    code = (
        "import os, sys\n"
        "import engine, engine.cli\n"
        "from engine.process.threads import configure_threads, OPENMP_SETTINGS\n"
        "import engine.backends\n"
        "assert 'torch' not in sys.modules, 'importing engine must not import torch'\n"
        "assert configure_threads() == OPENMP_SETTINGS\n"
        "from engine import YOLO\n"
        "assert 'torch' in sys.modules\n"
        "assert all(os.environ[k] == v for k, v in OPENMP_SETTINGS.items())\n"
        "from engine.backends import load_backend\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_SETTINGS}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


def test_the_yolo_command_applies_the_policy_before_torch_loads():
    # The console script's entry point: the environment torch's OpenMP runtime starts with.
    code = (
        "import os, sys\n"
        "from engine.cli import main\n"
        "assert main(['info', 'model=yolov8n-cls.yaml']) == 0\n"
        "print(os.environ.get('GOMP_SPINCOUNT'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_SETTINGS}
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.stdout.strip().splitlines()[-1] == OPENMP_SETTINGS["GOMP_SPINCOUNT"]


def test_onnxruntime_sessions_spin_only_while_they_run():
    options = session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    assert options.inter_op_num_threads == 1 and options.intra_op_num_threads == 0
    quiet = session_options(intra_op_threads=2, spinning=False)
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert quiet.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert quiet.intra_op_num_threads == 2
