"""Notifications: pluggable delivery of outbox rows.

The engine writes a notification to the `outbox` table in the same transaction as the transition
(or expiry, or reminder) that caused it, so a crash can never lose one. A worker then claims due
rows and hands each to a `Notifier`:

    LogNotifier      a structured log line (the default); never the payload's free text
    WebhookNotifier  HTTP POST of the row as JSON, HMAC-signed, with the row's idempotency key
    SmtpNotifier     a plain-text email (optional)

A notifier raises to signal failure; the worker then backs off exponentially and, after
`max_attempts`, marks the row `dead` with the last error (`caseclock outbox --status dead`,
`caseclock outbox retry ID`). Delivery is at least once: a worker killed after the POST but before
it recorded success delivers again, with the same `Idempotency-Key`, so receivers can drop repeats.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from engine import logs
from persistence.models import OutboxRow

log = logs.get_logger("caseclock.notify")

# what a log line or an email may say about a notification: names and dates, never free text
SAFE_FIELDS = ("case_ref", "workflow", "state", "deadline", "title", "due_on", "due_at", "role", "reminder", "late_by")


class Notifier(Protocol):
    def deliver(self, row: OutboxRow) -> None:
        """Deliver one notification; raise to signal failure (it will be retried)."""


class DeliveryError(Exception):
    """A notification could not be delivered (the message says why; it is stored as last_error)."""


def message(row: OutboxRow) -> dict[str, Any]:
    """The JSON document a notification is delivered as (also the webhook body)."""
    return {
        "id": row.id,
        "idempotency_key": row.idempotency_key,
        "kind": row.kind,
        "case_ref": row.case_ref,
        "created_at": _iso(row.created_at),
        "payload": dict(row.payload or {}),
    }


class LogNotifier:
    """Writes one structured log line per notification; the redaction processor in engine.logs
    drops `payload`, `data` and `reason` anyway, and this notifier only passes named fields."""

    def __init__(self, logger=None):
        self.log = logger or log

    def deliver(self, row: OutboxRow) -> None:
        payload = row.payload or {}
        fields = {k: payload[k] for k in ("deadline", "role", "due_on", "late_by", "workflow") if k in payload}
        self.log.info("notification", kind=row.kind, case_ref=row.case_ref, key=row.idempotency_key, **fields)


class WebhookNotifier:
    """POSTs `message(row)` as JSON to `url`.

    Headers: `Idempotency-Key` (the outbox row's key, the same on every retry),
    `X-Caseclock-Signature: sha256=<hex HMAC-SHA256 of the exact body with the shared secret>`
    (when a secret is set), `X-Caseclock-Kind`. Any non-2xx answer, a timeout or a connection
    error is a failure.
    """

    def __init__(self, url: str, secret: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        self.url = url
        self.secret = secret.encode() if secret else None
        self.client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def deliver(self, row: OutboxRow) -> None:
        body = json.dumps(message(row), sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": row.idempotency_key,
                   "X-Caseclock-Kind": row.kind}
        if self.secret:
            headers["X-Caseclock-Signature"] = "sha256=" + sign(self.secret, body)
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"webhook timed out: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook failed: {type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")

    def close(self) -> None:
        self.client.close()


def sign(secret: bytes | str, body: bytes) -> str:
    """The hex HMAC-SHA256 a receiver recomputes to check `X-Caseclock-Signature`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class SmtpNotifier:
    """Sends a short plain-text email per notification (names, dates and roles only)."""

    def __init__(self, host: str, port: int = 25, *, sender: str, recipients: list[str], timeout: float = 10.0):
        if not recipients:
            raise ValueError("the smtp notifier needs at least one recipient (CASECLOCK_SMTP_TO)")
        self.host, self.port, self.sender, self.recipients, self.timeout = host, port, sender, recipients, timeout

    def deliver(self, row: OutboxRow) -> None:
        payload = row.payload or {}
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        title = payload.get("deadline") or row.kind
        mail["Subject"] = f"[caseclock] {row.kind.replace('_', ' ')}: {row.case_ref} {title}"
        mail["Message-ID"] = f"<{hashlib.sha256(row.idempotency_key.encode()).hexdigest()[:32]}@caseclock>"
        mail["X-Caseclock-Idempotency-Key"] = row.idempotency_key
        lines = [f"{k.replace('_', ' ')}: {payload[k]}" for k in SAFE_FIELDS if payload.get(k) is not None]
        if payload.get("outcome"):
            lines.append(f"outcome: {payload['outcome']}")
        mail.set_content("\n".join([f"kind: {row.kind}", *lines]) + "\n")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp failed: {type(exc).__name__}: {exc}") from None


def backoff(attempts: int, base_seconds: float, cap_seconds: float = 3600.0) -> dt.timedelta:
    """Delay before the next try after `attempts` failures: base, 2*base, 4*base, ... capped."""
    return dt.timedelta(seconds=min(cap_seconds, base_seconds * (2 ** max(0, attempts - 1))))


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def build_notifier(config) -> Notifier:
    """The notifier `NotifySettings` (engine.settings, validated there) asks for."""
    if config.kind == "webhook":
        return WebhookNotifier(config.webhook_url, config.webhook_secret, timeout=config.webhook_timeout_seconds)
    if config.kind == "smtp":
        return SmtpNotifier(config.smtp_host, config.smtp_port, sender=config.smtp_from,
                            recipients=[a.strip() for a in (config.smtp_to or "").split(",") if a.strip()])
    return LogNotifier()
