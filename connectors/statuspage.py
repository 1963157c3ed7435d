"""An upstream's Atlassian Statuspage (YAML `statuspages:`), read from `/api/v2/summary.json`.

Each configured component becomes a reading about OUR service it is mapped to ("Example Cloud ·
API" → `checkout`), so "Stripe API degraded" is seen as "our checkout is degraded". The status
vocabularies (components: operational, degraded_performance, partial_outage, major_outage,
under_maintenance; incidents: investigating, identified, monitoring, resolved, postmortem, and the
scheduled ones) are mapped in `component_reading`, a pure function.

Fetch errors are translated here into the connector vocabulary: a page we cannot read says nothing
about the component (TransientError: the job logs it and keeps the last state), a page that is not
Statuspage JSON is BadPayload.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import BadPayload, TransientError
from monitor.models import HealthReading

HEALTHY = frozenset({"operational", "under_maintenance"})  # planned maintenance is the upstream's, not an outage
IMPACT = {"degraded_performance": "minor", "partial_outage": "major", "major_outage": "critical"}


class StatuspageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)  # e.g. "stripe"
    url: str  # the page's base URL, e.g. https://status.stripe.com
    interval: float = Field(60.0, ge=5)
    timeout: float = Field(10.0, gt=0)
    # component name (or id) on their page -> our service it affects
    components: dict[str, str] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return v.rstrip("/")


def component_reading(page: str, component: dict[str, Any], incidents: list[dict[str, Any]],
                      at: datetime) -> HealthReading:
    """One component's state as a reading; the detail names their open incident touching it, if any."""
    status = str(component.get("status", ""))
    detail = f"{page} {component.get('name')}: {status.replace('_', ' ')}"
    for inc in incidents:
        if inc.get("status") in ("resolved", "postmortem", "completed"):
            continue
        touched = {c.get("code") for u in inc.get("incident_updates") or [] for c in u.get("affected_components") or []}
        touched |= {c.get("id") for c in inc.get("components") or []}
        if component.get("id") in touched:
            detail += f" — {inc.get('name')} ({inc.get('status')})"
            break
    return HealthReading(check=f"statuspage:{page}:{component.get('name')}", ok=status in HEALTHY, at=at,
                         detail=detail)


class StatuspageProbe:
    name = "statuspage"

    def __init__(self, cfg: StatuspageConfig, session: aiohttp.ClientSession, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.session = session
        self.clock = clock

    def service_of(self, check: str) -> str:
        component = check.split(":", 2)[2]
        return self.cfg.components.get(component, "")

    async def fetch_summary(self) -> dict[str, Any]:
        url = f"{self.cfg.url}/api/v2/summary.json"
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=self.cfg.timeout)) as resp:
                if resp.status == 429 or resp.status >= 500:
                    raise TransientError(f"{url}: HTTP {resp.status}",
                                         retry_after=_float(resp.headers.get("Retry-After")))
                if resp.status != 200:
                    raise BadPayload(f"{url}: HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientError(f"{url}: {type(e).__name__}: {e}") from None
        except ValueError:
            raise BadPayload(f"{url}: not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("components"), list):
            raise BadPayload(f"{url}: no components list (is this a Statuspage summary?)")
        return data

    async def probe(self) -> list[HealthReading]:
        data = await self.fetch_summary()
        at = datetime.fromtimestamp(self.clock(), UTC)
        page = self.cfg.name
        incidents = [i for i in data.get("incidents") or [] if isinstance(i, dict)]
        readings = []
        for comp in data["components"]:
            if not isinstance(comp, dict):
                continue
            key = comp.get("name") if comp.get("name") in self.cfg.components else comp.get("id")
            if key not in self.cfg.components:
                continue
            r = component_reading(page, comp, incidents, at)
            # the check is named by the configured key so service_of() finds it whichever was used
            readings.append(HealthReading(check=f"statuspage:{page}:{key}", ok=r.ok, at=r.at, detail=r.detail))
        return readings


def _float(v: str | None) -> float | None:
    try:
        return float(v) if v else None
    except ValueError:
        return None


def webhook_readings(page: str, components: dict[str, str], data: Any, at: datetime) -> list[HealthReading]:
    """Statuspage's own webhook (a `component_update`, or an `incident` with its components), as readings
    of the configured components — the push twin of polling the summary. Raises BadPayload."""
    if not isinstance(data, dict):
        raise BadPayload("expected a JSON object")
    if isinstance(data.get("component"), dict):
        comps = [data["component"]]
    elif isinstance(data.get("incident"), dict) and isinstance(data["incident"].get("components"), list):
        comps = [c for c in data["incident"]["components"] if isinstance(c, dict)]
    else:
        raise BadPayload("neither a component update nor an incident (Statuspage webhook)")
    incidents = [data["incident"]] if isinstance(data.get("incident"), dict) else []
    out = []
    for comp in comps:
        key = comp.get("name") if comp.get("name") in components else comp.get("id")
        if key not in components:
            continue
        r = component_reading(page, comp, incidents, at)
        out.append(HealthReading(check=f"statuspage:{page}:{key}", ok=r.ok, at=at, detail=r.detail))
    return out
