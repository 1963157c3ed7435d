"""Proactive notices about an incident: when one is due (pure), who gets it, and what it says.

`due(...)` decides, from the incident and what customers last heard, whether to tell them now:

    incident                          last told            now                        │ result
    ──────────────────────────────────────────────────────────────────────────────────┼──────────────
    internal (not confirmed)          any                  any                        │ None
    open                              never                < opened + first_after     │ None
    open                              never                ≥ opened + first_after     │ "first"
    open                              an older update      any                        │ "update"
    open                              the latest update    ≥ told + every             │ "reminder"  (a new update is written for it)
    open                              the latest update    < told + every             │ None
    resolved                          never                any                        │ None        (customers never heard of it)
    resolved                          not the resolution   any                        │ "all_clear"
    resolved                          the resolution       any                        │ None

Each notice is one outbox row per subscriber, keyed by (incident, subscriber, text): the same
decision replayed after a crash, or an update whose text is the same as the last one, never
reaches a subscriber twice.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from outreach.templates import PublicFacts, Templates

Due = Literal["first", "update", "reminder", "all_clear"]


def due(*, public: bool, resolved: bool, opened_at: float, latest_update: int, told_update: int | None,
        told_at: float | None, now: float, first_after: float, every: float) -> Due | None:
    if not public:
        return None
    if resolved:
        if told_update is None or told_update == latest_update:
            return None
        return "all_clear"
    if told_update is None:
        return "first" if now >= opened_at + first_after else None
    if told_update != latest_update:
        return "update"
    if told_at is not None and now >= told_at + every:
        return "reminder"
    return None


@dataclass(frozen=True)
class Subscriber:
    address: str  # e-mail address, webhook URL or apprise URL (a secret: never stored, see `target`)
    kind: Literal["email", "webhook", "apprise"]
    services: tuple[str, ...] = ()  # empty: all
    regions: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()

    def wants(self, service: str, region: str | None = None, segment: str | None = None) -> bool:
        return ((not self.services or service in self.services)
                and (region is None or not self.regions or region in self.regions)
                and (segment is None or not self.segments or segment in self.segments))

    @property
    def ref(self) -> str:
        return hashlib.sha256(f"{self.kind}:{self.address}".encode()).hexdigest()[:12]

    @property
    def target(self) -> str:
        """The outbox row's target: the address, except an apprise URL's token stays out of the database."""
        return self.ref if self.kind == "apprise" else self.address


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    service: str  # internal name (our key)
    public_name: str
    title: str
    status: str
    impact: str
    message: str  # the latest update's public message
    update_id: int
    opened_at: float
    updated_at: float
    resolved_at: float | None


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def statuspage_body(inc: IncidentFacts, *, brand: str, status_url: str) -> dict[str, Any]:
    """Statuspage's incident webhook shape, from public facts only."""
    return {
        "meta": {"generated_at": _iso(inc.updated_at), "documentation": status_url or None},
        "page": {"id": brand.lower().replace(" ", "-"), "status_indicator": "none" if inc.status == "resolved"
                 else {"minor": "minor", "major": "major", "critical": "critical"}.get(inc.impact, "major"),
                 "status_description": "All Systems Operational" if inc.status == "resolved"
                 else f"{inc.public_name}: {inc.status}"},
        "incident": {
            "id": str(inc.id), "name": f"{inc.public_name}: {inc.status}" if inc.status != "resolved"
            else f"{inc.public_name} is working normally", "status": inc.status,
            "impact": inc.impact, "created_at": _iso(inc.opened_at), "updated_at": _iso(inc.updated_at),
            "resolved_at": _iso(inc.resolved_at), "shortlink": status_url or None,
            "incident_updates": [{"id": str(inc.update_id), "incident_id": str(inc.id), "status": inc.status,
                                  "body": inc.message, "created_at": _iso(inc.updated_at),
                                  "display_at": _iso(inc.updated_at)}],
            "components": [{"name": inc.public_name, "status": "operational" if inc.status == "resolved"
                            else {"minor": "degraded_performance", "critical": "major_outage"}.get(inc.impact,
                                                                                                    "partial_outage")}],
        },
    }


def build(inc: IncidentFacts, sub: Subscriber, templates: Templates, *, brand: str,
          status_url: str) -> tuple[str, dict[str, Any]]:
    """(content digest, payload) of one subscriber's notice. Raises UnsafePublicText if a text leaks."""
    facts = PublicFacts(service=inc.public_name, status=inc.status, message=inc.message,
                        started=datetime.fromtimestamp(inc.opened_at, UTC).strftime("%H:%M UTC"),
                        status_url=status_url, brand=brand)
    if sub.kind in ("email", "apprise"):  # a title and a text
        payload: dict[str, Any] = {"subject": templates.render("email_subject", facts).strip(),
                                   "text": templates.render("email_body", facts), "incident": inc.id,
                                   "status": inc.status}
        content = payload["subject"] + "\n" + inc.status + "\n" + inc.message
    else:
        from outreach.templates import check_public

        check_public(inc.message, templates.forbidden)
        payload = statuspage_body(inc, brand=brand, status_url=status_url)
        content = inc.status + "\n" + inc.message
    return hashlib.sha256(content.encode()).hexdigest()[:16], payload


def notice_key(inc: IncidentFacts, sub: Subscriber, digest: str) -> str:
    return f"notice:incident:{inc.id}:{sub.ref}:{digest}"
