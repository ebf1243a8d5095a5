"""The agent console and the manager's dashboard: server-rendered pages under /console (one blueprint), with
its own accounts, forms, words (en/zh), templates and static files inside the package.

``init_console(app)`` is all the application factory calls: it needs the app's store, case functions and
Decider in ``app.extensions`` (``triage_store``, ``triage_cases``, ``triage_decider``).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from flask import Flask

from complaint_triage.service.console.accounts import Accounts
from complaint_triage.service.errors import UNAVAILABLE, log_exception


def init_console(app: Flask, accounts: Accounts | None = None) -> None:
    from flask_wtf.csrf import generate_csrf

    from complaint_triage.service.console import i18n, views

    store = app.extensions["triage_store"]
    accounts = accounts or Accounts(engine=store.engine, table_prefix=store.table_prefix)
    key = os.environ.get("TRIAGE_SECRET_KEY")
    try:
        accounts.create_schema()
        key = key or accounts.session_key()
    except UNAVAILABLE as e:
        # The database may come up after the service (the API answers 503 meanwhile). Sessions signed with this
        # process's own key last until a restart: set TRIAGE_SECRET_KEY where that matters.
        log_exception("console: database unavailable at start:", e)
        key = key or secrets.token_urlsafe(48)
    app.extensions["console_accounts"] = accounts
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = key
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("TRIAGE_COOKIE_SECURE", "") == "1",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=12 * 3600,
    )
    app.register_blueprint(views.console)
    app.jinja_env.globals.update(
        _=i18n.translate, label=i18n.label, lang=i18n.current_language, csrf_token=generate_csrf,
        fmt_time=views.fmt_time, fmt_left=views.fmt_left, tz_name=views.tz_name)
