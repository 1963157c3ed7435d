"""outreach.email.send_email against a real aiosmtpd server: plain, STARTTLS + AUTH, and each failure class."""
from __future__ import annotations

import ssl
from email.message import EmailMessage

import pytest
import trustme
from pydantic import SecretStr

from monitor.delivery import PermanentFailure, RetryLater
from monitor.sandbox.smtp import SandboxSMTP
from outreach.email import EmailSettings, send_email


def _message(to: str = "ana@example.net") -> EmailMessage:
    m = EmailMessage()
    m["To"] = to
    m["Subject"] = "Checkout is slow"
    m.set_content("We are looking into it.")
    return m


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def test_plain_delivery_returns_message_id() -> None:
    smtp = SandboxSMTP()
    await smtp.start()
    try:
        settings = EmailSettings(host="127.0.0.1", port=smtp.port, security="none", sender="status@acme.test")
        mid = await send_email(settings, _message())
        assert len(smtp.messages) == 1
        got = smtp.messages[0]
        assert got.message["Message-ID"] == mid and mid.endswith("@acme.test>")
        assert got.message["From"] == "status@acme.test"
        assert got.rcpt_tos == ["ana@example.net"]
        assert "looking into it" in got.body
        assert not got.tls and got.authenticated_as is None
    finally:
        await smtp.stop()


async def test_starttls_and_auth(ca: trustme.CA) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    smtp = SandboxSMTP(username="relay", password="s3cret", tls_context=server_ctx)
    await smtp.start()
    try:
        settings = EmailSettings(host="127.0.0.1", port=smtp.port, security="starttls",
                                 username="relay", password="s3cret")
        await send_email(settings, _message(), tls_context=client_ctx)
        assert smtp.messages[0].tls and smtp.messages[0].authenticated_as == "relay"

        wrong = settings.model_copy(update={"password": SecretStr("nope")})
        with pytest.raises(PermanentFailure, match="authentication"):
            await send_email(wrong, _message(), tls_context=client_ctx)
        assert smtp.logins_refused >= 1 and len(smtp.messages) == 1  # aiosmtplib tries each mechanism

        # A client that does not trust the relay's certificate never sends the password.
        with pytest.raises(RetryLater):
            await send_email(settings, _message(), tls_context=ssl.create_default_context())
    finally:
        await smtp.stop()


@pytest.mark.parametrize(("code", "outcome"), [(451, RetryLater), (554, PermanentFailure)])
async def test_smtp_reply_codes_map_to_outcomes(code: int, outcome: type[Exception]) -> None:
    smtp = SandboxSMTP(reject=[(code, "sandbox says no")])
    await smtp.start()
    try:
        settings = EmailSettings(host="127.0.0.1", port=smtp.port, security="none")
        with pytest.raises(outcome, match=str(code)):
            await send_email(settings, _message())
        assert smtp.messages == []
        await send_email(settings, _message())  # the fault was for one message only
        assert len(smtp.messages) == 1
    finally:
        await smtp.stop()


async def test_unreachable_relay_is_retried_later() -> None:
    smtp = SandboxSMTP()
    port = await smtp.start()
    await smtp.stop()
    with pytest.raises(RetryLater, match="unreachable"):
        await send_email(EmailSettings(host="127.0.0.1", port=port, security="none", timeout=2), _message())


def test_settings_refuse_half_credentials_and_unknown_security() -> None:
    with pytest.raises(ValueError, match="go together"):
        EmailSettings(username="u")
    with pytest.raises(ValueError, match="security"):
        EmailSettings(security="ssl")
