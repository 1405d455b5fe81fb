"""A faster-to-reuse memory allocator for training: tcmalloc, else jemalloc, preloaded (Linux).

Why: a training step frees and re-allocates about a gigabyte of activation buffers of a few
dozen sizes. glibc's malloc keeps the freed blocks in its heap, cut up in ways the next step's
sizes do not fit, so the process keeps growing well past what it uses: measured on the segment
benchmark (yolov8n-seg, 320 px, batch 16), 1.0 GiB of live memory made a 1.82 GiB peak.
Every glibc tunable we tried either left that alone or doubled the step time (mmap thresholds,
arena counts, trimming). tcmalloc's size-class free lists reuse those blocks as they are:

==========================  ==================  ==================
allocator (4 epochs)        segment s/epoch     pose s/epoch
==========================  ==================  ==================
glibc                       16.0, peak 1.82 GiB 10.8, peak 1.57 GiB
tcmalloc (minimal)          15.8, peak 1.45 GiB 10.3, peak 1.30 GiB
jemalloc, no decay          14.8, peak 1.55 GiB 10.6, peak 1.27 GiB
jemalloc, default decay     20.5, peak 1.37 GiB 13.6, peak 1.21 GiB
==========================  ==================  ==================

jemalloc's default returns memory to the system so eagerly that the next step faults it back
in (25% slower), so it is used without decay. An allocator can only replace malloc when it is
loaded before everything else, so ``relaunch_with_allocator`` starts the same command again
with ``LD_PRELOAD`` set; the ``yolo`` command and the benchmarks call it first thing. Nothing is
downloaded: it uses the system's library when one is installed (``make`` installs Debian's
``libtcmalloc-minimal4`` where it can) and otherwise runs on as before.

``YOLO_ALLOCATOR=system`` keeps the C library's malloc; ``YOLO_ALLOCATOR=/path/lib.so`` picks a
library.

**Only training processes preload it.** OpenVINO 2026.4 aborts beside a preloaded tcmalloc
(``free(): invalid pointer`` / ``munmap_chunk(): invalid pointer``, exit 134) already at
``openvino.Core()`` in a bare Python, before any model is involved: its bundled TBB allocator
and the preloaded malloc free each other's blocks. Export, prediction and validation gain
nothing from the allocator (the figures above are training's), so ``yolo train`` relaunches
with it (``trains``) and the studio starts its training child with ``training_environment``;
every other command, the studio's window and its export/predict children keep the system's
malloc (``without_allocator`` strips one that a parent preloaded).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHOICE_VARIABLE = "YOLO_ALLOCATOR"
"""Environment variable: ``system`` to keep malloc as it is, or the path of a library to preload."""
ACTIVE_VARIABLE = "YOLO_ALLOCATOR_ACTIVE"
"""Set in the relaunched process (to the library's path), so it never relaunches again."""


@dataclass(frozen=True)
class Allocator:
    """One preloadable allocator: its library file and the settings it runs best with."""

    path: Path
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


# Preference order, by the measurements above; the environment is only added when unset.
_KNOWN: tuple[tuple[str, dict[str, str]], ...] = (
    ("libtcmalloc_minimal.so.4", {}),
    ("libtcmalloc.so.4", {}),
    ("libjemalloc.so.2", {"MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"}),
)


def library_directories() -> list[Path]:
    """Where shared libraries of the system live, most specific first."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    roots = ("/usr/local/lib", "/usr/lib", "/lib", "/usr/lib64", "/lib64")
    found: list[Path] = []
    for root in roots:
        if multiarch:
            found.append(Path(root) / multiarch)
        found.append(Path(root))
    return found


def find_allocator(
    environ: Mapping[str, str] | None = None, directories: Sequence[Path] | None = None
) -> Allocator | None:
    """The allocator to preload, or None (not Linux, none installed, or the user said ``system``).

    Raises ValueError when ``YOLO_ALLOCATOR`` names a file that does not exist.
    """
    env = os.environ if environ is None else environ
    choice = env.get(CHOICE_VARIABLE, "").strip()
    if choice.lower() == "system" or not sys.platform.startswith("linux"):
        return None
    if choice:
        path = Path(choice).expanduser()
        if not path.is_file():
            raise ValueError(
                f"{CHOICE_VARIABLE}={choice}: no such library file; give the path of a "
                "malloc library to preload (e.g. libtcmalloc_minimal.so.4) or 'system'"
            )
        known = dict(_KNOWN).get(path.name, {})
        return Allocator(path.resolve(), known)
    for directory in library_directories() if directories is None else directories:
        for filename, settings in _KNOWN:
            candidate = Path(directory) / filename
            if candidate.is_file():
                return Allocator(candidate, settings)
    return None


def relaunch_environment(
    allocator: Allocator, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for the relaunched process: the library first in ``LD_PRELOAD``."""
    env = dict(os.environ if environ is None else environ)
    preload = [entry for entry in env.get("LD_PRELOAD", "").split() if entry]
    env["LD_PRELOAD"] = " ".join([str(allocator.path), *preload])
    env[ACTIVE_VARIABLE] = str(allocator.path)
    for name, value in allocator.environment.items():
        env.setdefault(name, value)
    return env


def active_allocator(environ: Mapping[str, str] | None = None) -> str:
    """What this process allocates with: the preloaded library's file name, or ``system``."""
    env = os.environ if environ is None else environ
    active = env.get(ACTIVE_VARIABLE, "")
    if active and active in env.get("LD_PRELOAD", ""):
        return Path(active).name
    return "system"


def relaunch_with_allocator(argv: Sequence[str] | None = None) -> None:
    """Start this same command again with a better allocator preloaded; returns if it can't.

    Call it first thing in a program's entry point, before torch is imported (the relaunched
    process replaces this one: ``os.execve`` does not return). ``argv`` defaults to the command
    line Python was started with (``sys.orig_argv``, so ``python -m engine.cli`` stays a module
    run). It does nothing when already relaunched, when the user chose ``system``, off Linux,
    or when no allocator library is installed.
    """
    if os.environ.get(ACTIVE_VARIABLE) or "torch" in sys.modules:
        return
    try:
        allocator = find_allocator()
    except ValueError as exc:
        print(f"yolo: {exc}", file=sys.stderr)
        return
    if allocator is None:
        return
    command = list(sys.orig_argv if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, relaunch_environment(allocator))


def trains(args: Sequence[str]) -> bool:
    """Whether ``yolo`` arguments (``[TASK] MODE key=value ...``) ask for training."""
    for token in args:
        key, sep, value = token.partition("=")
        if (sep and key == "mode" and value == "train") or (not sep and token == "train"):
            return True
    return False


def training_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a training child process: the allocator preloaded where one is
    installed and the user did not say ``system``; otherwise the environment as it is."""
    env = dict(os.environ if environ is None else environ)
    if env.get(ACTIVE_VARIABLE) and active_allocator(env) != "system":
        return env
    try:
        allocator = find_allocator(env)
    except ValueError:
        return env  # the user's YOLO_ALLOCATOR names no file: train on the system's malloc
    return env if allocator is None else relaunch_environment(allocator, env)


def without_allocator(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the allocator we preloaded taken out again (for children that
    export or run foreign runtimes; see the module docstring)."""
    env = dict(os.environ if environ is None else environ)
    active = env.pop(ACTIVE_VARIABLE, "")
    if active:
        kept = [entry for entry in env.get("LD_PRELOAD", "").split() if entry != active]
        if kept:
            env["LD_PRELOAD"] = " ".join(kept)
        else:
            env.pop("LD_PRELOAD", None)
    return env
