"""Progress leaves the engine as small frozen events passed to a plain callable (a Reporter).

The CLI renders them with tqdm; the studio's worker passes ``signal.emit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DownloadProgress:
    """``done`` of ``total`` bytes of ``url`` have arrived (total is None when unknown)."""

    url: str
    done: int
    total: int | None
    finished: bool = False


Event = DownloadProgress
Reporter = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """A Reporter that drops everything."""
