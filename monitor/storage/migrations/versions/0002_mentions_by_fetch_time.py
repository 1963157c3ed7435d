"""index mentions by (source, fetched_at) for the quiet-source watchdog's hourly counts

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mentions_source_fetched", "mentions", ["source", "fetched_at"])


def downgrade() -> None:
    op.drop_index("ix_mentions_source_fetched", table_name="mentions")
