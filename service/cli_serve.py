"""``complaint-triage serve``: kept apart from cli.py so the CLI does not import gunicorn unless serving."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; 0.0.0.0 for all.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes, each with its own model (default: usable cores + 1, so one is free for "
                   "health checks while the others work).")
@click.option("--timeout", type=click.IntRange(1, 3600), default=120, show_default=True,
              help="Seconds a request may run before its worker is restarted (the client gets a JSON 503).")
@click.option("--database-url", default=None,
              help="SQLAlchemy URL (default: $DATABASE_URL, else sqlite:///complaints.db).")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A trained model directory (default: $TRIAGE_MODEL_DIR, else the shipped model).")
@click.option("--policy", "policy_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A policy directory (default: $TRIAGE_POLICY_DIR, else the shipped policy).")
def serve(host: str, port: int, workers: int | None, timeout: int, database_url: str | None, model_dir: Path | None,
          policy_dir: Path | None) -> None:
    """Serve the HTTP API under gunicorn (POSIX only).

    Example: complaint-triage serve --port 8000 --workers 2 --database-url sqlite:///complaints.db
    """
    import os

    from complaint_triage.service.server import run
    from complaint_triage.service.settings import Settings

    given = {"database_url": database_url, "model_dir": model_dir, "policy_dir": policy_dir}
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    workers = workers or len(os.sched_getaffinity(0)) + 1
    run(settings, host=host, port=port, workers=workers, timeout=timeout)
