"""``complaint-triage sweep``: mark overdue cases, create their notifications, deliver pending ones.

Meant to run every minute from cron or a systemd timer (README, "Overdue cases and notifications").
"""

from __future__ import annotations

import logging

import click


@click.command()
@click.option("--database-url", default=None,
              help="SQLAlchemy URL (default: $DATABASE_URL, else sqlite:///complaints.db).")
@click.option("--deliver", is_flag=True,
              help="Also POST pending notifications to $TRIAGE_WEBHOOKS (signed with $TRIAGE_WEBHOOK_SECRET), "
                   "retrying failures with backoff until --max-seconds.")
@click.option("--max-seconds", type=click.FloatRange(0, 3600), default=50.0, show_default=True,
              help="How long delivery may keep retrying; what is left stays pending for the next run.")
@click.option("--table-prefix", default="", hidden=True, help="Tables' name prefix (tests share one database).")
def sweep(database_url: str | None, deliver: bool, max_seconds: float, table_prefix: str) -> None:
    """Mark every case with a deadline passed without its step (acknowledged, reported, resolved) as overdue —
    an event by system:sweep in its history — with a notification to the departments in also_notify and
    management; with --deliver, send pending notifications to the webhooks. Safe to run again or concurrently.

    Example: TRIAGE_WEBHOOKS=https://hooks.example/triage TRIAGE_WEBHOOK_SECRET=... complaint-triage sweep --deliver
    """
    from complaint_triage.service.settings import Settings
    from complaint_triage.service.store import Store
    from complaint_triage.service.webhooks import WebhookConfig
    from complaint_triage.service.webhooks import deliver as deliver_all

    settings = Settings(**({"database_url": database_url} if database_url else {}))
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = None
    if deliver:
        try:
            config = WebhookConfig.from_settings(settings)
        except ValueError as e:
            raise click.ClickException(str(e)) from e
    store = Store(settings.database_url, table_prefix=table_prefix)
    try:
        store.create_schema()
        result = store.outbox.sweep()
        click.echo(f"overdue: {result.steps} step(s) newly overdue on {result.cases} case(s)")
        if config is not None:
            report = deliver_all(store.outbox, config, max_seconds=max_seconds)
            click.echo(f"delivered: {report.delivered} notification(s); {report.failed_attempts} failed "
                       f"attempt(s); {report.pending} pending")
            for error in report.errors[:5]:
                click.echo(f"  {error}", err=True)
        else:
            click.echo(f"pending notifications: {store.outbox.counts().get('pending', 0)} (deliver with --deliver)")
    finally:
        store.engine.dispose()
