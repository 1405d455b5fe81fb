"""Issue 21, item 3: small jobs are not dominated by fixed costs. Behaviour only, never time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_seeding_sets_deterministic_algorithms_without_loading_the_compiler():
    # torch.use_deterministic_algorithms imports torch._inductor (and with it torch._dynamo and
    # sympy): over a second of every training run's start, for a compiler training never uses.
    out = _run_python("""
        import sys, torch
        from engine.train.seeding import seed_everything
        seed_everything(0, True)
        on = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
        seed_everything(0, False)
        off = torch.are_deterministic_algorithms_enabled()
        print(on, off, "torch._inductor" in sys.modules, "torch._dynamo" in sys.modules)
    """)
    assert out == "(True, True) False False False"


def test_seeding_keeps_the_compilers_setting_when_it_is_loaded():
    out = _run_python("""
        import torch, torch._inductor.config as inductor
        from engine.train.seeding import seed_everything
        seed_everything(0, True)
        first = inductor.deterministic
        seed_everything(0, False)
        print(first, inductor.deterministic)
    """)
    assert out == "True False"


HEAVY = ("torch", "numpy", "pydantic", "cv2", "yaml", "matplotlib")


def _imported_by_console_script(*args: str) -> set[str]:
    """Top-level packages the installed ``yolo`` script imports for ``args`` (-X importtime)."""
    script = Path(sys.executable).with_name("yolo")
    done = subprocess.run([sys.executable, "-X", "importtime", str(script), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "engine" in names  # the script was measured
    return names


def test_yolo_version_imports_no_torch_numpy_or_settings():
    assert not set(HEAVY) & _imported_by_console_script("version")


def test_yolo_help_imports_no_torch():
    assert "torch" not in _imported_by_console_script("help")


def test_the_cli_module_loads_nothing_heavy_before_the_allocator_relaunch():
    # entry() relaunches `yolo train` right after this import: what it loads is paid twice.
    out = _run_python(f"""
        import sys
        import engine.cli
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert out == "[]"
