"""Service configuration, read once from the environment (prefix ``TRIAGE_``) so one image runs anywhere."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from complaint_triage.masking import DEFAULT_ID_HASH_KEY


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", populate_by_name=True)

    # DATABASE_URL is the conventional name deployment platforms set; accept it unprefixed too.
    database_url: str = Field(
        default="sqlite:///complaints.db",
        validation_alias=AliasChoices("database_url", "DATABASE_URL", "TRIAGE_DATABASE_URL"),
    )
    # Comma-separated keys, each optionally `key:agent_id` (the agent recorded as the actor of every change made
    # with that key); empty means the API is open (a local or trusted-network deployment) and the actor is
    # the X-Actor header.
    api_keys: str = ""
    max_batch: int = Field(default=1000, ge=1)
    # The work one request may ask for: characters of complaint text per batch (a full batch is 0.6-1.7 s of one
    # core here). A sync worker answers nothing else meanwhile, so this bounds how long a health check can wait
    # when every worker is busy; serve's default of cores + 1 workers keeps one free for it. Bigger backlogs
    # are split into more requests, or go through `complaint-triage batch`.
    max_batch_chars: int = Field(default=100_000, ge=20_000)
    # A full batch of long texts is large; the cap keeps one request from exhausting a worker's memory.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    model_dir: Path | None = None
    policy_dir: Path | None = None
    log_level: str = "INFO"
    # TRIAGE_ID_HASH_KEY: ids that are personal data (a phone number as complaint id) are stored and returned as
    # id-<HMAC-SHA256 under this key>. Set it in a deployment; the default is public, for local use only.
    id_hash_key: SecretStr = SecretStr(DEFAULT_ID_HASH_KEY)
    # Notifications (level ≥ 2 and overdue cases), delivered by `complaint-triage sweep --deliver`
    # (service/webhooks.py): TRIAGE_WEBHOOKS comma-separated URLs, each receiving every notification, signed
    # with HMAC-SHA256 under TRIAGE_WEBHOOK_SECRET; timeout per POST, first retry delay (doubled each time),
    # and the lease a deliverer holds a notification for (a killed one's rows are taken up after it).
    webhooks: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_backoff: float = Field(default=5.0, gt=0)
    webhook_lease: float = Field(default=120.0, gt=0)

    @property
    def key_owners(self) -> dict[str, str | None]:
        """Each key and its agent id (None when the entry names none)."""
        out: dict[str, str | None] = {}
        for entry in self.api_keys.split(","):
            key, _, owner = entry.strip().partition(":")
            if key.strip():
                out[key.strip()] = owner.strip() or None
        return out

    @property
    def key_set(self) -> frozenset[str]:
        return frozenset(self.key_owners)
