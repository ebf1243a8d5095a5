"""The console's accounts: agents and managers, each a name (the actor recorded on every change they make), a
role and a password hash (werkzeug.security: scrypt, salted). Accounts are made with
``complaint-triage users add NAME --role agent|manager``; nobody signs in until one exists.

The key that signs the console's session cookies comes from ``TRIAGE_SECRET_KEY`` when set; otherwise one is
made at random on the first start and kept in the database, so every worker (and every restart) shares it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, get_args

from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, String, Table, select, text, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from complaint_triage.service.store import UTCDateTime, make_engine

Role = Literal["agent", "manager"]
ROLES: tuple[str, ...] = get_args(Role)
# An account name is an agent id: it is what the case's history and assignee hold.
NAME = re.compile(r"[A-Za-z0-9._@+-]{1,100}")
MIN_PASSWORD = 8
# A hash to compare against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    active: bool = True

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


class Accounts:
    def __init__(self, url: str = "", table_prefix: str = "", engine: Engine | None = None):
        self.engine = engine or make_engine(url)
        self.table_prefix = table_prefix
        self.metadata = MetaData()
        p = table_prefix
        self.users = Table(
            f"{p}console_users", self.metadata,
            Column("name", String(200), primary_key=True),
            Column("role", String(16), nullable=False),
            Column("password_hash", String(400), nullable=False),
            Column("active", Boolean, nullable=False, server_default=text("true")),
            Column("created_at", UTCDateTime(), nullable=False),
        )
        self.secret = Table(
            f"{p}console_secret", self.metadata,
            Column("id", Integer, primary_key=True),
            Column("value", String(200), nullable=False),
        )

    schema_ready = False

    def ensure_schema_once(self) -> None:
        """For an app that started while the database was down: make the tables on the first request."""
        if not self.schema_ready:
            self.create_schema()

    def create_schema(self) -> None:
        """Make or upgrade the console's tables with Alembic (service/console/migrations, own version table)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", "complaint_triage.service.console:migrations")
        config.attributes["table_prefix"] = self.table_prefix
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                             {"k": f"complaint_triage.console.migrate.{self.table_prefix}"})
            elif conn.dialect.name == "sqlite":
                # a write first, so workers starting together upgrade one at a time (the write lock)
                conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS _console_migrate_lock (x INTEGER)")
                conn.exec_driver_sql("DROP TABLE _console_migrate_lock")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        self.schema_ready = True

    def drop_schema(self) -> None:
        self.metadata.drop_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{self.table_prefix}console_alembic_version"'))

    # ------------------------------------------------------------ accounts
    def add(self, name: str, role: str, password: str, replace: bool = False) -> User:
        if not NAME.fullmatch(name):
            raise AccountError(f"an account name is 1-100 letters, digits or . _ @ + - (got {name!r})")
        if role not in ROLES:
            raise AccountError(f"role is one of {', '.join(ROLES)} (got {role!r})")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
        values = {"name": name, "role": role, "password_hash": generate_password_hash(password), "active": True,
                  "created_at": datetime.now(timezone.utc)}
        try:
            with self.engine.begin() as conn:
                conn.execute(self.users.insert().values(**values))
        except IntegrityError:
            if not replace:
                raise AccountError(f"an account named {name!r} exists (--replace sets its role and password)") \
                    from None
            with self.engine.begin() as conn:
                conn.execute(update(self.users).where(self.users.c.name == name).values(
                    role=role, password_hash=values["password_hash"], active=True))
        return User(name, role)  # type: ignore[arg-type]

    def deactivate(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(update(self.users).where(self.users.c.name == name).values(active=False)).rowcount == 0:
                raise AccountError(f"no account named {name!r}")

    def get(self, name: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.users).where(self.users.c.name == name)).mappings().first()
        return User(row["name"], row["role"], row["active"]) if row is not None else None

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.users).order_by(self.users.c.name)).mappings().all()
        return [User(r["name"], r["role"], r["active"]) for r in rows]

    def check(self, name: str, password: str) -> User | None:
        """The active account with this name and password, or None (as slow for an unknown name)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(self.users).where(self.users.c.name == name)).mappings().first()
        ok = check_password_hash(row["password_hash"] if row is not None else _DUMMY_HASH, password)
        if row is None or not ok or not row["active"]:
            return None
        return User(row["name"], row["role"])

    # ------------------------------------------------------------ the session key
    def session_key(self) -> str:
        """The stored key (made on first use; two workers starting at once agree on the first one written)."""
        with self.engine.begin() as conn:
            value = conn.execute(select(self.secret.c.value).where(self.secret.c.id == 1)).scalar()
        if value is not None:
            return value
        try:
            with self.engine.begin() as conn:
                conn.execute(self.secret.insert().values(id=1, value=secrets.token_urlsafe(48)))
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            return conn.execute(select(self.secret.c.value).where(self.secret.c.id == 1)).scalar_one()
