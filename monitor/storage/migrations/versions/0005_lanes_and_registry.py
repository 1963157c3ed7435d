"""Outbox priority, lanes and subjects; shared lane pacing; the Slack message registry

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as b:
        b.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="2"))
        b.add_column(sa.Column("lane", sa.String(200), nullable=False, server_default=""))
        b.add_column(sa.Column("about", sa.String(64), nullable=True))
        b.add_column(sa.Column("thread_of", sa.String(64), nullable=True))
    # rows written before lanes existed: Slack kinds pace per target, as the dispatcher did
    op.execute("UPDATE outbox SET lane = 'slack:' || target WHERE kind LIKE 'slack.%'")
    op.execute("UPDATE outbox SET lane = kind || ':' || target WHERE lane = ''")
    op.create_index("ix_outbox_lane", "outbox", ["status", "lane", "priority", "next_attempt_at"])
    op.create_index("ix_outbox_about", "outbox", ["about"])
    op.create_table(
        "delivery_lanes",
        sa.Column("lane", sa.String(200), primary_key=True),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("blocked_reason", sa.Text(), nullable=True),
        sa.Column("blocked_since", sa.Float(), nullable=True),
        sa.Column("holder", sa.String(128), nullable=True),
    )
    op.create_table(
        "slack_messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("outbox_key", sa.String(200), nullable=False, unique=True),
        sa.Column("lane", sa.String(200), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("about", sa.String(64), nullable=True),
        sa.Column("posted_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("channel_id", "ts", name="uq_slack_messages_channel_ts"),
    )
    op.create_index("ix_slack_messages_about", "slack_messages", ["about", "lane"])


def downgrade() -> None:
    op.drop_table("slack_messages")
    op.drop_table("delivery_lanes")
    op.drop_index("ix_outbox_about", table_name="outbox")
    op.drop_index("ix_outbox_lane", table_name="outbox")
    with op.batch_alter_table("outbox") as b:
        for c in ("thread_of", "about", "lane", "priority"):
            b.drop_column(c)
