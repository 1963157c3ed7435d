"""service health and incidents: alert_states, incidents, incident_updates, mentions.incident_id

Revision ID: 0110_incidents
Revises: 0112_digests
"""
import sqlalchemy as sa
from alembic import op

revision = "0110_incidents"
down_revision = "0112_digests"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("check", sa.String(200), primary_key=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("successes", sa.Integer, nullable=False),
        sa.Column("triggered", sa.Boolean, nullable=False),
        sa.Column("last_ok", sa.Boolean, nullable=True),
        sa.Column("changes", sa.JSON, nullable=True),
        sa.Column("since", sa.Float, nullable=True),
        sa.Column("incident_id", Id, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("impact", sa.String(16), nullable=False),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("terms", sa.JSON, nullable=True),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("resolved_at", sa.Float, nullable=True),
        sa.Column("noticed_update_id", Id, nullable=True),
        sa.Column("noticed_at", sa.Float, nullable=True),
    )
    op.create_index("ix_incidents_open", "incidents", ["status", "service"])
    op.create_table(
        "incident_updates",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", Id, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_incident_updates_incident", "incident_updates", ["incident_id", "id"])
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("incident_id", Id, nullable=True))
    op.create_index("ix_mentions_incident", "mentions", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_mentions_incident", table_name="mentions")
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("incident_id")
    op.drop_table("incident_updates")
    op.drop_index("ix_incidents_open", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("alert_states")
