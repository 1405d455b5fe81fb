"""Training runs and exports recorded in the project database, and the models a page can pick
(a run's ``best.pt`` / ``last.pt``, or any checkpoint or exported file the engine can run).

The Train page writes runs (``start_run``, ``record_epoch``, ``finish_run``); Evaluate, Predict
and Export read them (``list_runs``) to offer their checkpoints. Exports are recorded as they
finish (``record_export``) and read back by the Export page after a restart (``list_exports``).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.utils.atomic import atomic_writer

from ..state import ExportRecord, Run, RunEpoch
from ..state.models import utc_now
from .projects import Project

RUN_STATUSES = ("running", "completed", "cancelled", "failed")
LOG_NAME = "studio_log.txt"
"""The Train page's log of a run, kept in its folder so it shows again after a restart."""
TRASH_FOLDER = ".trash/runs"
"""Where a deleted run's folder goes, inside the project folder (restorable by hand)."""


class RunError(ValueError):
    """A run cannot be renamed or deleted as asked (the message says why)."""


@dataclass(frozen=True)
class ExportInfo:
    """One recorded export: its format, where it was written, its status and figures."""

    id: int
    run_id: int | None
    format: str
    path: Path
    status: str
    details: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class RunInfo:
    """A run as the pages show it."""

    id: int
    name: str
    folder: Path
    model: str
    status: str
    message: str | None
    started_at: datetime
    finished_at: datetime | None
    settings: Mapping[str, Any] = field(default_factory=dict)
    last_metrics: Mapping[str, float] = field(default_factory=dict)
    epochs_done: int = 0

    @property
    def best(self) -> Path:
        return self.folder / "weights" / "best.pt"

    @property
    def last(self) -> Path:
        return self.folder / "weights" / "last.pt"

    def checkpoint(self) -> Path | None:
        """``best.pt`` when written, else ``last.pt``, else None."""
        for path in (self.best, self.last):
            if path.is_file():
                return path
        return None

    @property
    def label(self) -> str:
        """``train3 · completed · 30 epochs``."""
        epochs = "1 epoch" if self.epochs_done == 1 else f"{self.epochs_done} epochs"
        return f"{self.name} · {self.status} · {epochs}"


def runs_folder(project: Project) -> Path:
    """Where the project's training runs are written (``<project>/runs``)."""
    return project.folder / "runs"


def start_run(project: Project, *, name: str, folder: Path, model: str,
              settings: Mapping[str, Any], dataset_state: str = "") -> int:
    """Record a run that is starting; returns its id."""
    with project.database.session() as session:
        run = Run(name=name, folder=str(folder), model=model, settings=dict(settings),
                  dataset_state=dataset_state, status="running")
        session.add(run)
        session.flush()
        return run.id


def record_epoch(project: Project, run_id: int, epoch: int,
                 metrics: Mapping[str, float]) -> None:
    """Store (or replace, after a resume) one epoch's losses and metrics."""
    with project.database.session() as session:
        row = session.scalars(select(RunEpoch).where(RunEpoch.run_id == run_id,
                                                     RunEpoch.epoch == epoch)).first()
        if row is None:
            session.add(RunEpoch(run_id=run_id, epoch=epoch, metrics=dict(metrics)))
        else:
            row.metrics = dict(metrics)


def finish_run(project: Project, run_id: int, status: str, message: str | None = None) -> None:
    """Mark a run completed, cancelled or failed (with the reason)."""
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    with project.database.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            return
        run.status, run.message, run.finished_at = status, message, utc_now()


def list_runs(project: Project) -> list[RunInfo]:
    """Every run, newest first."""
    with project.database.session() as session:
        runs = session.scalars(select(Run).order_by(Run.id.desc())).all()
        return [_info(run) for run in runs]


def run_epochs(project: Project, run_id: int) -> list[tuple[int, dict[str, float]]]:
    """A run's epochs in order: ``[(epoch, metrics), ...]``."""
    with project.database.session() as session:
        rows = session.scalars(select(RunEpoch).where(RunEpoch.run_id == run_id)
                               .order_by(RunEpoch.epoch)).all()
        return [(row.epoch, dict(row.metrics)) for row in rows]


def rename_run(project: Project, run_id: int, name: str) -> str:
    """Give run ``run_id`` a new display ``name`` (its folder keeps its path: checkpoints and
    exports point into it). Returns the name stored; RunError when empty or taken."""
    name = " ".join(name.split())
    if not name:
        raise RunError("a run needs a name; type one")
    with project.database.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise RunError(f"run {run_id} is not in this project any more")
        taken = session.scalars(select(Run.id).where(Run.name == name, Run.id != run_id)).first()
        if taken is not None:
            raise RunError(f"another run is already called {name!r}; choose another name")
        run.name = name
    return name


def delete_run(project: Project, run_id: int, *, interrupted: bool = False) -> Path | None:
    """Forget run ``run_id`` and move its folder into the project's ``.trash/runs/``; returns
    where the folder went (None when it had none). A run still ``running`` is refused unless
    ``interrupted`` (the app stopped while it trained: no process writes to it)."""
    with project.database.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        if run.status == "running" and not interrupted:
            raise RunError(f"{run.name} is training; stop it before deleting it")
        folder = Path(run.folder)
    moved = None
    if folder.is_dir():
        trash = project.folder / TRASH_FOLDER
        trash.mkdir(parents=True, exist_ok=True)
        moved = trash / f"{folder.name}-{run_id}"
        number = 1
        while moved.exists():
            number += 1
            moved = trash / f"{folder.name}-{run_id}-{number}"
        shutil.move(str(folder), str(moved))
    with project.database.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            session.delete(run)
    return moved


def save_run_log(run: RunInfo, lines: Sequence[str]) -> None:
    """Write the page's log of ``run`` into its folder (atomically; nothing when it has none)."""
    if not run.folder.is_dir():
        return
    with atomic_writer(run.folder / LOG_NAME) as file:
        file.write(("\n".join(lines) + "\n").encode("utf-8"))


def read_run_log(run: RunInfo) -> list[str]:
    """The log lines saved by :func:`save_run_log` (none when there are none)."""
    try:
        return (run.folder / LOG_NAME).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def record_export(project: Project, *, run_id: int | None, format: str,  # noqa: A002
                  path: Path, status: str, details: Mapping[str, Any]) -> int:
    """Store one export's result (format, where, parity figures)."""
    with project.database.session() as session:
        row = ExportRecord(run_id=run_id, format=format, path=str(path), status=status,
                           details=dict(details))
        session.add(row)
        session.flush()
        return row.id


def list_exports(project: Project) -> list[ExportInfo]:
    """Every recorded export, newest first (whether its files still exist or not)."""
    with project.database.session() as session:
        rows = session.scalars(select(ExportRecord).order_by(ExportRecord.id.desc())).all()
        return [ExportInfo(id=row.id, run_id=row.run_id, format=row.format, path=Path(row.path),
                           status=row.status, details=dict(row.details or {}),
                           created_at=row.created_at) for row in rows]


def _info(run: Run) -> RunInfo:
    epochs = list(run.epochs)
    return RunInfo(
        id=run.id, name=run.name, folder=Path(run.folder), model=run.model, status=run.status,
        message=run.message, started_at=run.started_at, finished_at=run.finished_at,
        settings=dict(run.settings or {}),
        last_metrics=dict(epochs[-1].metrics) if epochs else {}, epochs_done=len(epochs),
    )
