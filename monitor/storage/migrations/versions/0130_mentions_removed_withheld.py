"""mentions.removed (deleted or removed on the platform: never triaged, alerted or counted as a
customer) and mentions.withheld (the countries where X withholds the post)

Revision ID: 0130_mentions_removed_withheld
Revises: 0109_slack_cockpit
"""
import sqlalchemy as sa
from alembic import op

revision = "0130_mentions_removed_withheld"
down_revision = "0109_slack_cockpit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("withheld", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("withheld")
        batch.drop_column("removed")
