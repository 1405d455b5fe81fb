"""Python-style child commands in a frozen build (the desktop bundle).

The engine and the studio start their children as Python would: ``sys.executable -m MODULE``
(the studio's training process, its export child, the isolated runtimes, the runtime cache) or
``sys.executable -c CODE`` (the TensorFlow and Paddle converters), and the allocator relaunch
runs ``sys.orig_argv`` again. In the bundle ``sys.executable`` is the app's own program, not a
Python, so the bundle's entry (installer/bundle/yolo_studio.py) hands its arguments to
:func:`run_python_arguments` first: those two forms run as ``python`` runs them, anything else
is the app's own command line. One dispatch at the entry, rather than a frozen-aware command
builder at each of the seven places that start a child, keeps every call site as it is and
covers the children a later change adds. Unfrozen, ``sys.executable`` is Python and nothing
here is used.
"""

from __future__ import annotations

import builtins
import runpy
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PythonArguments:
    """``-m module args`` (``flag == "-m"``) or ``-c code args`` (``flag == "-c"``)."""

    flag: str
    target: str
    args: tuple[str, ...]


def is_frozen() -> bool:
    """Whether this process runs from a frozen build (PyInstaller sets ``sys.frozen``)."""
    return bool(getattr(sys, "frozen", False))


def parse_python_arguments(argv: Sequence[str]) -> PythonArguments | None:
    """The ``-m``/``-c`` form of ``argv`` (the arguments after the program), else None.

    Only the forms our own children use are recognised: the flag first, then its operand.
    ``-m`` or ``-c`` without an operand is not a child command (the app's parser reports it).
    """
    if len(argv) < 2 or argv[0] not in ("-m", "-c"):
        return None
    return PythonArguments(argv[0], argv[1], tuple(argv[2:]))


def run_python_arguments(argv: Sequence[str]) -> bool:
    """Run ``argv`` as ``python`` would when it is a ``-m``/``-c`` child command; return
    whether it was one. ``sys.argv`` is what Python sets (the module's file or ``-c``, then the
    rest); a ``SystemExit`` from the child's code passes through as its exit status."""
    command = parse_python_arguments(argv)
    if command is None:
        return False
    if command.flag == "-m":
        sys.argv = [command.target, *command.args]  # runpy puts the module's file first
        runpy.run_module(command.target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *command.args]
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        # the code is our own (a converter's script in engine/export), as `python -c` runs it
        exec(compile(command.target, "<string>", "exec"), namespace)  # noqa: S102
    return True
