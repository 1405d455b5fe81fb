"""Choosing what runs a ``.pt`` on the CPU: the fastest runtime installed whose export passes
the parity gate, built into the cache once (engine/api/runtime_cache.py), else PyTorch.

Every way it can fail ends in PyTorch with one Warning event (and one log line) saying why and
what to do: a cache folder that cannot be written or is full, a runtime that is installed but
does not import, an export that fails or does not match PyTorch, a runtime that crashes.

Native code: with ``isolated`` (the ``yolo`` command, the studio) the export and the parity
check run in a child process (``python -m engine.api.runtime_cache``) and the runtime in
another (``IsolatedBackend``), so a crash or a broken install is a warning. A script's
``YOLO(...)`` runs the runtime in its own process, as it runs an export it opens (OpenVINO
in-process is safe on the system's malloc); a process with the training allocator preloaded
runs it isolated (OpenVINO aborts beside it: engine/process/allocator.py).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..cancel import NEVER, CancelToken
from ..errors import Cancelled, EngineError, SettingsError
from ..events import Reporter, RunStarted, Warning, ignore, reported_run
from ..process.allocator import active_allocator, without_allocator
from ..utils.child_process import describe_exit
from .runtime_cache import (
    AUTO_ORDER,
    RUNTIMES,
    CacheKey,
    Entry,
    Runtime,
    build_entry,
    file_digest,
    precision_preference,
    read_entry,
    runtime_cache_dir,
    runtime_version,
    tidy,
    unwritable,
)

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..export.parity import ParityRule
    from ..nn.model import TaskModel

log = logging.getLogger(__name__)


@dataclass
class FastPath:
    """How ``choose_backend`` runs a checkpoint: the model, its file, its task's rule."""

    model: TaskModel
    checkpoint: Path
    task: str
    rule: ParityRule
    imgsz_multiple: int
    isolated: bool = False
    progress: Reporter = ignore
    cancel: CancelToken = NEVER


def choose_backend(path: FastPath, requested: str, imgsz: int) -> Backend | None:
    """The backend of the fastest runtime for ``path`` at ``imgsz`` (``requested``: ``auto`` or
    one of RUNTIMES), built into the cache the first time; None to run PyTorch (the reason was
    logged and reported as one Warning)."""
    runtime = _pick(requested)
    if runtime is None:
        return None
    try:
        key = CacheKey(file_digest(path.checkpoint), path.task, int(imgsz), runtime.name,
                       runtime_version(runtime), precision=precision_preference())
    except OSError as exc:
        return _fall_back(path, f"{path.checkpoint} could not be read to key the {runtime.title} "
                          f"cache ({exc.strerror or exc})")
    folder = runtime_cache_dir() / key.folder_name
    entry = read_entry(folder, key)
    if entry is not None and entry.status == "passed":
        with contextlib.suppress(OSError):  # the most recently used entries are kept
            os.utime(folder)
        try:
            return _load(entry, runtime, path)
        except Exception as exc:  # noqa: BLE001 - files the runtime refuses: made again below
            log.info("rebuilding %s: %s", folder, exc)
    elif entry is not None:
        return _fall_back(path, _failed_text(runtime, entry))
    problem = unwritable(folder.parent)
    if problem:
        return _fall_back(path, f"the {runtime.title} cache folder {folder.parent} {problem}; "
                          "predicting with PyTorch (make it writable, or set "
                          "YOLO_STUDIO_CACHE_DIR to a writable folder)")
    return _build(path, runtime, key, folder)


def _pick(requested: str) -> Runtime | None:
    """The runtime to use: the one asked for, or the first of AUTO_ORDER that is installed."""
    if requested in RUNTIMES:
        runtime = RUNTIMES[requested]
        if not _installed(runtime):
            raise SettingsError(
                f"runtime={requested} needs {runtime.distribution}, which is not installed "
                f"(pip install {runtime.distribution}); or use runtime=auto",
                key="runtime",
            )
        return runtime
    return next((RUNTIMES[name] for name in AUTO_ORDER if _installed(RUNTIMES[name])), None)


def _installed(runtime: Runtime) -> bool:
    """Whether the runtime's module is there (found without importing it)."""
    try:
        return importlib.util.find_spec(runtime.module) is not None
    except (ImportError, ValueError):  # a module replaced in sys.modules: it is there, broken
        return True


def _importable(runtime: Runtime) -> str:
    """Why ``runtime`` cannot be imported in this process, or ``""``."""
    try:
        importlib.import_module(runtime.module)
    except Exception as exc:  # noqa: BLE001 - a broken install raises anything at import
        lines = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"
    return ""


