"""E-mail out, through aiosmtplib: the one place SMTP errors become our two delivery outcomes.

    await send_email(settings, message)   # -> the Message-ID (set here when the message has none)

Used by the incident notifications (outreach/notify_delivery.py) and the digests. Raises
`RetryLater` for what may work later (connection refused, timeout, a 4xx reply such as "try again",
greylisting) and `PermanentFailure` for what never will (authentication refused, a 5xx reply such
as "no such mailbox"), so the outbox dispatcher retries or dead-letters like for any other service.
The password comes from the environment through the config (`${SMTP_PASSWORD}`) and is never logged.
"""
from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from monitor.delivery import PermanentFailure, RetryLater


class EmailSettings(BaseModel):
    """The `email:` section: how to reach the SMTP relay."""

    model_config = ConfigDict(extra="forbid")

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    # "starttls": plain connection upgraded with STARTTLS (port 587, required when asked for);
    # "tls": TLS from the first byte (port 465); "none": no TLS at all (a local relay, the sandbox).
    security: str = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "status@example.com"  # the From: address
    timeout: float = Field(30.0, gt=0)
    # A CA bundle to trust instead of the system's (a private relay's own CA); None: the system's.
    ca_file: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if self.security not in ("starttls", "tls", "none"):
            raise ValueError("security: expected one of 'starttls', 'tls', 'none'")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (SMTP AUTH needs both)")
        return self


def _tls_context(settings: EmailSettings) -> ssl.SSLContext | None:
    if settings.security == "none":
        return None
    return ssl.create_default_context(cafile=settings.ca_file)


async def send_email(settings: EmailSettings, message: EmailMessage, *, tls_context: ssl.SSLContext | None = None) -> str:
    """Send one message; returns its Message-ID. `tls_context` overrides the one built from settings (tests)."""
    if message["Message-ID"] is None:
        message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    if message["From"] is None:
        message["From"] = settings.sender
    ctx = tls_context or _tls_context(settings)
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.security == "tls",
            start_tls=True if settings.security == "starttls" else False,
            tls_context=ctx,
            timeout=settings.timeout,
        )
    except aiosmtplib.SMTPAuthenticationError as e:
        raise PermanentFailure(f"SMTP authentication refused ({e.code})") from None
    except aiosmtplib.SMTPRecipientsRefused as e:
        codes = [r.code for r in e.recipients]
        if all(c >= 500 for c in codes):
            raise PermanentFailure(f"SMTP refused every recipient ({codes})") from None
        raise RetryLater(f"SMTP deferred recipients ({codes})") from None
    except aiosmtplib.SMTPResponseException as e:
        if e.code >= 500:
            raise PermanentFailure(f"SMTP {e.code}: {e.message}") from None
        raise RetryLater(f"SMTP {e.code}: {e.message}") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:  # connect, timeout, TLS handshake
        raise RetryLater(f"SMTP unreachable: {type(e).__name__}: {e}") from None
    return str(message["Message-ID"])
