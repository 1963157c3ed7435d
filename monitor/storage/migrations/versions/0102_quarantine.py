"""quarantine for items that cannot be stored; author_followers is a BIGINT (counts pass 2^31)

Revision ID: 0102_quarantine
Revises: 0110_incidents
"""
import sqlalchemy as sa
from alembic import op

revision = "0102_quarantine"
down_revision = "0110_incidents"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # SQLite's INTEGER already holds 64 bits (and the schema keeps INTEGER there): only PostgreSQL changes
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("mentions", "author_followers", type_=sa.BigInteger(), existing_type=sa.Integer(),
                        existing_nullable=False)
    op.create_table(
        "quarantine",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("source", "external_id", name="uq_quarantine_source_external_id"),
    )
    op.create_index("ix_quarantine_created_at", "quarantine", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_created_at", table_name="quarantine")
    op.drop_table("quarantine")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("mentions", "author_followers", type_=sa.Integer(), existing_type=sa.BigInteger(),
                        existing_nullable=False)
