"""digests: coverage events, built digests, schedule runs, hourly mention roll-ups

Revision ID: 0112_digests
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0112_digests"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coverage_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_at", sa.Float, nullable=False),
        sa.Column("end_at", sa.Float, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.UniqueConstraint("source", "stream", "kind", "start_at", name="uq_coverage_events_episode"),
    )
    op.create_index("ix_coverage_events_time", "coverage_events", ["start_at", "end_at"])
    op.create_table(
        "digests",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("schedule", sa.String(64), nullable=False),
        sa.Column("period_start", sa.Float, nullable=False),
        sa.Column("period_end", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_digests_created", "digests", ["created_at"])
    op.create_table(
        "digest_runs",
        sa.Column("schedule", sa.String(64), primary_key=True),
        sa.Column("slot_at", sa.Float, nullable=False),
        sa.Column("digest_key", sa.String(200), nullable=False),
        sa.Column("ran_at", sa.Float, nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
    )
    op.create_table(
        "mention_rollups",
        sa.Column("hour_at", sa.Float, primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(128), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("mentions", sa.Integer, nullable=False),
        sa.Column("own", sa.Integer, nullable=False),
        sa.Column("complaints", sa.Integer, nullable=False),
        sa.Column("positive", sa.Integer, nullable=False),
        sa.Column("negative", sa.Integer, nullable=False),
        sa.Column("sentiment_sum", sa.Float, nullable=False),
        sa.Column("sentiment_n", sa.Integer, nullable=False),
        sa.Column("reach", sa.BigInteger, nullable=False),
        sa.Column("engagement", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mention_rollups")
    op.drop_table("digest_runs")
    op.drop_index("ix_digests_created", table_name="digests")
    op.drop_table("digests")
    op.drop_index("ix_coverage_events_time", table_name="coverage_events")
    op.drop_table("coverage_events")
