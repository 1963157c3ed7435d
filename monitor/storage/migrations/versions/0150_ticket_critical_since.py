"""tickets.critical_since: when the ticket became critical — the escalation timer starts there, not at
opening (a relabel or a later mention can make a ticket critical hours after it opened)

Revision ID: 0150_ticket_critical_since
Revises: 0140_subscribers
"""
import sqlalchemy as sa
from alembic import op

revision = "0150_ticket_critical_since"
down_revision = "0140_subscribers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("critical_since", sa.Float, nullable=True))
    # what the timer measured until now: critical tickets count from their opening
    op.execute("UPDATE tickets SET critical_since = opened_at WHERE urgency = 'critical'")


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("critical_since")
