"""tickets.helpdesk_id: the ticket's mirror in Zendesk or Freshdesk (tickets.helpdesk)

Revision ID: 0160_tickets_helpdesk
Revises: 0150_ticket_critical_since
"""
import sqlalchemy as sa
from alembic import op

revision = "0160_tickets_helpdesk"
down_revision = "0150_ticket_critical_since"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("helpdesk_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("helpdesk_id")
