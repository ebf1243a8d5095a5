"""``complaint-triage serve``: kept apart from cli.py so the CLI does not import gunicorn unless serving."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 for all.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes, each with its own model; one per core is a good start.")
@click.option("--database-url", default=None,
              help="SQLAlchemy URL (default: $DATABASE_URL, else sqlite:///complaints.db).")
def serve(host: str, port: int, workers: int, database_url: str | None) -> None:
    """Serve the HTTP API under gunicorn (POSIX only).

    Example: complaint-triage serve --port 8000 --workers 2 --database-url sqlite:///complaints.db
    """
    from service.server import run
    from service.settings import Settings

    settings = Settings(database_url=database_url) if database_url else Settings()
    run(settings, host=host, port=port, workers=workers)
