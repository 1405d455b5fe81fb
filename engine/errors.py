"""One exception family for the engine. Every message names the file, line or key at fault
and says what to do, so the CLI and the studio can show it as it is."""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.key = key
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        if self.key:
            where.append(f"key '{self.key}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ModelConfigError(EngineError):
    """A model yaml (or a model name) that cannot be built."""


class CheckpointError(EngineError):
    """A weights file that cannot be read, or that is refused as unsafe."""


class WeightsDownloadError(EngineError):
    """Named weights that are neither on disk nor downloadable right now."""


class SettingsError(EngineError):
    """An unknown setting, or a value of the wrong type."""


class DatasetError(EngineError):
    """A dataset that is missing, empty, or laid out in a way training cannot use."""


class ImageReadError(EngineError):
    """An image file that cannot be decoded (missing, truncated, not an image)."""


class SourceError(EngineError):
    """A prediction source (file, folder, glob, video, URL, camera) that cannot be opened."""


class ExportError(EngineError):
    """An export that cannot be made, or an exported file that cannot be run."""


class ExportCheckFailed(ExportError):
    """An export that was written but does not match the model when run (the parity gate).

    ``result`` is the ExportResult with the figures; its files are kept for inspection.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, result=None) -> None:
        super().__init__(message, path=path)
        self.result = result


class Cancelled(EngineError):  # noqa: N818 - it is an outcome, not a failure
    """Work stopped at a safe point because its cancel token was set."""
