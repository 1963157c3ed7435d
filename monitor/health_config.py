"""The YAML sections of service health and outreach: `services:`, `checks:`, `statuspages:`, `intake:`,
`delay_feeds:`, `incidents:`, `subscribers:` (and `email:`, shared with the digests).

Check and status-page settings live beside their connectors; this module holds the rest and the
cross-references (a check naming an unknown service, a dependency loop), reported with YAML paths.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MaintenanceWindow(_Strict):
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("give start and end with a time zone, e.g. 2026-12-01T02:00:00Z")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def epoch(self) -> tuple[float, float]:
        return self.start.timestamp(), self.end.timestamp()


class ServiceConfig(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    public_name: str = ""  # what customers read ("Checkout"); the name when empty
    aliases: list[str] = Field(default_factory=list)  # words in posts that mean this service (triage)
    depends_on: list[str] = Field(default_factory=list)  # upstream services: their outage is the root cause
    regions: list[str] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)  # checks run, alerts and outreach muted

    @property
    def display(self) -> str:
        return self.public_name or self.name


class IntakeConfig(_Strict):
    """The listener for pushed signals (Alertmanager, delay webhooks): separate from /healthz and /metrics,
    so it can be exposed to another network while those stay on 127.0.0.1."""

    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)
    secret: SecretStr  # shared secret: `Authorization: Bearer <secret>` (Alertmanager's http_config)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    service_label: str = "service"  # the Alertmanager label that names our service
    default_service: str | None = None  # for alerts without that label (None: refused with a log line)


class DelayFeedConfig(_Strict):
    name: str = Field(min_length=1, max_length=64)
    url: str | None = None  # polled JSON; None: the feed is posted to the intake at /delays/<name>
    interval: float = Field(60.0, ge=5)
    timeout: float = Field(10.0, gt=0)


class CadenceConfig(_Strict):
    first_after: float = Field(0.0, ge=0)  # seconds after opening before customers hear (0: at once)
    every: float = Field(1800.0, ge=60)  # then an update at least this often while nothing changes
    public_post: bool = False  # a status post on X, held for approval in Slack


class SpikesConfig(_Strict):
    """Complaint spikes per service (monitor/spikes.py); on when there are services."""

    enabled: bool = True
    window: float = Field(900.0, ge=5)
    lag: float = Field(60.0, ge=0)  # judge a window this long after it ends: posts arrive late
    sustained: int = Field(2, ge=1)  # windows in a row before the internal incident opens
    min_count: int = Field(5, ge=1)
    p_possible: float = Field(1e-3, gt=0, lt=1)
    p_likely: float = Field(1e-6, gt=0, lt=1)


class IncidentsConfig(_Strict):
    channel: str = "#care-incidents"  # the team's Slack channel: one thread per incident
    status_url: str = ""  # the public status page customers are pointed to
    cadence: CadenceConfig = Field(default_factory=CadenceConfig)
    spikes: SpikesConfig = Field(default_factory=SpikesConfig)
    templates: str | None = None  # a directory of the operator's notification templates (the shipped ones otherwise)


class SubscriberConfig(_Strict):
    email: str | None = None
    webhook: str | None = None
    # any channel apprise knows, by URL (ntfy://…, msteams://…, json://…): it holds a token, so give
    # it from the environment (`${TEAMS_URL}`)
    apprise: SecretStr | None = None
    secret: SecretStr | None = None  # HMAC-SHA256 key for the webhook's signature
    services: list[str] = Field(default_factory=list)  # empty: every service
    regions: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_address(self) -> SubscriberConfig:
        if sum(a is not None for a in (self.email, self.webhook, self.apprise)) != 1:
            raise ValueError("give exactly one of email, webhook or apprise")
        if self.apprise is not None:
            from outreach.apprise_delivery import understood

            if not understood(self.apprise.get_secret_value()):
                raise ValueError("apprise: not a URL apprise understands (see its list of services, e.g. "
                                 "ntfy://topic, msteams://…, json://host/path)")
        if self.webhook is not None and not self.webhook.startswith(("http://", "https://")):
            raise ValueError("webhook: expected an http:// or https:// URL")
        if self.email is not None and "@" not in self.email:
            raise ValueError("email: not an address")
        return self

    @property
    def address(self) -> str:
        return self.email or self.webhook or (self.apprise.get_secret_value() if self.apprise else "")

    @property
    def kind(self) -> str:
        return "email" if self.email else "webhook" if self.webhook else "apprise"

    @field_validator("services", "regions", "segments")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [s.strip() for s in v if s.strip()]


def cross_check(cfg: Any) -> list[tuple[str, str]]:
    """Problems between sections, as (YAML path, message). Empty when the sections fit together."""
    problems: list[tuple[str, str]] = []
    names = [s.name for s in cfg.services]
    known = set(names)
    for i, n in enumerate(names):
        if names.index(n) != i:
            problems.append((f"services[{i}].name", f"two services are named {n!r}"))
    for i, s in enumerate(cfg.services):
        for j, d in enumerate(s.depends_on):
            if d not in known:
                problems.append((f"services[{i}].depends_on[{j}]", f"unknown service {d!r}; known: {sorted(known)}"))
            elif d == s.name:
                problems.append((f"services[{i}].depends_on[{j}]", "a service cannot depend on itself"))
    seen: set[str] = set()
    for i, c in enumerate(cfg.checks):
        if c.service not in known:
            problems.append((f"checks[{i}].service", f"unknown service {c.service!r}; add it under services:"))
        if c.name in seen:
            problems.append((f"checks[{i}].name", f"two checks are named {c.name!r}"))
        seen.add(c.name)
    for i, p in enumerate(cfg.statuspages):
        for comp, svc in p.components.items():
            if svc not in known:
                problems.append((f"statuspages[{i}].components.{comp}", f"unknown service {svc!r}"))
    if cfg.intake is not None and cfg.intake.default_service and cfg.intake.default_service not in known:
        problems.append(("intake.default_service", f"unknown service {cfg.intake.default_service!r}"))
    for i, sub in enumerate(cfg.subscribers):
        for j, svc in enumerate(sub.services):
            if svc not in known:
                problems.append((f"subscribers[{i}].services[{j}]", f"unknown service {svc!r}"))
        if sub.email is not None and cfg.email is None:
            problems.append((f"subscribers[{i}].email", "e-mail subscribers need an email: section (the SMTP relay)"))
    for i, f in enumerate(cfg.delay_feeds):
        if f.url is None and cfg.intake is None:
            problems.append((f"delay_feeds[{i}].url", "a posted feed needs the intake: listener (or give a url)"))
    return problems
