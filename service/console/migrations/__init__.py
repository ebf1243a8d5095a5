"""Alembic migrations of the console's own tables (accounts, the session key), with their own version table."""
