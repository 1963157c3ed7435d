"""Slack cockpit: ticket_handling, ticket_actions, suppressed_authors, switches, storm control

Revision ID: 0109_slack_cockpit
Revises: 0120_tickets
"""
import sqlalchemy as sa
from alembic import op

revision = "0109_slack_cockpit"
down_revision = "0120_tickets"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ticket_handling",
        sa.Column("ticket_id", Id, primary_key=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.Float, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", sa.Float, nullable=True),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("escalated_at", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ticket_actions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("dedupe", sa.String(200), nullable=True, unique=True),
    )
    op.create_index("ix_ticket_actions_ticket", "ticket_actions", ["ticket_id", "at"])
    op.create_table(
        "suppressed_authors",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("author_id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "switches",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )

    op.create_table(
        "alert_rate",
        sa.Column("channel", sa.String(200), primary_key=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
    )
    op.create_table(
        "alert_storms",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("last_member_at", sa.Float, nullable=False),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("summarised", sa.Integer, nullable=False),
        sa.Column("summarised_at", sa.Float, nullable=False),
        sa.Column("closed_at", sa.Float, nullable=True),
    )
    op.create_index("ix_alert_storms_open", "alert_storms", ["channel", "closed_at"])
    op.create_table(
        "alert_storm_members",
        sa.Column("storm_id", Id, primary_key=True),
        sa.Column("mention_id", Id, primary_key=True),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_storm_members")
    op.drop_index("ix_alert_storms_open", table_name="alert_storms")
    op.drop_table("alert_storms")
    op.drop_table("alert_rate")
    op.drop_table("switches")
    op.drop_table("suppressed_authors")
    op.drop_index("ix_ticket_actions_ticket", table_name="ticket_actions")
    op.drop_table("ticket_actions")
    op.drop_table("ticket_handling")
