"""alert_storms.about: a storm can be the mentions about one open incident, collapsed into its thread

Revision ID: 0170_storm_about
Revises: 0160_tickets_helpdesk
"""
import sqlalchemy as sa
from alembic import op

revision = "0170_storm_about"
down_revision = "0160_tickets_helpdesk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_storms") as batch:
        batch.add_column(sa.Column("about", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_storms") as batch:
        batch.drop_column("about")
