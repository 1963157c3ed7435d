"""Outbox handlers for customers' notices: e-mail ("email.notice") and signed webhooks ("webhook.notice").

The rows are rendered when they are written (outreach/notices.py), so delivery only sends them.

E-mail: SMTP cannot be asked afterwards whether a message arrived, so a row in doubt after a crash
is sent again — with the same Message-ID (derived from the outbox key), which lets the receiving
side drop the copy. Webhooks carry the outbox key as `Idempotency-Key` for the same reason.

Webhook signature (documented for subscribers): `X-Outreach-Timestamp: <unix seconds>` and
`X-Outreach-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the shared secret>`;
check it, and reject timestamps older than 5 minutes. The body is Statuspage's incident webhook
(`{"meta", "page", "incident": {..., "incident_updates": [...]}}`), so existing receivers parse it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any

import aiohttp

from monitor.delivery import OutboxItem, PermanentFailure, RetryLater
from outreach.email import EmailSettings, send_email


def message_id(key: str, sender: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{sender.rpartition('@')[2] or 'outreach-monitor'}>"


class EmailDelivery:
    kind = "email.notice"
    min_interval = 0.0

    def __init__(self, settings: EmailSettings, *, tls_context: Any = None) -> None:
        self.settings = settings
        self._tls = tls_context

    async def deliver(self, item: OutboxItem) -> str:
        p = item.payload
        msg = EmailMessage()
        msg["To"] = item.target
        msg["From"] = self.settings.sender
        msg["Subject"] = p["subject"]
        msg["Message-ID"] = message_id(item.key, self.settings.sender)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies back to us
        msg.set_content(p["text"])
        return await send_email(self.settings, msg, tls_context=self._tls)

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None  # unknowable over SMTP; the resend carries the same Message-ID


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float, max_age: float = 300.0) -> bool:
    """What a subscriber does with our webhook (and what the sandbox sink does)."""
    try:
        if abs(now - float(timestamp)) > max_age:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookDelivery:
    kind = "webhook.notice"
    min_interval = 0.0

    def __init__(self, secrets: Mapping[str, str], *, session: aiohttp.ClientSession | None = None,
                 clock: Callable[[], float] = time.time, timeout: float = 10.0) -> None:
        self.secrets = dict(secrets)  # url -> shared secret (from the environment via the config)
        self._session = session
        self.clock = clock
        self.timeout = timeout

    async def deliver(self, item: OutboxItem) -> str:
        body = json.dumps(item.payload, separators=(",", ":"), sort_keys=True).encode()
        ts = str(int(self.clock()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": item.key, "X-Outreach-Timestamp": ts,
                   "User-Agent": "outreach-monitor notices"}
        secret = self.secrets.get(item.target)
        if secret:
            headers["X-Outreach-Signature"] = sign(secret, ts, body)
        session = self._session or aiohttp.ClientSession(trust_env=False)
        try:
            async with session.post(item.target, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                await resp.read()
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise RetryLater(f"webhook unreachable: {type(e).__name__}: {e}") from None
        finally:
            if self._session is None:
                await session.close()
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status == 429 or status >= 500 or status == 408:
            raise RetryLater(f"webhook HTTP {status}", retry_after=_float(retry_after))
        raise PermanentFailure(f"webhook refused the notice: HTTP {status}")

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None  # the receiver dedupes on Idempotency-Key


def _float(v: str | None) -> float | None:
    try:
        return float(v) if v else None
    except ValueError:
        return None
