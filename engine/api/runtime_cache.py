"""The fast CPU path: a ``.pt`` predicted or validated on the CPU runs on OpenVINO (else ONNX
Runtime) when it is installed and its export passes the parity gate (engine/export/parity.py).

The export is made once per checkpoint content, task, image size and runtime, and kept in
``$YOLO_STUDIO_CACHE_DIR/runtimes`` (else ``$XDG_CACHE_HOME/yolo-studio/runtimes``), one folder
an entry, named by the checkpoint's SHA-256. Batch and image sides are left free in the export
(dynamic axes), so one entry serves every batch and the letterbox a single image gets: the fast
path sees the very tensors PyTorch would, and its results match within the parity tolerances.

An entry is written as a whole (``atomic_directory``); its ``manifest.json`` is written last and
names the key (checkpoint digest, task, size, runtime and its version, our version), the parity
outcome and the SHA-256 of every file. An entry whose manifest is missing, names another key or
lists a file that does not match is rebuilt, never trusted; one whose export failed the check
is remembered, so later processes fall back to PyTorch without exporting again. Two processes
building one entry both succeed: the second finds the first's entry complete and keeps it.

Native code: with ``isolated`` (the ``yolo`` command, the studio) the export and the parity
check run in a child process (``python -m engine.api.runtime_cache``) and the runtime in
another (``IsolatedBackend``), so a crash or a broken install is a warning and PyTorch. A
script's ``YOLO(...)`` runs the runtime in its own process, as it runs an export it opens
(OpenVINO in-process is safe on the system's malloc; a process with the training allocator
preloaded runs it isolated: see engine/process/allocator.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cancel import NEVER, CancelToken
from ..errors import Cancelled, EngineError, SettingsError
from ..events import Reporter, RunStarted, Warning, ignore, reported_run
from ..process.allocator import active_allocator, without_allocator
from ..utils.atomic import atomic_directory, atomic_writer
from ..utils.child_process import describe_exit
from ..version import __version__

if TYPE_CHECKING:
    import torch

    from ..backends.base import Backend
    from ..export.parity import ParityRule
    from ..nn.model import TaskModel

log = logging.getLogger(__name__)

RUNTIME_VARIABLE = "YOLO_STUDIO_RUNTIME"
"""Environment variable: the runtime a ``.pt`` runs on when ``runtime=`` is not given."""
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Runtime:
    """One runtime the fast path can use: its ``runtime=`` name, the module and distribution it
    needs, the export format that feeds it and the backend kind that runs that export."""

    name: str
    title: str
    module: str
    distribution: str
    format: str
    kind: str


RUNTIMES = {
    "openvino": Runtime("openvino", "OpenVINO", "openvino", "openvino", "openvino", "OpenVINO"),
    "onnxruntime": Runtime("onnxruntime", "ONNX Runtime", "onnxruntime", "onnxruntime", "onnx",
                           "ONNX"),
}
AUTO_ORDER = ("openvino", "onnxruntime")
"""What ``runtime=auto`` tries, fastest first (yolov8n-seg at 640 on this CPU: OpenVINO about
2.5x PyTorch's speed, ONNX Runtime about 1.7x; benchmarks/predict_runtime.py)."""
TITLES = {"torch": "PyTorch", "openvino": "OpenVINO", "onnx": "ONNX Runtime",
          "OpenVINO": "OpenVINO", "ONNX": "ONNX Runtime"}
"""Backend kinds (and IsolatedBackend runtimes) as the user reads them."""


def runtime_title(backend: Backend) -> str:
    """``OpenVINO``, ``ONNX Runtime``, ``PyTorch`` ...: what runs ``backend``."""
    kind = getattr(backend, "runtime", None) or backend.kind
    return TITLES.get(kind, kind)


def runtime_cache_dir() -> Path:
    """``$YOLO_STUDIO_CACHE_DIR/runtimes``, else ``$XDG_CACHE_HOME/yolo-studio/runtimes``."""
    explicit = os.environ.get("YOLO_STUDIO_CACHE_DIR")
    if explicit:
        return Path(explicit) / "runtimes"
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "yolo-studio" / "runtimes"


def default_runtime(environ: dict[str, str] | None = None) -> str | None:
    """The runtime ``$YOLO_STUDIO_RUNTIME`` asks for, or None when it is unset."""
    value = (os.environ if environ is None else environ).get(RUNTIME_VARIABLE, "").strip()
    if not value:
        return None
    if value not in ("auto", "torch", *RUNTIMES):
        raise SettingsError(
            f"{RUNTIME_VARIABLE}={value!r} is not a runtime; use auto, torch, "
            f"{', '.join(RUNTIMES)}, or unset it",
            key="runtime",
        )
    return value


# -- the key ---------------------------------------------------------------------------------

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file (hex); a checkpoint's is remembered per path, size and mtime."""
    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _DIGESTS:
        _DIGESTS[memo] = _sha256(path)
    return _DIGESTS[memo]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """What an entry was built from; any difference makes it stale."""

    checkpoint: str  # SHA-256 of the .pt
    task: str
    imgsz: int
    runtime: str
    runtime_version: str
    engine_version: str = __version__

    @property
    def folder_name(self) -> str:
        return f"{self.checkpoint[:24]}-{self.task}-{self.imgsz}-{self.runtime}"


def runtime_version(runtime: Runtime) -> str:
    """The installed version of ``runtime``'s package (read without importing it)."""
    try:
        return importlib.metadata.version(runtime.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Entry:
    """A cache entry read back: ``passed`` with the export's path, or ``failed`` with why."""

    status: str
    model: Path | None = None
    reason: str = ""
    parity: str = ""


def read_entry(folder: Path, key: CacheKey) -> Entry | None:
    """The entry in ``folder`` when it is complete, of ``key``, and every file is intact;
    else None (missing, stale or corrupt: build it again)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("key") != asdict(key):
        return None
    if manifest.get("status") != "passed":
        return Entry("failed", reason=str(manifest.get("reason", "")),
                     parity=str(manifest.get("parity", "")))
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    for name, digest in files.items():
        file = folder / name
        if ".." in Path(name).parts or not file.is_file() or _sha256(file) != digest:
            return None
    return Entry("passed", folder / str(manifest.get("model", "")),
                 parity=str(manifest.get("parity", "")))


# -- building an entry ---------------------------------------------------------------------


class _BuiltElsewhere(Exception):  # noqa: N818 - a signal, not an error
    """Another process completed the same entry while this one built it."""


def build_entry(
    model: TaskModel,
    key: CacheKey,
    folder: Path,
    *,
    rule: ParityRule,
    imgsz_multiple: int,
    cancel: CancelToken = NEVER,
) -> tuple[Entry, Backend | None]:
    """Export ``model`` for ``key.runtime`` into ``folder`` (atomically, manifest last), run it
    beside the PyTorch model (the parity gate) and return the entry with the loaded backend
    (None when the check failed: the entry then only remembers why)."""
    from ..backends import load_backend
    from ..export import export_model

    runtime = RUNTIMES[key.runtime]
    backend = None
    try:
        with atomic_directory(folder) as temp, _quiet_export():
            result = export_model(
                model, runtime.format, output=temp / "model.pt", imgsz=key.imgsz, dynamic=True,
                verify=False, metadata={"names": dict(model.names)}, parity=rule,
                imgsz_multiple=imgsz_multiple, cancel=cancel,
            )
            backend = load_backend(result.path, device="cpu")
            check = _parity(model, backend, rule, key.imgsz, imgsz_multiple)
            manifest: dict[str, Any] = {
                "version": MANIFEST_VERSION, "key": asdict(key), "status": check.status,
                "parity": check.summary(), "reason": check.reason,
            }
            if check.passed:
                manifest["model"] = result.path.relative_to(temp).as_posix()
                manifest["files"] = {
                    file.relative_to(temp).as_posix(): _sha256(file)
                    for file in sorted(temp.rglob("*")) if file.is_file()
                }
            else:  # only the verdict is kept
                _remove(result.path)
            if read_entry(folder, key) is not None:
                raise _BuiltElsewhere
            with atomic_writer(temp / MANIFEST) as handle:  # last: the entry is complete
                handle.write(json.dumps(manifest, indent=1).encode())
    except (_BuiltElsewhere, FileNotFoundError, FileExistsError) as exc:
        # another process put its (equal) entry in place first: use that one
        entry = read_entry(folder, key)
        if entry is None:
            raise EngineError(f"the cache entry could not be written ({exc})",
                              path=folder) from exc
        return entry, backend if entry.status == "passed" else None
    if backend is not None:
        backend.source = str(folder / manifest.get("model", ""))
    entry = Entry(manifest["status"], folder / manifest["model"] if check.passed else None,
                  reason=check.reason, parity=check.summary())
    return entry, backend if check.passed else None


class _ThisThread(logging.Filter):
    """Drops the records of one thread (the export's own report: the entry is not a file the
    user asked for, and the caller says in one line what is happening)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread or record.levelno >= logging.WARNING


@contextlib.contextmanager
def _quiet_export():
    exporter_log = logging.getLogger("engine.export")
    quiet = _ThisThread()
    exporter_log.addFilter(quiet)
    try:
        yield
    finally:
        exporter_log.removeFilter(quiet)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _parity(model: TaskModel, backend: Backend, rule: ParityRule, imgsz: int, multiple: int):
    """The export against the PyTorch model: seeded noise at ``imgsz`` (batch 1), and a batch
    of two at a letterbox's shape (the free axes the fast path uses)."""
    import torch

    from ..backends.torch_backend import prepare_model
    from ..export.parity import compare, parity_inputs

    reference = prepare_model(model).cpu().float()
    inputs = parity_inputs(1, model.in_channels, (imgsz, imgsz))
    width = max(multiple, (imgsz * 3 // 4) // multiple * multiple)
    generator = torch.Generator().manual_seed(1)
    inputs.append(torch.rand(2, model.in_channels, imgsz, width, generator=generator))

    def run_reference(images: torch.Tensor):
        with torch.inference_mode():
            return reference(images)

    return compare(rule, run_reference, backend.forward, inputs,
                   num_classes=len(model.names), precision="fp32")


# -- choosing the backend ------------------------------------------------------------------


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
                       runtime_version(runtime))
    except OSError as exc:
        return _fall_back(path, f"{path.checkpoint} could not be read to key the {runtime.title} "
                          f"cache ({exc.strerror or exc})")
    folder = runtime_cache_dir() / key.folder_name
    entry = read_entry(folder, key)
    if entry is not None and entry.status == "passed":
        try:
            return _load(entry, runtime, path)
        except EngineError as exc:  # intact files the runtime refuses: made again below
            log.info("rebuilding %s: %s", folder, exc)
    elif entry is not None:
        return _fall_back(path, _failed_text(runtime, entry))
    problem = _unwritable(folder.parent)
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
    log.info("predicting %s with %s (cached in %s)", path.checkpoint.name, runtime.title,
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
    except (EngineError, OSError) as exc:
        return _fall_back(path, f"the {runtime.title} export for the fast CPU path failed "
                          f"({str(exc).splitlines()[0][:300] if str(exc) else exc!r}); "
                          "predicting with PyTorch")
    if entry.status != "passed":
        return _fall_back(path, _failed_text(runtime, entry))
    if backend is not None:
        return backend
    try:
        return _load(entry, runtime, path)
    except EngineError as exc:
        return _fall_back(path, f"{runtime.title} could not load its export ({exc}); "
                          "predicting with PyTorch")


def _failed_text(runtime: Runtime, entry: Entry) -> str:
    return (f"the {runtime.title} export of this checkpoint does not match PyTorch "
            f"({entry.reason or entry.parity}); predicting with PyTorch")


def _fall_back(path: FastPath, message: str) -> None:
    log.warning("%s", message)
    path.progress(Warning(message, path=str(path.checkpoint)))
    return None


def _unwritable(folder: Path) -> str:
    """Why nothing can be written in ``folder`` ("is read-only", "is full"), or ``""``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe.", suffix=".tmp") as probe:
            probe.write(b"0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return "is full" if exc.errno in (28, 122) else f"is not writable ({exc.strerror})"
    return ""


# -- the child that builds an entry (isolated) ------------------------------------------------

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


def _child(checkpoint: str, key_json: str, folder: str, multiple: str) -> int:
    answers = os.fdopen(os.dup(1), "w")  # the answer's own copy of stdout
    os.dup2(2, 1)  # what a converter prints goes to stderr
    from ..checkpoints import load_model
    from ..tasks import get_task

    key = CacheKey(**json.loads(key_json))
    try:
        if file_digest(checkpoint) != key.checkpoint:
            raise EngineError("changed while its runtime cache was built; predict again",
                              path=checkpoint)
        model, _ = load_model(Path(checkpoint))
        entry, _backend = build_entry(model, key, Path(folder), rule=get_task(key.task).parity(),
                                      imgsz_multiple=int(multiple))
        reply = {"status": entry.status, "reason": entry.reason, "parity": entry.parity,
                 "model": str(entry.model) if entry.model else None}
    except (EngineError, OSError) as exc:
        reply = {"error": str(exc)[:500] or type(exc).__name__}
    answers.write(json.dumps(reply) + "\n")
    answers.flush()
    return 0


if __name__ == "__main__":  # torch's thread settings come with the parent's environment
    with contextlib.suppress(BrokenPipeError):
        sys.exit(_child(*sys.argv[1:5]))
