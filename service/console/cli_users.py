"""``complaint-triage users``: the console's accounts (agents and managers), made from the command line."""

from __future__ import annotations

import sys

import click


def _accounts(database_url: str | None):
    from complaint_triage.service.console.accounts import Accounts
    from complaint_triage.service.settings import Settings

    settings = Settings(**({"database_url": database_url} if database_url else {}))
    accounts = Accounts(settings.database_url)
    accounts.create_schema()
    return accounts


_DB = click.option("--database-url", default=None,
                   help="SQLAlchemy URL (default: $DATABASE_URL, else sqlite:///complaints.db): the service's database.")


@click.group()
def users() -> None:
    """Accounts of the console (/console): agents work the queue and cases, managers also see the dashboard."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["agent", "manager"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--replace", is_flag=True, help="Set a new role and password on an existing account.")
@_DB
def users_add(name: str, role: str, password_stdin: bool, replace: bool, database_url: str | None) -> None:
    """Add an account; the password is asked for (twice) unless --password-stdin.

    NAME is the agent id recorded as the actor of every change the account makes.

    Example: complaint-triage users add wang.li --role agent
    """
    from complaint_triage.service.console.accounts import AccountError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = _accounts(database_url).add(name, role, password, replace=replace)
    except AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{user.name} ({user.role}) can sign in at /console")


@users.command("list")
@_DB
def users_list(database_url: str | None) -> None:
    """List the accounts, one a line: name, role, active.

    Example: complaint-triage users list --database-url sqlite:///complaints.db
    """
    for u in _accounts(database_url).all():
        click.echo(f"{u.name}\t{u.role}\t{'active' if u.active else 'inactive'}")


@users.command("deactivate")
@click.argument("name")
@_DB
def users_deactivate(name: str, database_url: str | None) -> None:
    """Stop an account from signing in (its name stays in the cases' history).

    Example: complaint-triage users deactivate wang.li
    """
    from complaint_triage.service.console.accounts import AccountError

    try:
        _accounts(database_url).deactivate(name)
    except AccountError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{name} can no longer sign in")
