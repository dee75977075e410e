"""The staff console: accounts, notes, canned replies, contacts, and how a handoff ended.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
HANDOFF_COLUMNS = (
    sa.Column("resolved_by", sa.String(64)),
    sa.Column("disposition", sa.String(32)),
    sa.Column("disposition_detail", sa.String(200)),
    sa.Column("handed_back", sa.Boolean()),
)


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        for column in HANDOFF_COLUMNS:
            batch.add_column(column.copy())
    op.create_table(
        "staff_users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sessions_valid_after", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "staff_notes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id", ondelete="CASCADE")),
        sa.Column("handoff_id", sa.String(36),
                  sa.ForeignKey("handoffs.id", ondelete="CASCADE")),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_staff_notes_lead_id", "staff_notes", ["lead_id"])
    op.create_index("ix_staff_notes_handoff_id", "staff_notes", ["handoff_id"])
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "staff_contacts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("handoff_id", sa.String(36),
                  sa.ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(120)),
        sa.Column("at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_staff_contacts_handoff_id", "staff_contacts", ["handoff_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_contacts_handoff_id", "staff_contacts")
    op.drop_table("staff_contacts")
    op.drop_table("canned_replies")
    op.drop_index("ix_staff_notes_handoff_id", "staff_notes")
    op.drop_index("ix_staff_notes_lead_id", "staff_notes")
    op.drop_table("staff_notes")
    op.drop_table("staff_users")
    with op.batch_alter_table("handoffs") as batch:
        for column in reversed(HANDOFF_COLUMNS):
            batch.drop_column(column.name)
