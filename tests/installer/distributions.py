"""The wheel and the sdist, built as ``make dist`` builds them, for the installer tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

from engine.version import __version__

ROOT = Path(__file__).resolve().parents[2]
WHEEL_NAME = f"yolo_studio-{__version__}-py3-none-any.whl"
SDIST_NAME = f"yolo_studio-{__version__}.tar.gz"


def build_distributions(out: Path) -> tuple[Path, Path]:
    """``(wheel, sdist)`` built into ``out`` by ``python -m build --no-isolation`` (the wheel
    from the sdist, as ``make dist`` does), with the test venv's pinned build tools."""
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"python -m build failed:\n{done.stdout[-4000:]}\n{done.stderr}"
    built = sorted(p.name for p in out.iterdir())
    assert built == sorted([WHEEL_NAME, SDIST_NAME]), built
    return out / WHEEL_NAME, out / SDIST_NAME


def wheel_metadata(wheel: Path) -> Message:
    """The wheel's ``METADATA`` (name, version, requirements, extras)."""
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"yolo_studio-{__version__}.dist-info/METADATA").decode()
    return HeaderParser().parsestr(text)
