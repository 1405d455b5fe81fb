"""What an export returns: the files written, their size, the parity check, how to use them."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .parity import ParityCheck


@dataclass(frozen=True)
class ExportResult(os.PathLike):
    """One export: ``path`` (a file or a folder) and what was measured of it.

    It is path-like (``YOLO(result)``, ``Path(result)``, ``open``-free uses of ``os.fspath``),
    so code written for the reference's string return value keeps working.
    """

    format: str
    name: str
    task: str
    path: Path
    imgsz: tuple[int, int]
    seconds: float
    parity: ParityCheck
    files: tuple[str, ...] = field(default=())
    size_mb: float = 0.0
    notes: tuple[str, ...] = field(default=())
    data: str | None = None  # the dataset the check used, for the val command

    @classmethod
    def of(cls, path: Path, **values: Any) -> ExportResult:
        """A result for ``path``, with its files and total size measured."""
        files, size = _files_and_size(path)
        return cls(path=path, files=files, size_mb=size / 1e6, **values)

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def passed(self) -> bool:
        """False only when the export ran here and did not match the model."""
        return self.parity.status != "failed"

    @property
    def latency_ms(self) -> float | None:
        return self.parity.latency_ms

    def usage(self) -> list[str]:
        """The commands that run this export (as the reference prints after exporting)."""
        where = _quoted(self.path)
        size = max(self.imgsz)
        return [
            f"yolo {self.task} predict model={where} imgsz={size}",
            f"yolo {self.task} val model={where} imgsz={size} "
            f"data={_quoted(Path(self.data)) if self.data else '<your dataset>'}",
        ]

    def report(self) -> str:
        """The lines printed after an export."""
        latency = f", {self.latency_ms:.1f} ms/image" if self.latency_ms is not None else ""
        lines = [
            f"{self.name} export {'done' if self.passed else 'FAILED its check'} in "
            f"{self.seconds:.1f} s: {self.path} ({self.size_mb:.1f} MB{latency})",
            f"parity with the PyTorch model: {self.parity.summary()}",
            *self.notes,
        ]
        if self.passed:
            lines += ["use it:", *(f"  {command}" for command in self.usage())]
        else:
            lines.append("the files are kept for inspection; do not deploy them")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for the studio and JSON): paths as strings, parity as a dict."""
        values = asdict(self)
        values["path"] = str(self.path)
        values["imgsz"] = list(self.imgsz)
        values["passed"] = self.passed
        return values


def _files_and_size(path: Path) -> tuple[tuple[str, ...], int]:
    if path.is_file():
        return (path.name,), path.stat().st_size
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return tuple(str(p.relative_to(path)) for p in files), sum(p.stat().st_size for p in files)


def _quoted(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if " " in text else text
