"""Async engines for SQLite (embedded default) and PostgreSQL (production)."""
from __future__ import annotations

from pathlib import Path

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


def create_engine(url: str) -> AsyncEngine:
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_pragmas(engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=5, pool_pre_ping=True)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when a transaction starts (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # IMMEDIATE takes the write lock up front: two writers wait on busy_timeout instead of
        # deadlocking on a read-to-write upgrade, which SQLite answers with an instant SQLITE_BUSY.
        # Reads that say so (READ_ONLY) take no lock, so they never wait behind a writer (WAL).
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
