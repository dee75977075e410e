"""Leads, pre-screen answers, consents, handoffs and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("for_whom", sa.String(16)),
        sa.Column("relationship", sa.String(32)),
        sa.Column("first_name", sa.String(64)),
        sa.Column("phone_e164", sa.String(16), unique=True),
        sa.Column("email", sa.String(254)),
        sa.Column("state", sa.String(2)),
        sa.Column("zip_code", sa.String(5)),
        sa.Column("age_group", sa.String(16)),
        sa.Column("insurance_carrier", sa.String(64)),
        sa.Column("member_id_encrypted", sa.LargeBinary),
        sa.Column("best_time", sa.String(64)),
        sa.Column("voicemail_ok", sa.Boolean),
        sa.Column("text_ok", sa.Boolean),
        sa.Column("discreet", sa.Boolean),
        sa.Column("care_route", sa.String(16)),
        sa.Column("care_reasons", sa.Text),
    )
    op.create_index("ix_leads_conversation_id", "leads", ["conversation_id"])
    op.create_table(
        "prescreen_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("question", sa.String(64), nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("answered_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("lead_id", "question"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("wording_version", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_consents_lead_id", "consents", ["lead_id"])
    op.create_table(
        "handoffs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id", ondelete="SET NULL")),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("claimed_at", TIMESTAMP),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("resolved_at", TIMESTAMP),
        sa.Column("notified_at", TIMESTAMP),
        sa.Column("notify_attempts", sa.Integer, nullable=False),
        sa.Column("notify_error", sa.String(200)),
    )
    op.create_index("ix_handoffs_conversation_id", "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_queue", "handoffs", ["status", "priority", "created_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(36)),
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_index("ix_handoffs_queue", table_name="handoffs")
    op.drop_index("ix_handoffs_conversation_id", table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index("ix_consents_lead_id", table_name="consents")
    op.drop_table("consents")
    op.drop_table("prescreen_answers")
    op.drop_index("ix_leads_conversation_id", table_name="leads")
    op.drop_table("leads")
