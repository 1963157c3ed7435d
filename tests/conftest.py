"""Shared fixtures: a fresh database on SQLite and, when OUTREACH_TEST_PG_URL is set, on PostgreSQL."""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from monitor.storage.engine import create_engine, normalise_url
from monitor.storage.migrate import upgrade

PG_URL = os.environ.get("OUTREACH_TEST_PG_URL", "")


def _backends() -> list:
    skip_pg = pytest.mark.skip(
        reason="OUTREACH_TEST_PG_URL is not set (e.g. postgresql://root@127.0.0.1:5432/test); .ci/run sets it"
    )
    return ["sqlite", pytest.param("postgresql", marks=[] if PG_URL else [skip_pg])]


@pytest.fixture(params=_backends())
async def db_url(request, tmp_path) -> AsyncIterator[str]:
    """A URL to an empty database of each backend; PostgreSQL gets a throw-away database per test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    admin_url = normalise_url(PG_URL)
    name = f"om_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database of each backend."""
    eng = create_engine(db_url)
    await upgrade(eng)
    try:
        yield eng
    finally:
        await eng.dispose()
