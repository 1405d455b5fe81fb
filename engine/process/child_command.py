"""Python-style child commands in a frozen build (the desktop bundle).

The engine and the studio start their children as Python would: ``sys.executable -m MODULE``
(the studio's training process, its export child, the isolated runtimes, the runtime cache) or
``sys.executable -c CODE`` (the TensorFlow and Paddle converters), and the allocator relaunch
runs ``sys.orig_argv`` again. In the bundle ``sys.executable`` is the app's own program, not a
Python, so the bundle's entry (installer/bundle/yolo_studio.py) first asks
:func:`parse_python_arguments` whether its arguments are one of those two forms and runs them
as ``python`` does (``-m`` by :func:`run_module_command`); anything else is the app's own
command line. One dispatch at the entry, rather than a frozen-aware command builder at each of
the nine places that start a child (grep ``sys.executable``), keeps every call site as it is
and covers the children a later change adds. Unfrozen, ``sys.executable`` is Python and
nothing here is used.
"""

from __future__ import annotations

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


IGNORED_FLAGS = frozenset({"-u", "-B", "-s", "-E", "-I", "-O", "-OO", "-q"})
"""Interpreter options a launcher may put before ``-m``/``-c`` (torchrun adds ``-u``); a frozen
program has no use for them (its own children flush what they write)."""


def parse_python_arguments(argv: Sequence[str]) -> PythonArguments | None:
    """The ``-m``/``-c`` form of ``argv`` (the arguments after the program), else None.

    Recognised: any of :data:`IGNORED_FLAGS`, then ``-m MODULE`` or ``-c CODE``, then the
    child's own arguments. ``-m`` or ``-c`` without an operand is not a child command (the
    app's parser reports it).
    """
    start = 0
    while start < len(argv) and argv[start] in IGNORED_FLAGS:
        start += 1
    rest = argv[start:]
    if len(rest) < 2 or rest[0] not in ("-m", "-c"):
        return None
    return PythonArguments(rest[0], rest[1], tuple(rest[2:]))


def run_module_command(command: PythonArguments) -> None:
    """Run a ``-m`` command as ``python -m`` does: ``sys.argv`` is the module's file, then its
    arguments; a ``SystemExit`` from the module passes through as its exit status. (``-c``
    code is run by the bundle's entry, installer/bundle/yolo_studio.py: the engine executes
    no code from strings, tests/test_architecture.py.)"""
    if command.flag != "-m":
        raise ValueError(f"{command.flag} {command.target!r}: only -m commands run here")
    sys.argv = [command.target, *command.args]  # runpy puts the module's file first
    runpy.run_module(command.target, run_name="__main__", alter_sys=True)
