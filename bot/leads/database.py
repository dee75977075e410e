"""Engine, sessions and migrations for the leads database (SQLite by default, PostgreSQL by URL)."""
from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number: PostgreSQL's advisory lock that lets one process at a time migrate.
_MIGRATION_LOCK_KEY = 4_207_710_042


def make_engine(url: str) -> Engine:
    # hide_parameters: a database error message must never carry a name or phone into a log.
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            create_private_file(path)
        # Several action-server threads share the file; wait for a lock instead of failing.
        engine = create_engine(url, future=True, hide_parameters=True,
                               connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping: a PostgreSQL restart must not turn the next lead into an error.
    return create_engine(url, future=True, hide_parameters=True, pool_pre_ping=True, pool_size=5,
                         max_overflow=5)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def create_private_file(path: Path) -> None:
    """Creates `path` readable by its owner only (0600, directory 0700) unless it exists.

    SQLite would create the file with the process umask (often 0644); the leads are
    substance-use records, so the file is made first, private from the moment it exists.
    SQLite gives its -wal and -shm files the database file's mode.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """One engine (and connection pool) per URL per process."""
    return make_engine(url)


# --- the schema ----------------------------------------------------------------------------

_schema_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_schema_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_schema_locks_guard = threading.Lock()


def ensure_schema(engine: Engine) -> None:
    """Brings the database to the latest schema, once per engine per process.

    The one schema bootstrap: the lead recorder, the messaging store and the staff commands
    all call it. Migrating on first use lets the embedded SQLite default create itself, and a
    database that was down at start-up is migrated as soon as it answers (a failure is not
    remembered, so the next call tries again).
    """
    if engine in _schema_ready:
        return
    with _schema_locks_guard:
        lock = _schema_locks.setdefault(engine, threading.Lock())
    with lock:
        if engine not in _schema_ready:
            upgrade(engine)
            _schema_ready.add(engine)


def _alembic_config(connection: Connection) -> Config:
    # No sqlalchemy.url: migrations run on this connection. A URL in Alembic's ConfigParser
    # would also break on a '%' in the password (interpolation) and hold the password.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _one_migrator_at_a_time(engine: Engine) -> Iterator[None]:
    """Across processes (Rasa server, action server, staff commands) only one migrates."""
    path = sqlite_path(str(engine.url)) if engine.dialect.name == "sqlite" else None
    if path is None:
        yield  # PostgreSQL: an advisory lock inside the migration's transaction
        return
    descriptor = os.open(f"{path}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _migrate(engine: Engine, run: Callable[[Config, str], None], revision: str) -> None:
    with _one_migrator_at_a_time(engine), engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying and dropping it; with foreign keys on, dropping
            # `leads` would cascade-delete every answer and consent. (Outside a transaction:
            # SQLite ignores this pragma inside one.)
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                       {"key": _MIGRATION_LOCK_KEY})
                run(_alembic_config(connection), revision)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    _schema_ready.discard(engine)
    _migrate(engine, command.downgrade, revision)
