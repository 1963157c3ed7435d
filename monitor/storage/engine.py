"""Async engines for SQLite (embedded default) and PostgreSQL (production)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


READ_ONLY_OPTION = "om_read_only"
READ_ONLY = {READ_ONLY_OPTION: True}  # `conn.execution_options(**READ_ONLY)` before the first statement


def normalise_url(url: str) -> str:
    """Accept the URLs operators write and pick the async driver we ship."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


PROBE_TIMEOUT_S = 2.0  # /healthz answers within a few of these, whatever the database does


def create_engine(url: str) -> AsyncEngine:
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            owner_only(Path(u.database))
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_pragmas(engine, busy_ms=30_000)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=5, pool_pre_ping=True)


def create_probe_engine(url: str) -> AsyncEngine | None:
    """A small engine for /healthz that gives up after PROBE_TIMEOUT_S instead of waiting for the database
    like the work does (30 s for a lock on SQLite, a minute for a connection on PostgreSQL): a health
    check that hangs is as bad as one that lies. None for an in-memory SQLite database (a second
    engine would see another, empty one)."""
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and (not u.database or u.database == ":memory:"):
        return None
    if u.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": PROBE_TIMEOUT_S})
        _sqlite_pragmas(engine, busy_ms=int(PROBE_TIMEOUT_S * 1000))
        return engine
    return create_async_engine(url, pool_size=2, max_overflow=0, pool_timeout=PROBE_TIMEOUT_S, pool_pre_ping=True,
                               connect_args={"timeout": PROBE_TIMEOUT_S, "command_timeout": PROBE_TIMEOUT_S})


async def probe_writable(engine: AsyncEngine) -> None:
    """Raise unless a write could start now. On SQLite, take the write lock and let it go: another process
    holding the file (a backup, a stuck writer) stops every write, so alerts too; a plain read would not
    notice under WAL. PostgreSQL locks rows, not the database: answering a query is enough."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("SELECT 1")


def owner_only(db: Path) -> None:
    """Create the SQLite file (and the directories we create for it) readable by its owner only: it holds
    what strangers wrote, who they are, and the team's decisions. SQLite gives the -wal and -shm files
    the database file's permissions, so they follow. An existing file is left as the operator set it,
    with a warning when others may read it."""
    missing = [d for d in [db.parent, *db.parent.parents] if not d.exists()]
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    try:
        fd = os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(db.stat().st_mode)
        if mode & 0o077:
            structlog.get_logger("storage").warning(
                "storage.readable_by_others", path=str(db), mode=oct(mode),
                hint=f"chmod 600 {db}* (the database holds personal data)")
        return
    os.close(fd)


def _sqlite_pragmas(engine: AsyncEngine, *, busy_ms: int) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when a transaction starts (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cur.close()

    @event.listens_for(sync, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # IMMEDIATE takes the write lock up front: two writers wait on busy_timeout instead of
        # deadlocking on a read-to-write upgrade, which SQLite answers with an instant SQLITE_BUSY.
        # Reads that say so (READ_ONLY) take no lock, so they never wait behind a writer (WAL).
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