def _runs_isolated(path: FastPath) -> bool:
    """The caller asked for it, or this process has the training allocator preloaded (OpenVINO
    aborts beside it)."""
    return path.isolated or active_allocator() != "system"


def _load(entry: Entry, runtime: Runtime, path: FastPath) -> Backend:
    from ..backends import load_backend

    isolated = _runs_isolated(path)
    if not isolated:
        problem = _importable(runtime)
        if problem:
            raise EngineError(f"{runtime.title} is installed but does not load ({problem})")
    backend = load_backend(entry.model, device="cpu", isolated=isolated)
    log.info("running %s on %s (cached in %s)", path.checkpoint.name, runtime.title,
             entry.model.parent)
    return backend


def _build(path: FastPath, runtime: Runtime, key: CacheKey, folder: Path) -> Backend | None:
    """Export and check once (one log line, one export run's events), then load."""
    isolated = _runs_isolated(path)
    if not isolated:
        problem = _importable(runtime)
        if problem:
            return _fall_back(path, f"{runtime.title} is installed but does not load "
                              f"({problem}); predicting with PyTorch. Reinstall it (pip "
                              f"install --force-reinstall {runtime.distribution}) or set "
                              "runtime=torch")
    doing = (f"compiling {path.checkpoint.name} for {runtime.title} at {key.imgsz} px, once: "
             f"later runs reuse {folder}")
    log.info("%s", doing)
    path.progress(RunStarted("export", path.task, str(folder), 1, doing))
    backend = None
    try:
        with reported_run("export", path.progress) as record:
            record.save_dir = str(folder)
            if isolated:
                entry = _build_in_child(path, runtime, key, folder)
            else:
                entry, backend = build_entry(path.model, key, folder, rule=path.rule,
                                             imgsz_multiple=path.imgsz_multiple,
                                             cancel=path.cancel)
            record.status = "completed" if entry.status == "passed" else "failed"
            record.message = entry.parity
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a runtime or converter raises: PyTorch
        return _fall_back(path, f"the {runtime.title} export for the fast CPU path failed "
                          f"({_reason(exc)}); predicting with PyTorch")
    tidy(folder.parent, keep=folder)
    if entry.status != "passed":
        return _fall_back(path, _failed_text(runtime, entry))
    if backend is not None:
        return backend
    try:
        return _load(entry, runtime, path)
    except Exception as exc:  # noqa: BLE001 - whatever a runtime raises: PyTorch
        return _fall_back(path, f"{runtime.title} could not load its export ({_reason(exc)}); "
                          "predicting with PyTorch")


def _reason(exc: BaseException) -> str:
    """An error's first line without the (temp) file it names: the checkpoint is named."""
    text = getattr(exc, "message", None) or str(exc) or repr(exc)
    return text.strip().splitlines()[0][:500]


def _failed_text(runtime: Runtime, entry: Entry) -> str:
    return (f"the {runtime.title} export of this checkpoint does not match PyTorch "
            f"({entry.reason or entry.parity}); predicting with PyTorch")


def _fall_back(path: FastPath, message: str) -> None:
    log.warning("%s", message)
    path.progress(Warning(message, path=str(path.checkpoint)))
    return None




# -- building in a child process (isolated) ----------------------------------------------

_POLL_SECONDS = 0.2


def _build_in_child(path: FastPath, runtime: Runtime, key: CacheKey, folder: Path) -> Entry:
    """``build_entry`` in ``python -m engine.api.runtime_cache``; a crash is an EngineError."""
    command = [sys.executable, "-m", "engine.api.runtime_cache", str(path.checkpoint.resolve()),
               json.dumps(asdict(key)), str(folder), str(path.imgsz_multiple)]
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr,
                                 env=without_allocator())
        try:
            while child.poll() is None:
                if path.cancel.cancelled:
                    child.kill()
                    child.wait()
                    path.cancel.raise_if_cancelled()
                time.sleep(_POLL_SECONDS)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        answer = child.stdout.read().decode("utf-8", "replace").strip().splitlines()
        child.stdout.close()
        if child.returncode == 0 and answer:
            reply = json.loads(answer[-1])
            if "error" in reply:
                raise EngineError(reply["error"], path=path.checkpoint)
            return Entry(reply["status"], Path(reply["model"]) if reply.get("model") else None,
                         reason=reply.get("reason", ""), parity=reply.get("parity", ""))
        stderr.seek(0)
        lines = stderr.read().decode("utf-8", "replace").strip().splitlines()
    said = f": {lines[-1][:300]}" if lines else ""
    raise EngineError(describe_exit(runtime.title, child.returncode, "compiling the model")
                      + said, path=path.checkpoint)
