"""Alembic migrations of the service's database, shipped inside the package and run by ``Store.create_schema``."""
