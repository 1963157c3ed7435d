"""initial schema: mentions, cursors, tickets, outbox, leases, feedback

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mentions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_username", sa.String(128), nullable=False),
        sa.Column("author_name", sa.String(256), nullable=False),
        sa.Column("author_followers", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("in_reply_to", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=True),
        sa.Column("is_own", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("fetched_at", sa.Float, nullable=False),
        sa.Column("urgency", sa.String(16), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("complaint", sa.Boolean, nullable=True),
        sa.Column("actionable", sa.Boolean, nullable=True),
        sa.Column("sentiment", sa.Float, nullable=True),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("reasons", sa.JSON, nullable=True),
        sa.Column("ticket_id", Id, nullable=True),
        sa.UniqueConstraint("source", "external_id", name="uq_mentions_source_external_id"),
    )
    op.create_index("ix_mentions_created_at", "mentions", ["created_at"])
    op.create_index("ix_mentions_author", "mentions", ["source", "author_id"])

    op.create_table(
        "cursors",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )

    op.create_table(
        "tickets",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("root_key", sa.String(200), nullable=False, unique=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=True),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )

    op.create_table(
        "outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("in_doubt", sa.Boolean, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("result", sa.String(200), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])

    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )

    op.create_table(
        "feedback",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("mention_id", Id, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("urgency", sa.String(16), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_feedback_mention", "feedback", ["mention_id"])


def downgrade() -> None:
    for name in ("feedback", "leases", "outbox", "tickets", "cursors", "mentions"):
        op.drop_table(name)
