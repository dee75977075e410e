"""The funnel steps each conversation reached, counted from Rasa's event stream.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funnel_steps",
        sa.Column("conversation_key", sa.String(64), primary_key=True),
        sa.Column("step", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(32)),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_funnel_steps_reached_at", "funnel_steps", ["reached_at"])


def downgrade() -> None:
    op.drop_index("ix_funnel_steps_reached_at", "funnel_steps")
    op.drop_table("funnel_steps")
