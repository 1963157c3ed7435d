"""A delay feed (YAML `delay_feeds:`): late deliveries, slow refunds, held orders — polled as JSON or posted
to the intake listener at `/delays/<feed>`. One format either way:

    {"delays": [{"id": "d-17", "service": "delivery", "region": "north", "segment": "premium",
                 "eta": "2026-12-01T18:00:00Z" | null, "expected_delay_minutes": 90 | null,
                 "message": "Parcels in the north are running late after the storm.",
                 "status": "active" | "resolved",
                 "affected": [{"customer": "c-1", "email": "ana@example.net", "order": "A-100"}, ...]}]}

`parse` is pure and strict about what a notice needs (id, service, and an ETA or a delay) and
lenient about the rest; a bad item is skipped and counted, never the whole feed.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from connectors.base import BadPayload, TransientError


@dataclass(frozen=True)
class Affected:
    customer: str
    email: str | None
    order: str | None


@dataclass(frozen=True)
class Delay:
    feed: str
    id: str
    service: str
    region: str | None
    segment: str | None
    eta: datetime | None
    delay_minutes: int | None
    message: str
    resolved: bool
    affected: tuple[Affected, ...]

    @property
    def version(self) -> str:
        """Changes when what a customer would be told changes: a new ETA, a new message, resolved."""
        what = f"{self.eta.isoformat() if self.eta else ''}|{self.delay_minutes}|{self.message}|{self.resolved}"
        return hashlib.sha256(what.encode()).hexdigest()[:12]


def parse(feed: str, data: Any) -> tuple[list[Delay], list[str]]:
    """(delays, problems). Raises BadPayload only when the document as a whole is not a feed."""
    if not isinstance(data, dict) or not isinstance(data.get("delays"), list):
        raise BadPayload("expected {\"delays\": [...]}")
    out: list[Delay] = []
    problems: list[str] = []
    for i, d in enumerate(data["delays"]):
        try:
            out.append(_one(feed, d))
        except (KeyError, TypeError, ValueError) as e:
            problems.append(f"delays[{i}]: {e}")
    return out, problems


def _one(feed: str, d: Any) -> Delay:
    if not isinstance(d, dict):
        raise TypeError("not an object")
    did, service = d.get("id"), d.get("service")
    if not did or not service:
        raise KeyError("id and service are required")
    eta = d.get("eta")
    eta_dt = datetime.fromisoformat(str(eta).replace("Z", "+00:00")) if eta else None
    if eta_dt is not None and eta_dt.tzinfo is None:
        raise ValueError("eta needs a time zone")
    minutes = d.get("expected_delay_minutes")
    minutes = int(minutes) if minutes is not None else None
    resolved = d.get("status", "active") == "resolved"
    if eta_dt is None and minutes is None and not resolved:
        raise ValueError("give eta or expected_delay_minutes")
    affected = []
    for a in d.get("affected") or []:
        if isinstance(a, dict) and a.get("customer"):
            email = a.get("email")
            affected.append(Affected(str(a["customer"]), str(email) if email and "@" in str(email) else None,
                                     str(a["order"]) if a.get("order") else None))
    return Delay(feed, str(did), str(service), d.get("region") or None, d.get("segment") or None, eta_dt, minutes,
                 str(d.get("message") or "")[:1000], resolved, tuple(affected))


async def poll(session: aiohttp.ClientSession, url: str, *, timeout: float) -> Any:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if resp.status == 429 or resp.status >= 500:
                raise TransientError(f"{url}: HTTP {resp.status}")
            if resp.status != 200:
                raise BadPayload(f"{url}: HTTP {resp.status}")
            return json.loads(await resp.read())
    except (aiohttp.ClientError, TimeoutError) as e:
        raise TransientError(f"{url}: {type(e).__name__}: {e}") from None
    except ValueError:
        raise BadPayload(f"{url}: not JSON") from None
