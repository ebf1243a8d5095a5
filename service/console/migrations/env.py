"""Alembic's environment for the console's tables, driven from ``Accounts.create_schema``: the connection and the
tables' prefix come in ``config.attributes``. Its version table is the console's own, so these revisions never
mix with the case store's (service/migrations)."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
prefix = config.attributes.get("table_prefix", "")

context.configure(connection=connection, version_table=f"{prefix}console_alembic_version",
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations(table_prefix=prefix)
