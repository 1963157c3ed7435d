"""Alertmanager's webhook (payload version 4), parsed into readings about our services.

Pure: `parse(body, service_label, default_service)` returns the alerts or raises BadPayload with a
reason fit for a log line and a 400. Tolerates what real senders leave out (`notification_reason`,
`routeLabels`, `truncatedAlerts`, annotations); insists on what dedupe needs (`groupKey`, each
alert's `fingerprint` and `status`).

Each alert becomes a check named `alertmanager:<group hash>:<fingerprint>`: the same alert sent
again (Alertmanager repeats firing alerts every `repeat_interval`, and retries on errors) is the
same check in the same state, so the state machine turns it into nothing — deduped by groupKey and
fingerprint without a table of its own.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.base import BadPayload
from monitor.models import HealthReading


@dataclass(frozen=True)
class Alert:
    check: str
    service: str | None  # None: the alert names no service we know how to find
    firing: bool
    name: str
    summary: str
    region: str


def parse(body: bytes, *, service_label: str = "service", default_service: str | None = None) -> list[Alert]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadPayload("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadPayload("expected a JSON object")
    version = str(data.get("version", ""))
    if version != "4":
        raise BadPayload(f"unsupported payload version {version!r} (expected '4')")
    group_key = data.get("groupKey")
    alerts = data.get("alerts")
    if not isinstance(group_key, str) or not group_key:
        raise BadPayload("groupKey missing")
    if not isinstance(alerts, list):
        raise BadPayload("alerts missing or not a list")
    common = data.get("commonLabels") if isinstance(data.get("commonLabels"), dict) else {}
    group = hashlib.sha256(group_key.encode()).hexdigest()[:12]
    out = []
    for i, a in enumerate(alerts):
        if not isinstance(a, dict):
            raise BadPayload(f"alerts[{i}] is not an object")
        fp, status = a.get("fingerprint"), a.get("status")
        if not isinstance(fp, str) or not fp:
            raise BadPayload(f"alerts[{i}].fingerprint missing")
        if status not in ("firing", "resolved"):
            raise BadPayload(f"alerts[{i}].status is {status!r}, expected 'firing' or 'resolved'")
        labels = a.get("labels") if isinstance(a.get("labels"), dict) else {}
        annotations = a.get("annotations") if isinstance(a.get("annotations"), dict) else {}
        service = labels.get(service_label) or common.get(service_label) or default_service
        out.append(Alert(check=f"alertmanager:{group}:{fp}", service=str(service) if service else None,
                         firing=status == "firing", name=str(labels.get("alertname", "")),
                         summary=str(annotations.get("summary", ""))[:300], region=str(labels.get("region", ""))))
    return out


def readings(alerts: list[Alert], now: float) -> list[HealthReading]:
    at = datetime.fromtimestamp(now, UTC)
    return [HealthReading(a.check, not a.firing, at, f"Alertmanager {a.name}: {a.summary}".strip(": "))
            for a in alerts if a.service]
