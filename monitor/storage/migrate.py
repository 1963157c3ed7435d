"""Bring a database to the newest schema with Alembic, safely from several daemons at once."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: it names the advisory lock that serialises upgrades across daemons on PostgreSQL.
_UPGRADE_LOCK = 0x6F6D_7570


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str:
    """Upgrade to `revision`; returns the revision the database is at afterwards."""
    cfg = _alembic_config()

    def _run(sync_conn):  # type: ignore[no-untyped-def]
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)
        return MigrationContext.configure(sync_conn).get_current_revision() or ""

    async with engine.connect() as conn:
        pg = engine.dialect.name == "postgresql"
        if pg:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _UPGRADE_LOCK})
            await conn.commit()
        try:
            rev = await conn.run_sync(_run)
            await conn.commit()
        finally:
            if pg:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _UPGRADE_LOCK})
                await conn.commit()
    return rev


async def current_revision(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision() or "")
