"""What customers read about an incident, rendered from templates in a jinja2 sandbox, checked before use.

Templates see only public facts: the service's public name, the incident's public status and
message, the status page link, the brand. They never see check names, URLs of checks, hosts or
error details, and `check_public()` refuses any rendered text that still contains one (or any IP
address or internal-looking host name), because a message the operator wrote by hand may.

An operator's own templates (`incidents.templates:` directory, files named like the keys of
DEFAULTS with `.j2`) replace the shipped ones one by one.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

DEFAULTS: dict[str, str] = {
    "email_subject": (
        "{% if status == 'resolved' %}Resolved: {{ service }} is working normally"
        "{% else %}{{ service }}: {{ status_label }}{% endif %}"
    ),
    "email_body": (
        "Hello,\n\n{{ message }}\n\n"
        "{% if status == 'resolved' %}Thank you for your patience.{% else %}"
        "Status: {{ status_label }} (since {{ started }}).{% endif %}\n"
        "{% if status_url %}Follow the latest at {{ status_url }}\n{% endif %}"
        "\n— {{ brand }}\n"
    ),
    "delay_subject": (
        "{% if resolved %}{{ service }} is back on track{% else %}{{ service }} is running late"
        "{% if region %} in {{ region }}{% endif %}{% endif %}"
    ),
    "delay_body": (
        "Hello,\n\n{% if order %}About your order {{ order }}: {% endif %}{{ message }}\n\n"
        "{% if not resolved %}{% if eta %}We now expect it by {{ eta }}.{% elif delay_minutes %}"
        "Expect a delay of about {{ delay_minutes }} minutes.{% endif %}\n{% endif %}"
        "{% if status_url %}Follow the latest at {{ status_url }}\n{% endif %}"
        "We are sorry for the wait. You do not need to do anything.\n\n— {{ brand }}\n"
    ),
    "public_post": (
        "{% if status == 'resolved' %}Resolved: {{ message }}{% else %}{{ service }}: {{ message }}{% endif %}"
        "{% if status_url %} Updates: {{ status_url }}{% endif %}"
    ),
}
LABELS = {"investigating": "we are investigating a problem", "identified": "we have found the cause",
          "monitoring": "a fix is in place and we are watching it", "resolved": "resolved"}

_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.IGNORECASE)
_INTERNAL_HOST = re.compile(r"\b[\w-]+(?:\.[\w-]+)*\.(?:internal|local|lan|corp|intra|localdomain)\b|\blocalhost\b",
                            re.IGNORECASE)


class UnsafePublicText(Exception):
    """A rendered public text names something internal; it is not sent."""


@dataclass(frozen=True)
class PublicFacts:
    service: str  # the public name
    status: str
    message: str
    started: str  # "09:58 UTC"
    status_url: str
    brand: str

    def context(self) -> dict[str, Any]:
        return {"service": self.service, "status": self.status, "status_label": LABELS.get(self.status, self.status),
                "message": self.message, "started": self.started, "status_url": self.status_url, "brand": self.brand}


class Templates:
    def __init__(self, directory: str | Path | None = None, *, forbidden: Iterable[str] = ()) -> None:
        self.env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        sources = dict(DEFAULTS)
        if directory is not None:
            for name in DEFAULTS:
                f = Path(directory) / f"{name}.j2"
                if f.is_file():
                    sources[name] = f.read_text(encoding="utf-8")
        self._templates = {name: self.env.from_string(src) for name, src in sources.items()}
        # internal words: check names, hosts of checked URLs (given by the caller from the config)
        self.forbidden = sorted({w.lower() for w in forbidden if w and len(w) >= 3}, key=len, reverse=True)

    def render(self, name: str, facts: PublicFacts | dict[str, Any]) -> str:
        text = self._templates[name].render(facts.context() if isinstance(facts, PublicFacts) else facts)
        check_public(text, self.forbidden)
        return text


def check_public(text: str, forbidden: Iterable[str] = ()) -> None:
    """Raise UnsafePublicText when `text` contains an IP address, an internal host name or a forbidden word."""
    if m := _IP.search(text):
        raise UnsafePublicText(f"contains an IP address ({m.group(0)})")
    if m := _INTERNAL_HOST.search(text):
        raise UnsafePublicText(f"contains an internal host name ({m.group(0)})")
    low = text.lower()
    for w in forbidden:
        if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", low):
            raise UnsafePublicText(f"contains the internal name {w!r}")
