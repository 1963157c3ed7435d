"""subscribers: people and systems told about incidents and delays, added with `outreach-monitor subscribers add`
(beside the ones in the config)

Revision ID: 0140_subscribers
Revises: 0130_mentions_removed_withheld
"""
import sqlalchemy as sa
from alembic import op

revision = "0140_subscribers"
down_revision = "0130_mentions_removed_withheld"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("services", sa.JSON, nullable=True),
        sa.Column("regions", sa.JSON, nullable=True),
        sa.Column("segments", sa.JSON, nullable=True),
        sa.Column("added_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("kind", "address", name="uq_subscribers_kind_address"),
    )


def downgrade() -> None:
    op.drop_table("subscribers")
