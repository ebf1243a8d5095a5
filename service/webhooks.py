"""Delivering the outbox (service/outbox.py) to the configured webhooks, at least once.

Every notification is POSTed as JSON to every URL in ``TRIAGE_WEBHOOKS`` with

- ``X-Triage-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes under ``TRIAGE_WEBHOOK_SECRET``
  (:func:`verify` is the receiver's side; compare in constant time);
- ``Idempotency-Key: <notification id>``: the same on every attempt, so a receiver that keeps the keys it has
  processed handles each notification exactly once although it may receive one more than once;
- ``X-Triage-Attempt: <n>``.

A URL is done after a 2xx, remembered at once; anything else (a 4xx/5xx, a refused connection, a timeout) is
retried later with exponential backoff (``backoff × 2^(attempts-1)``, jittered, capped), never dropped. The
notification is delivered when every URL is done. Rows are claimed for a lease; a process killed mid-delivery
leaves them pending and the next run takes them up when the lease has run out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from complaint_triage.service.outbox import Claimed, Outbox

if TYPE_CHECKING:
    from complaint_triage.service.settings import Settings

log = logging.getLogger("complaint_triage.service.webhooks")

SIGNATURE_HEADER = "X-Triage-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ATTEMPT_HEADER = "X-Triage-Attempt"


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """The receiver's check of ``X-Triage-Signature`` (constant-time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


@dataclass(frozen=True)
class WebhookConfig:
    urls: tuple[str, ...]
    secret: bytes
    timeout: float = 10.0  # seconds one POST may take
    backoff: float = 5.0  # seconds before the second attempt; doubled each time
    max_backoff: float = 3600.0
    lease: float = 120.0  # seconds a claimed notification stays with one deliverer
    batch: int = 50

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("no webhooks configured: set TRIAGE_WEBHOOKS to one or more comma-separated URLs")
        if not self.secret:
            raise ValueError("TRIAGE_WEBHOOK_SECRET is empty: receivers could not tell our notifications from "
                             "forgeries")
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook {url!r} is not an http(s) URL")
        if self.lease < self.timeout * len(self.urls):
            # a lease shorter than one round of POSTs would let a second deliverer take the row meanwhile
            raise ValueError(f"the lease ({self.lease:g} s) must cover one attempt at every webhook "
                             f"({len(self.urls)} × {self.timeout:g} s timeout)")

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        urls = tuple(u.strip() for u in settings.webhooks.split(",") if u.strip())
        return cls(urls=urls, secret=settings.webhook_secret.get_secret_value().encode(),
                   timeout=settings.webhook_timeout, backoff=settings.webhook_backoff, lease=settings.webhook_lease)

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones: exponential, with jitter in [½, 1]."""
        base = min(self.max_backoff, self.backoff * 2 ** max(attempts - 1, 0))
        return base * random.uniform(0.5, 1.0)


class DeliveryFailed(Exception):
    pass


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One POST; the status code, or DeliveryFailed when no answer came (refused, reset, timed out)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked above
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError) as e:  # TimeoutError is an OSError
        raise DeliveryFailed(f"{type(getattr(e, 'reason', e)).__name__}: {getattr(e, 'reason', e)}") from e


@dataclass
class DeliveryReport:
    delivered: int = 0  # notifications delivered to every webhook in this run
    failed_attempts: int = 0
    pending: int = 0  # left for a later run
    errors: list[str] = field(default_factory=list)


def deliver_one(outbox: Outbox, config: WebhookConfig, claimed: Claimed) -> str | None:
    """Try every webhook not yet done; None when all are, else the first error."""
    body = json.dumps(claimed.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    headers = {SIGNATURE_HEADER: sign(config.secret, body), IDEMPOTENCY_HEADER: claimed.id,
               ATTEMPT_HEADER: str(claimed.attempts + 1)}
    error = None
    for url in config.urls:
        if url in claimed.delivered_to:
            continue
        try:
            status = post(url, body, headers, config.timeout)
        except DeliveryFailed as e:
            error = error or f"{url}: {e}"
            continue
        if 200 <= status < 300:
            outbox.delivered_to(claimed, url)
        else:
            error = error or f"{url}: HTTP {status}"
    return error


def deliver(outbox: Outbox, config: WebhookConfig, max_seconds: float = 50.0,
            sleep: float = 0.0) -> DeliveryReport:
    """Deliver what is due, and keep retrying what fails, for up to ``max_seconds`` (a cron run every minute
    stops before the next starts); whatever is still pending stays for the next run. ``sleep`` is an extra
    pause between rounds (tests)."""
    report = DeliveryReport()
    stop = time.monotonic() + max_seconds
    lease = timedelta(seconds=config.lease)
    round_trip = config.timeout * len(config.urls)  # the longest one notification can take
    per_claim = max(1, min(config.batch, int(config.lease // round_trip)))
    while time.monotonic() < stop:
        claimed_at = time.monotonic()
        batch = outbox.claim(per_claim, lease)
        for claimed in batch:
            if time.monotonic() + round_trip > claimed_at + config.lease:
                break  # its lease could run out mid-send: leave the rest to be claimed again
            error = deliver_one(outbox, config, claimed)
            if error is None:
                outbox.finish(claimed)
                report.delivered += 1
                log.info("notification delivered", extra={"notification": claimed.id,
                                                          "attempts": claimed.attempts + 1})
            else:
                wait = config.delay(claimed.attempts + 1)
                outbox.retry_later(claimed, datetime.now(timezone.utc) + timedelta(seconds=wait), error)
                report.failed_attempts += 1
                if len(report.errors) < 20:
                    report.errors.append(error)
                log.warning("notification not delivered, retrying in %.1f s: %s", wait, error,
                            extra={"notification": claimed.id, "attempts": claimed.attempts + 1})
            if time.monotonic() >= stop:
                break
        if batch:
            time.sleep(sleep)
            continue
        due = outbox.next_due()
        if due is None:
            break
        wait = (due - datetime.now(timezone.utc)).total_seconds()
        if time.monotonic() + wait >= stop:
            break
        time.sleep(max(wait, 0.05))
    report.pending = outbox.counts().get("pending", 0)
    return report
