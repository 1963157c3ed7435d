"""ix_mentions_author covers created_at, so counting an author's recent messages reads the index only

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_mentions_author", table_name="mentions")
    op.create_index("ix_mentions_author", "mentions", ["source", "author_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_mentions_author", table_name="mentions")
    op.create_index("ix_mentions_author", "mentions", ["source", "author_id"])
