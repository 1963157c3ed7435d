"""The digest as an HTML e-mail with its charts inline (multipart/related, `cid:` images), plus a
plain-text part (the Markdown) for readers that want it; sent through outreach/email.py.

The outbox row carries what the message needs (subject, text, HTML, images) so delivery only
assembles and sends it. The Message-ID comes from the outbox key: a resend after a crash (SMTP
cannot be asked whether a message arrived) is recognisable as the same message.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from monitor.delivery import OutboxItem, PermanentFailure
from monitor.digest.render import headline, to_html, to_markdown
from monitor.outbox import NewEffect
from outreach.email import EmailSettings, send_email
from outreach.notify_delivery import message_id

KIND = "email.digest"


def _cid(name: str) -> str:
    return f"{name}@digest"


def payload(d: Mapping[str, Any], pngs: Mapping[str, bytes], page_url: str = "") -> dict[str, Any]:
    links = {"index": page_url.rsplit("/digests", 1)[0] + "/digests"} if page_url else {}
    return {
        "subject": f"{d['title']}: {headline(d)}",
        "text": to_markdown(d) + (f"\nThe page: {page_url}\n" if page_url else ""),
        "html": to_html(d, {n: f"cid:{_cid(n)}" for n in pngs}, links=links),
        "images": {n: base64.b64encode(b).decode() for n, b in pngs.items()},
    }


def build_message(p: Mapping[str, Any], *, to: str, sender: str, msg_id: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["From"] = formataddr(("Outreach monitor digests", sender))
    msg["Subject"] = p["subject"]
    if msg_id:
        msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies back to us
    msg.set_content(p["text"])
    msg.add_alternative(p["html"], subtype="html")
    html = msg.get_payload()[1]  # type: ignore[index]
    for name, b64 in p.get("images", {}).items():
        html.add_related(base64.b64decode(b64), "image", "png", cid=f"<{_cid(name)}>", filename=f"{name}.png",
                         disposition="inline")
    return msg


def effects(key: str, d: Mapping[str, Any], pngs: Mapping[str, bytes], to: list[str], page_url: str) -> list[NewEffect]:
    body = payload(d, pngs, page_url)
    return [NewEffect(f"digest.email:{key}:{addr}", KIND, addr, body, priority=3) for addr in to]


class DigestEmailDelivery:
    kind = KIND
    min_interval = 0.0

    def __init__(self, settings: EmailSettings, *, sender: str | None = None, tls_context: Any = None) -> None:
        self.settings = settings
        self.sender = sender or settings.sender
        self._tls = tls_context

    async def deliver(self, item: OutboxItem) -> str:
        try:
            msg = build_message(item.payload, to=item.target, sender=self.sender,
                                msg_id=message_id(item.key, self.sender))
        except (KeyError, ValueError) as e:
            raise PermanentFailure(f"the digest e-mail row cannot be assembled: {e}") from e
        return await send_email(self.settings, msg, tls_context=self._tls)

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None  # unknowable over SMTP; the resend carries the same Message-ID
