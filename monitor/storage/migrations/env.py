"""Alembic environment. Always handed a live connection by monitor.storage.migrate."""
from __future__ import annotations

from alembic import context

from monitor.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded by migrate.upgrade
    raise RuntimeError("run migrations through `outreach-monitor db upgrade`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
