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


async def test_upgrading_a_database_with_data_keeps_it(db_url) -> None:
    from sqlalchemy import text

    from monitor.storage.engine import create_engine

    engine = create_engine(db_url)
    try:
        assert await upgrade(engine, "0001") == "0001"
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO mentions (source, external_id, stream, author_id, author_username, author_name,"
                " author_followers, text, url, conversation_id, in_reply_to, lang, is_own, created_at, fetched_at)"
                " VALUES ('x', '1', 's', 'a', 'ann', 'Ann', 0, 'hello', '', '1', '', 'en', false, 1, 1)"
            ))
        assert await upgrade(engine) == head_revision()
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT text, quoted_id FROM mentions"))).one()
        assert tuple(row) == ("hello", "")
    finally:
        await engine.dispose()
