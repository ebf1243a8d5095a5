"""Alembic's environment, driven from ``Store.migrate``: the connection, the tables' prefix and the version
table come in ``config.attributes``; there is no alembic.ini (nothing reads a URL from a file)."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
prefix = config.attributes.get("table_prefix", "")

context.configure(connection=connection, version_table=f"{prefix}alembic_version",
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations(table_prefix=prefix)
