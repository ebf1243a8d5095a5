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
    # The work one request may ask for: characters of complaint text per batch (~0.4-0.8 s of one core). Two
    # full batches on two sync workers then keep /healthz waiting under a second; bigger backlogs are split
    # into more requests, or go through `complaint-triage batch`.
    max_batch_chars: int = Field(default=200_000, ge=20_000)
    # A full batch of long texts is large; the cap keeps one request from exhausting a worker's memory.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    model_dir: Path | None = None
    policy_dir: Path | None = None
    log_level: str = "INFO"

    @property
    def key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())
