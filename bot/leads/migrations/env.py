"""Alembic environment: runs migrations on the connection that bot.leads.database gives."""
from __future__ import annotations

from alembic import context

from bot.leads.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise SystemExit("run migrations with `python -m bot.leads migrate`")
    # render_as_batch lets SQLite alter tables by copying them, as it cannot ALTER in place.
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run them against a database")
run_migrations_online()
