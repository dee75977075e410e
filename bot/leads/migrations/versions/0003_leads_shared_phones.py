"""A typed phone number no longer merges leads: phone_verified, possible_duplicate_of.

The phone column was unique, so a website visitor who typed someone else's number took over
that person's lead. Now only a number the SMS or voice channel saw (`phone_verified`) is
unique; a typed number that another lead already has makes a new lead, flagged for staff.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite's unique constraint from 0001 has no name; batch mode names it by this convention.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
UNNAMED_UNIQUE = "uq_leads_phone_e164"
# What PostgreSQL called 0001's constraint, restored by the downgrade.
POSTGRES_UNIQUE = "leads_phone_e164_key"


def _phone_unique_constraint() -> str:
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("leads"):
        if constraint["column_names"] == ["phone_e164"]:
            return constraint["name"] or UNNAMED_UNIQUE
    return UNNAMED_UNIQUE


def upgrade() -> None:
    unique_name = _phone_unique_constraint()
    with op.batch_alter_table("leads", naming_convention=NAMING) as batch:
        batch.drop_constraint(unique_name, type_="unique")
        batch.add_column(sa.Column("phone_verified", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("possible_duplicate_of", sa.String(36)))
        batch.create_foreign_key("fk_leads_possible_duplicate_of", "leads",
                                 ["possible_duplicate_of"], ["id"], ondelete="SET NULL")
    op.create_index("ix_leads_phone_e164", "leads", ["phone_e164"])
    # A lead written on the SMS or voice channel with the number that channel saw was
    # verified all along (the numbers were unique, so this cannot break the index below).
    op.execute(sa.text(
        "UPDATE leads SET phone_verified = :yes WHERE EXISTS (SELECT 1 FROM conversation_contacts c"
        " WHERE c.conversation_id = leads.conversation_id AND c.phone_e164 = leads.phone_e164)"
    ).bindparams(yes=True))
    op.create_index("uq_leads_verified_phone", "leads", ["phone_e164"], unique=True,
                    postgresql_where=sa.text("phone_verified"),
                    sqlite_where=sa.text("phone_verified"))


def downgrade() -> None:
    shared = op.get_bind().execute(sa.text(
        "SELECT COUNT(*) FROM (SELECT phone_e164 FROM leads WHERE phone_e164 IS NOT NULL"
        " GROUP BY phone_e164 HAVING COUNT(*) > 1) AS shared")).scalar_one()
    if shared:
        # Never drop someone's lead to fit an old constraint: staff merge them first.
        raise RuntimeError(f"cannot downgrade: {shared} phone number(s) belong to several "
                           f"leads; merge those leads first")
    op.drop_index("uq_leads_verified_phone", table_name="leads")
    op.drop_index("ix_leads_phone_e164", table_name="leads")
    with op.batch_alter_table("leads") as batch:
        batch.drop_constraint("fk_leads_possible_duplicate_of", type_="foreignkey")
        batch.drop_column("possible_duplicate_of")
        batch.drop_column("phone_verified")
        batch.create_unique_constraint(POSTGRES_UNIQUE, ["phone_e164"])
