"""Progress leaves the engine as small frozen events passed to a plain callable (a Reporter).

The CLI renders them with tqdm; the studio's worker passes ``signal.emit``. Events carry plain
values only (str, int, float, tuples, mappings of those), so they cross threads safely.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from .errors import Cancelled

Mode = Literal["train", "val", "predict", "export"]


def _frozen(values: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class DownloadProgress:
    """``done`` of ``total`` bytes of ``url`` have arrived (total is None when unknown).

    ``verified`` is set on the finished event: True when the file's SHA-256 matched a known
    digest, False when none is known ("not verified": only its size and format were checked).
    """

    url: str
    done: int
    total: int | None
    finished: bool = False
    verified: bool | None = None


@dataclass(frozen=True)
class RunStarted:
    """A train/val/predict/export run began; ``total`` counts its epochs, batches or items."""

    mode: Mode
    task: str
    save_dir: str | None
    total: int | None = None
    description: str = ""


@dataclass(frozen=True)
class StepEnd:
    """One training step (or one val/predict batch) is done.

    ``step`` counts from 1 within the epoch, of ``steps`` in all; ``losses`` are running means.
    """

    mode: Mode
    epoch: int
    epochs: int
    step: int
    steps: int
    losses: Mapping[str, float] = field(default_factory=_frozen)
    lr: float | None = None
    images_per_s: float | None = None


@dataclass(frozen=True)
class EpochEnd:
    """An epoch is done; ``metrics`` hold train losses, val metrics and lr (results.csv row)."""

    epoch: int
    epochs: int
    metrics: Mapping[str, float] = field(default_factory=_frozen)
    seconds: float = 0.0
    best_fitness: float | None = None
    is_best: bool = False


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    is_best: bool = False


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the event's name in the studio's log
    """Something the user should know that did not stop the run (a skipped image, a rounding)."""

    message: str
    path: str | None = None


@dataclass(frozen=True)
class RunFinished:
    """The run ended: ``status`` is completed, cancelled or failed; ``results`` is a summary."""

    mode: Mode
    status: Literal["completed", "cancelled", "failed"]
    save_dir: str | None = None
    results: Mapping[str, float] = field(default_factory=_frozen)
    message: str = ""
    seconds: float = 0.0


Event = DownloadProgress | RunStarted | StepEnd | EpochEnd | CheckpointSaved | Warning | RunFinished
Reporter = Callable[[Event], None]
EVENT_TYPES: tuple[type, ...] = get_args(Event)
"""Every event class, in one place: a transport that sends events by name (the studio's training
process) decodes with this, so a new event added to ``Event`` is carried, never dropped."""
_BY_NAME = {event_type.__name__: event_type for event_type in EVENT_TYPES}


def event_payload(event: Any) -> dict[str, Any] | None:
    """An event as ``{"event": name, "fields": {...}}`` for a JSON transport (the studio's
    training process, the distributed launcher's event file); None for anything else. Dump it
    with ``json.dumps(..., default=json_default)``."""
    name = type(event).__name__
    if name not in _BY_NAME:
        return None
    # not asdict: it deep-copies, and the events' mappings are read-only proxies
    return {"event": name, "fields": {f.name: getattr(event, f.name) for f in fields(event)}}


def event_from_payload(payload: Mapping[str, Any]) -> Event:
    """The event of an :func:`event_payload` read back from JSON (KeyError or TypeError for a
    foreign one)."""
    return _BY_NAME[payload["event"]](**payload["fields"])


def json_default(value: Any) -> Any:
    """``json.dumps``' ``default`` for event fields: read-only mappings and paths."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def ignore(_event: Event) -> None:
    """A Reporter that drops everything."""


def frozen_metrics(values: Mapping[str, float]) -> Mapping[str, float]:
    """A read-only copy of ``values`` with plain floats, fit for an event."""
    return _frozen({str(k): float(v) for k, v in values.items()})


@dataclass
class RunRecord:
    """What :func:`reported_run` puts in its closing ``RunFinished``; the run fills it in."""

    save_dir: str | None = None
    results: Mapping[str, float] = field(default_factory=_frozen)
    status: Literal["completed", "cancelled", "failed"] = "completed"
    """A run can reach its end and still fail (an export whose parity check failed), or end
    cancelled with what it saved (training stopped between epochs)."""
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=_frozen)
    """Results that are not numbers (an export's summary), passed on as they are."""


@contextmanager
def reported_run(mode: Mode, progress: Reporter) -> Iterator[RunRecord]:
    """Close a run with exactly one ``RunFinished``, whichever way it ends.

    A run that reaches its end reports ``record.results`` and ``record.details`` with
    ``record.status`` and ``record.message``; ``Cancelled``, Ctrl+C (KeyboardInterrupt) and a
    generator closed early by its consumer report "cancelled", any other exception "failed"
    with its message; exceptions propagate unchanged.
    """
    record = RunRecord()
    started = time.perf_counter()

    def finish(status: Literal["completed", "cancelled", "failed"], message: str = "",
               results: Mapping[str, Any] | None = None) -> None:
        progress(RunFinished(mode, status, record.save_dir, _frozen(results), message,
                             seconds=time.perf_counter() - started))

    try:
        yield record
    except (Cancelled, KeyboardInterrupt, GeneratorExit) as exc:
        finish("cancelled", "stopped by the caller" if isinstance(exc, GeneratorExit) else str(exc))
        raise
    except BaseException as exc:
        finish("failed", str(exc))
        raise
    finish(record.status, record.message, {**frozen_metrics(record.results), **record.details})
