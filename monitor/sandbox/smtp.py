"""A real SMTP server (aiosmtpd) in the current event loop, recording every message it accepts.

    smtp = SandboxSMTP(username="u", password="p", tls_context=server_ctx)  # both optional
    await smtp.start()            # 127.0.0.1, port 0 → smtp.port
    ... aiosmtplib sends ...
    smtp.messages[0].message["Subject"]; smtp.messages[0].rcpt_tos

With a `tls_context` it offers STARTTLS and requires it before MAIL (and before AUTH); with a
username it requires AUTH LOGIN/PLAIN. `reject` makes the next deliveries fail with an SMTP code
(e.g. 451 "try again later", 550 "no such mailbox") so tests can drive the retry path.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None
    tls: bool

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else ""


@dataclass
class SandboxSMTP:
    host: str = "127.0.0.1"
    port: int = 0
    username: str | None = None
    password: str | None = None
    tls_context: ssl.SSLContext | None = None  # server side: offer (and require) STARTTLS
    messages: list[Received] = field(default_factory=list)
    reject: list[tuple[int, str]] = field(default_factory=list)  # queued failures for the next DATA commands
    logins_refused: int = 0

    def __post_init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._listeners: list[Callable[[], None]] = []

    def listen(self, on_message: Callable[[], None]) -> None:
        """Call `on_message` after each accepted message (tests wait on traffic, not on time)."""
        self._listeners.append(on_message)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]

    # ── aiosmtpd handler hooks ─────────────────────────────────────────────────────────────
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reject:
            code, text = self.reject.pop(0)
            return f"{code} {text}"
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.messages.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), msg, login,
                                      session.ssl is not None))
        for fn in self._listeners:
            fn()
        return "250 Message accepted for delivery"

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and data.login.decode() == self.username \
                and data.password.decode() == self.password:
            return AuthResult(success=True, auth_data=data)
        self.logins_refused += 1
        return AuthResult(success=False, handled=False)

    # ── run ────────────────────────────────────────────────────────────────────────────────
    async def start(self) -> int:
        def factory() -> SMTP:
            return SMTP(
                self,
                hostname="sandbox.smtp",
                tls_context=self.tls_context,
                require_starttls=self.tls_context is not None,
                auth_required=self.username is not None,
                # Without TLS, AUTH over plain text is allowed: the sandbox is on 127.0.0.1 only.
                auth_require_tls=self.tls_context is not None,
                authenticator=self._authenticate if self.username is not None else None,
                enable_SMTPUTF8=True,
            )

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(factory, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
