"""tickets follow the customer: lifecycle columns, ticket_threads, ticket_events, replies, spend

Revision ID: 0120_tickets
Revises: 0102_quarantine
"""
import sqlalchemy as sa
from alembic import op

revision = "0120_tickets"
down_revision = "0102_quarantine"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_TICKET_COLUMNS = [
    ("conversation_id", sa.String(64)),
    ("category", sa.String(32)),
    ("last_customer_at", sa.Float),
    ("last_response_at", sa.Float),
    ("first_response_at", sa.Float),
    ("first_response_ref", sa.String(64)),
    ("reply_ref", sa.String(64)),
    ("solved_at", sa.Float),
    ("closed_at", sa.Float),
    ("handoff", sa.String(16)),
    ("handoff_at", sa.Float),
]


def upgrade() -> None:
    for name, type_ in _TICKET_COLUMNS:
        op.add_column("tickets", sa.Column(name, type_, nullable=True))
    op.create_index("ix_tickets_author", "tickets", ["source", "author_id", "status"])
    # tickets opened before this revision: their customer was last heard when they were opened
    op.execute("UPDATE tickets SET last_customer_at = opened_at WHERE last_customer_at IS NULL")
    op.create_table(
        "ticket_threads",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(64), primary_key=True),
        sa.Column("author_id", sa.String(64), primary_key=True),
        sa.Column("ticket_id", Id, nullable=False),
    )
    op.create_index("ix_ticket_threads_ticket", "ticket_threads", ["ticket_id"])
    op.create_table(
        "ticket_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
    )
    op.create_index("ix_ticket_events_ticket", "ticket_events", ["ticket_id"])
    op.create_index("ix_ticket_events_kind_at", "ticket_events", ["kind", "at"])
    op.create_table(
        "replies",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("thread_key", sa.String(200), nullable=False, unique=True),
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("mention_id", Id, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("private", sa.Boolean, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("outbox_key", sa.String(200), nullable=True),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("sent_at", sa.Float, nullable=True),
    )
    op.create_index("ix_replies_status", "replies", ["status", "created_at"])
    op.create_index("ix_replies_author", "replies", ["source", "author_id", "created_at"])
    op.create_table(
        "spend",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(32), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("what", sa.String(200), nullable=False),
    )
    op.create_index("ix_spend_source_at", "spend", ["source", "at"])


def downgrade() -> None:
    op.drop_table("spend")
    op.drop_table("replies")
    op.drop_table("ticket_events")
    op.drop_table("ticket_threads")
    op.drop_index("ix_tickets_author", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for name, _ in reversed(_TICKET_COLUMNS):
            batch.drop_column(name)
