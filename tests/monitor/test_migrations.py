"""Alembic's migrations build exactly the schema the code uses, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.storage.migrate import current_revision, head_revision, upgrade
from monitor.storage.schema import metadata


async def test_migrated_schema_matches_the_tables_in_code(engine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
    assert diff == [], diff


async def test_upgrade_is_idempotent(engine) -> None:
    assert await current_revision(engine) == head_revision()
    assert await upgrade(engine) == head_revision()
