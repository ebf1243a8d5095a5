"""Service configuration, read once from the environment (prefix ``TRIAGE_``) so one image runs anywhere."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", populate_by_name=True)

    # DATABASE_URL is the conventional name deployment platforms set; accept it unprefixed too.
    database_url: str = Field(
        default="sqlite:///complaints.db",
        validation_alias=AliasChoices("database_url", "DATABASE_URL", "TRIAGE_DATABASE_URL"),
    )
    # Comma-separated; empty means the API is open (a local or trusted-network deployment).
    api_keys: str = ""
    max_batch: int = Field(default=1000, ge=1)
    # A full batch of long texts is large; the cap keeps one request from exhausting a worker's memory.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    model_dir: Path | None = None
    policy_dir: Path | None = None
    log_level: str = "INFO"

    @property
    def key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())
