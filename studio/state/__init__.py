"""The project database: SQLAlchemy 2.0 models, one ``Database`` per open project (WAL,
``synchronous=FULL``, foreign keys on), Alembic migrations and the single-writer lock."""

from .database import Database, open_database
from .lock import ProjectLock
from .models import (
    Annotation,
    Base,
    ExportRecord,
    Image,
    ImportRecord,
    ProjectClass,
    ProjectSettings,
    Run,
    RunEpoch,
)

__all__ = [
    "Annotation",
    "Base",
    "Database",
    "ExportRecord",
    "Image",
    "ImportRecord",
    "ProjectClass",
    "ProjectLock",
    "ProjectSettings",
    "Run",
    "RunEpoch",
    "open_database",
]
