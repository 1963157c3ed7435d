"""The SQLite database is created owner-only: its directory, the file, and the WAL and shared-memory files.
(SQLite only: PostgreSQL keeps its files itself.)"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask, under which files are world-readable unless created otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def test_a_new_database_and_its_directory_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    db = tmp_path / "state" / "deep" / "om.db"
    before = mode(tmp_path)
    engine = create_engine(f"sqlite:///{db}")
    try:
        await upgrade(engine)
        async with engine.begin() as conn:  # a write, so the WAL and shared-memory files exist
            await conn.execute(text("INSERT INTO leases (name, holder, expires_at) VALUES ('a', 'b', 1)"))
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: mode(p) for p in (db, wal, shm)} == {db.name: 0o600, wal.name: 0o600, shm.name: 0o600}
        assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
    finally:
        await engine.dispose()
    assert mode(tmp_path) == before  # a directory we did not create is not ours to change


async def test_an_existing_readable_database_is_left_alone_and_warned_about(tmp_path: Path, open_umask: None) -> None:
    import io

    from monitor.logs import setup_logging

    db = tmp_path / "om.db"
    db.touch(mode=0o644)
    logs = io.StringIO()
    setup_logging(level="info", json=True, stream=logs)
    try:
        engine = create_engine(f"sqlite:///{db}")
        await engine.dispose()
    finally:
        setup_logging(level="info", json=True)
    assert mode(db) == 0o644
    assert "storage.readable_by_others" in logs.getvalue()
