"""Open a project's ``project.db``: SQLite through SQLAlchemy 2.0 in WAL mode with
``synchronous=FULL`` (a committed edit survives a power cut) and foreign keys on, migrated to
the newest schema by Alembic.

A database written by a newer YOLO Studio (a schema revision this one does not know) is refused;
before an older one is migrated, a copy is taken beside it (``project.db.backup-<revision>``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ProjectError

DATABASE_FILE = "project.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Database:
    """A project's open database: ``session()`` for work, ``close()`` when done."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed when the block ends without error, rolled back otherwise."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except OperationalError as exc:
                session.rollback()
                raise _write_error(self.path, exc) from exc
            except BaseException:
                session.rollback()
                raise

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for a sound database."""
        with self.engine.connect() as connection:
            return str(connection.execute(text("PRAGMA integrity_check")).scalar())

    def close(self) -> None:
        """Write the WAL back into the database file and close every connection."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        except OperationalError:
            pass  # a read-only or full disk: the WAL is replayed at the next open
        self.engine.dispose()


def open_database(folder: Path, *, create: bool = False) -> Database:
    """The project database in ``folder``, migrated to the newest schema.

    ``create``: make it when it does not exist (otherwise a missing file is an error).
    """
    path = folder / DATABASE_FILE
    if not path.is_file() and not create:
        raise ProjectError(
            f"is not a YOLO Studio project (no {DATABASE_FILE}). Open the folder that holds "
            "it, or create a new project",
            path=folder,
        )
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _configure_connection)
    try:
        _migrate(engine, path)
    except OperationalError as exc:
        engine.dispose()
        raise _write_error(path, exc) from exc
    except BaseException:
        engine.dispose()
        raise
    return Database(path, engine)


def schema_head() -> str:
    """The newest schema revision this version of the studio writes."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def _configure_connection(connection: sqlite3.Connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _migrate(engine: Engine, path: Path) -> None:
    config = _alembic_config()
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise ProjectError(
            f"was written by a newer YOLO Studio (schema {current}; this version knows up to "
            f"{head}). Update YOLO Studio to open it; the project was not changed",
            path=path,
        )
    if current is not None:
        _backup(engine, path, current)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _backup(engine: Engine, path: Path, revision: str) -> Path:
    """A consistent copy of the database (SQLite's backup API) before it is migrated."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.backup-{revision}-{stamp}")
    source = engine.raw_connection()
    try:
        with sqlite3.connect(target) as copy:
            source.driver_connection.backup(copy)
    finally:
        source.close()
    return target


def _write_error(path: Path, exc: OperationalError) -> ProjectError:
    reason = str(exc.orig) if exc.orig is not None else str(exc)
    if "readonly" in reason or "read-only" in reason:
        what = "is read-only: nothing could be saved. Copy the project to a writable folder"
    elif "full" in reason:
        what = ("could not be written because the disk is full. Free some space; your last "
                "edit is kept in memory and saved again")
    elif "locked" in reason or "busy" in reason:
        what = "is busy in another program; try again in a moment"
    else:
        what = f"could not be written ({reason}). Your earlier work is safe in the database"
    return ProjectError(what, path=path)
