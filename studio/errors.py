"""Errors the studio raises on purpose: each says what happened and what to do."""

from __future__ import annotations

from engine.errors import EngineError


class ProjectError(EngineError):
    """A project folder that cannot be created, opened, migrated or written."""


class ProjectLocked(ProjectError):  # noqa: N818 - it is a state, not a failure
    """The project is open in another YOLO Studio (the message says who has it)."""


class ImportProblem(ProjectError):
    """A source that cannot be imported at all (a bad file inside one is reported, not raised)."""
