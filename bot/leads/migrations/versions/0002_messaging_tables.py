"""SMS opt-outs, handled Twilio deliveries, and the numbers behind phone-channel conversations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone_e164", sa.String(16), primary_key=True),
        sa.Column("opted_out_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "inbound_deliveries",
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_inbound_deliveries_received_at", "inbound_deliveries", ["received_at"])
    op.create_table(
        "conversation_contacts",
        sa.Column("conversation_id", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("phone_e164", sa.String(16), nullable=False),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_conversation_contacts_phone_e164", "conversation_contacts",
                    ["phone_e164"])


def downgrade() -> None:
    op.drop_index("ix_conversation_contacts_phone_e164", "conversation_contacts")
    op.drop_table("conversation_contacts")
    op.drop_index("ix_inbound_deliveries_received_at", "inbound_deliveries")
    op.drop_table("inbound_deliveries")
    op.drop_table("sms_opt_outs")
