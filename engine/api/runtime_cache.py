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

Which runtime runs, and how failures fall back to PyTorch: engine/api/fast_path.py.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cancel import NEVER, CancelToken
from ..errors import EngineError, SettingsError
from ..utils.atomic import atomic_directory, atomic_writer
from ..utils.cache_dirs import cache_folder
from ..utils.log_filter import filtered
from ..version import __version__

if TYPE_CHECKING:
    import torch

    from ..backends.base import Backend
    from ..export.parity import ParityRule
    from ..nn.model import TaskModel

log = logging.getLogger(__name__)

RUNTIME_VARIABLE = "YOLO_STUDIO_RUNTIME"
"""Environment variable: the runtime a ``.pt`` runs on when ``runtime=`` is not given."""
PRECISION_VARIABLE = "YOLO_STUDIO_RUNTIME_PRECISION"
"""Environment variable: ``auto`` (the default: OpenVINO computes in bfloat16 where the CPU has
it natively and the result passes the bf16 parity gate, else float32) or ``f32``."""
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
KEPT_ENTRIES = 24
"""Entries kept in the cache, the most recently used first (an n model's is about 13 MB, an s
model's 40 MB): every run of a project the studio predicts with makes one."""
STALE_BUILD_SECONDS = 6 * 3600
"""A build's temp folder older than this was left by a killed process and is removed."""


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
"""What ``runtime=auto`` tries, fastest first: yolov8n-seg at 640 on a quiet 2-core machine here
took 53 ms on OpenVINO, 72 ms on ONNX Runtime (issue 6) and 144 ms on PyTorch (issue 21's
figures; benchmarks/predict_runtime.py measures the whole predict call)."""
TITLES = {"torch": "PyTorch", "openvino": "OpenVINO", "onnx": "ONNX Runtime",
          "OpenVINO": "OpenVINO", "ONNX": "ONNX Runtime"}
"""Backend kinds (and IsolatedBackend runtimes) as the user reads them."""


def runtime_title(backend: Backend) -> str:
    """``OpenVINO``, ``OpenVINO (bf16)``, ``ONNX Runtime``, ``PyTorch`` ...: what runs
    ``backend``, and in bfloat16 where it does."""
    kind = getattr(backend, "runtime", None) or backend.kind
    title = TITLES.get(kind, kind)
    return f"{title} (bf16)" if getattr(backend, "precision", "") == "bf16" else title


def runtime_cache_dir() -> Path:
    """``$YOLO_STUDIO_CACHE_DIR/runtimes``, else ``$XDG_CACHE_HOME/yolo-studio/runtimes``."""
    return cache_folder("runtimes")


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


def precision_preference(environ: dict[str, str] | None = None) -> str:
    """``auto`` or ``f32``, from ``$YOLO_STUDIO_RUNTIME_PRECISION``."""
    value = (os.environ if environ is None else environ).get(PRECISION_VARIABLE, "").strip()
    if value in ("", "auto"):
        return "auto"
    if value in ("f32", "fp32"):
        return "f32"
    raise SettingsError(f"{PRECISION_VARIABLE}={value!r} is not a precision; use auto or f32, "
                        "or unset it", key="runtime")


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
    precision: str = "auto"  # precision_preference()

    @property
    def folder_name(self) -> str:
        name = f"{self.checkpoint[:24]}-{self.task}-{self.imgsz}-{self.runtime}"
        return name if self.precision == "auto" else f"{name}-{self.precision}"


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
            backend, check, precision = _checked_backend(model, key, result.path, rule,
                                                         imgsz_multiple)
            manifest: dict[str, Any] = {
                "version": MANIFEST_VERSION, "key": asdict(key), "status": check.status,
                "parity": check.summary(), "reason": check.reason, "precision": precision,
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


def _quiet_export():
    return filtered("engine.export", _ThisThread())


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _checked_backend(
    model: TaskModel, key: CacheKey, export: Path, rule: ParityRule, multiple: int
) -> tuple[Backend, Any, str]:
    """The export loaded at the fastest precision that passes the gate, its check and that
    precision: bf16 first where OpenVINO computes it natively (about 1.8x float32 here), else
    (or when bf16 fails) float32, the export's own."""
    from ..backends import load_backend

    precisions = _precisions(key)
    for precision in precisions:
        if key.runtime == "openvino":
            _set_inference_precision(export, precision)
        backend = load_backend(export, device="cpu")
        check = _parity(model, backend, rule, key.imgsz, multiple,
                        "bf16" if precision == "bf16" else "fp32")
        if check.passed or precision == precisions[-1]:
            return backend, check, precision
        log.info("bf16 did not pass the parity gate (%s); using float32", check.reason)
    raise AssertionError("unreachable: precisions is never empty")


def _precisions(key: CacheKey) -> list[str]:
    if key.runtime == "openvino" and key.precision == "auto":
        from ..backends.openvino_backend import cpu_supports_bf16

        if cpu_supports_bf16():
            return ["bf16", "f32"]
    return ["f32"]


def _set_inference_precision(folder: Path, precision: str) -> None:
    """Record ``precision`` in the export's metadata.yaml, which the backend reads."""
    import yaml

    from ..backends.openvino_backend import PRECISION_KEY
    from ..formats.export_metadata import METADATA_FILE, write_metadata_yaml

    metadata = yaml.safe_load((folder / METADATA_FILE).read_text(encoding="utf-8"))
    metadata[PRECISION_KEY] = precision
    write_metadata_yaml(folder, metadata)


def _parity(model: TaskModel, backend: Backend, rule: ParityRule, imgsz: int, multiple: int,
            precision: str = "fp32"):
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
                   num_classes=len(model.names), precision=precision)


# -- keeping the cache ---------------------------------------------------------------------


def tidy(root: Path, *, keep: Path) -> None:
    """Remove the least recently used entries beyond KEPT_ENTRIES, and the temp folders of
    builds that were killed (best effort: another process may be using the cache)."""
    now = time.time()
    entries, stale = [], []
    with contextlib.suppress(OSError):
        for child in root.iterdir():
            age = now - child.stat().st_mtime
            if child.name.startswith("."):
                if child.is_dir() and age > STALE_BUILD_SECONDS:
                    stale.append(child)
            elif child.is_dir() and child != keep:
                entries.append((age, child))
    entries.sort()
    for folder in stale + [child for _age, child in entries[KEPT_ENTRIES - 1:]]:
        shutil.rmtree(folder, ignore_errors=True)


def unwritable(folder: Path) -> str:
    """Why nothing can be written in ``folder`` ("is read-only", "is full"), or ``""``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe.", suffix=".tmp") as probe:
            probe.write(b"0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        return "is full" if full else f"is not writable ({exc.strerror or exc})"
    return ""


# -- the child that builds an entry (isolated) ------------------------------------------------

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
