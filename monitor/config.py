"""The operator's one YAML file: `${ENV}` secrets, pydantic validation, errors that name the YAML path.

Source settings live beside their connector (`connectors/x.py: XConfig`); this module joins them
into a discriminated union on `type:` so a typo in one source names exactly that source.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from connectors.http_check import HttpCheckConfig
from connectors.reddit import RedditConfig
from connectors.statuspage import StatuspageConfig
from connectors.x import XConfig
from monitor import health_config as hc
from monitor.digest.config import DigestsConfig
from monitor.models import URGENCIES
from monitor.ticket_lifecycle import TicketsConfig
from outreach.email import EmailSettings

SourceConfig = Annotated[Union[XConfig, RedditConfig], Field(discriminator="type")]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigFileError(Exception):
    """A config file that cannot be used. `problems` are `(yaml path, what was expected)` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path or '(top level)'}: {msg}" for path, msg in problems)
        super().__init__(f"{source} is not a valid configuration:\n{lines}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrandConfig(_Strict):
    name: str = "Our brand"
    own_handles: list[str] = Field(default_factory=list)

    @field_validator("own_handles")
    @classmethod
    def _strip_at(cls, v: list[str]) -> list[str]:
        return [h.lstrip("@").lower() for h in v]


class StorageConfig(_Strict):
    url: str = "sqlite+aiosqlite:///outreach-monitor.db"
    # quarantined posts (raw payloads of posts the database refused) are deleted after this many days
    quarantine_days: float = Field(30.0, gt=0)


_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,20}$")


class EscalationConfig(_Strict):
    """A critical ticket nobody acknowledged: re-announced in its thread, then sent to a channel."""

    reannounce_after_minutes: float = Field(10.0, gt=0)
    channel_after_minutes: float = Field(30.0, gt=0)
    channel: str | None = None  # e.g. "#care-escalations"; no channel: only the re-announcement
    check_every_s: float = Field(30.0, gt=0)


class StormConfig(_Strict):
    """Storm control: past `burst` alerts to one channel within `window_s`, the rest collapse into one thread."""

    enabled: bool = True
    burst: int = Field(20, ge=1)
    window_s: float = Field(60.0, gt=0)
    summary_every_s: float = Field(60.0, gt=0)  # a summary of the newest in the storm's thread
    quiet_after_s: float = Field(180.0, gt=0)  # a storm with nothing new for this long is over


class SlackConfig(_Strict):
    token: SecretStr
    # Socket Mode (buttons, modals, /outreach) with the app-level token xapp-… (scope connections:write);
    # or interactivity: http with signing_secret, served at server.host:port + interactivity_path
    app_token: SecretStr | None = None
    interactivity: Literal["socket", "http"] = "socket"
    signing_secret: SecretStr | None = None
    interactivity_path: str = "/slack/events"
    # how often Socket Mode pings Slack; a dropped connection is noticed and reopened within about two
    socket_ping_s: float = Field(10.0, gt=0)
    approvers_group: str | None = None  # user group id (S…) whose members may approve public replies
    oncall_group: str | None = None  # user group id (S…) mentioned when a critical ticket waits
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    storm: StormConfig = Field(default_factory=StormConfig)
    api_base: str = "https://slack.com/api/"
    # urgency -> channel; an urgency left out (or null) gets no Slack alert
    channels: dict[str, str | None] = Field(
        default_factory=lambda: {"critical": "#care-urgent", "high": "#care-urgent", "normal": "#care"}
    )
    operators_channel: str = "#care-ops"
    # Slack allows about one message a second per channel; the dispatcher paces itself to this.
    min_interval_per_channel: float = Field(1.0, ge=0)
    # While Slack refuses the token, one post is tried this often; alerts go out this soon after a fix.
    auth_recheck: float = Field(30.0, gt=0)

    @field_validator("approvers_group", "oncall_group")
    @classmethod
    def _group_id(cls, v: str | None) -> str | None:
        if v is not None and not _GROUP_ID.match(v):
            raise ValueError("expected a Slack user group id like S0123ABCD (Slack: the group's ⋮ menu → Copy group ID)")
        return v

    @model_validator(mode="after")
    def _interactivity_needs_its_secret(self) -> SlackConfig:
        if self.interactivity == "http" and self.signing_secret is None:
            raise ValueError("interactivity: http needs signing_secret (the app's Basic Information page)")
        return self

    @field_validator("channels")
    @classmethod
    def _known_urgencies(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(v) - set(URGENCIES))
        if unknown:
            raise ValueError(f"unknown urgency {unknown}; expected some of {list(URGENCIES)}")
        return v


class TriageConfig(_Strict):
    # Relative paths are read from the directory of the config file.
    rules: Path | None = None  # operator rules; the shipped defaults (config/rules.yaml) when empty
    model: Path | None = None  # a model from `outreach-monitor triage train`; rules alone when empty
    complaint_model: bool = True  # blend the shipped complaint model with the rules (monitor/triage/shipped_model.py)
    alert_min_urgency: str = "normal"

    @field_validator("alert_min_urgency")
    @classmethod
    def _an_urgency(cls, v: str) -> str:
        if v not in URGENCIES:
            raise ValueError(f"expected one of {list(URGENCIES)}")
        return v


class OutboxConfig(_Strict):
    # A row that keeps failing for a transient reason (5xx, timeouts) is given up only after this
    # long; a 429 or a refused token never counts (the row waits until Slack works again).
    give_up_after: float = Field(86_400.0, gt=0)
    base_backoff: float = Field(2.0, gt=0)
    max_backoff: float = Field(300.0, gt=0)
    # a channel or service that keeps failing (5xx, timeouts) is tried again at least this often, with
    # one request; everything waiting on it goes as soon as it answers
    probe_every: float = Field(30.0, gt=0)
    poll_interval: float = Field(0.5, gt=0)
    max_lanes: int = Field(16, ge=1)  # channels (or addresses) delivered to side by side
    announce_after: float = Field(60.0, ge=0)  # a delivery block lasting this long is told to the operators
    # /healthz says "down" (503) once the critical channel, or every channel with alerts waiting, has
    # been blocked this long; before that "degraded" (monitor/delivery_health.py)
    down_after: float = Field(10.0, ge=0)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class LoggingConfig(_Strict):
    level: str = "info"
    json_: bool = Field(True, alias="json")

    @field_validator("level")
    @classmethod
    def _a_level(cls, v: str) -> str:
        if v.lower() not in LOG_LEVELS:
            raise ValueError(f"unknown level {v!r}; expected one of {', '.join(LOG_LEVELS)}")
        return v.lower()


class Config(_Strict):
    brand: BrandConfig = Field(default_factory=BrandConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    slack: SlackConfig | None = None
    triage: TriageConfig = Field(default_factory=TriageConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    # service health and outreach (monitor/health_config.py; cross-checked in parse_config)
    services: list[hc.ServiceConfig] = Field(default_factory=list)
    checks: list[HttpCheckConfig] = Field(default_factory=list)
    statuspages: list[StatuspageConfig] = Field(default_factory=list)
    intake: hc.IntakeConfig | None = None
    delay_feeds: list[hc.DelayFeedConfig] = Field(default_factory=list)
    incidents: hc.IncidentsConfig = Field(default_factory=hc.IncidentsConfig)
    subscribers: list[hc.SubscriberConfig] = Field(default_factory=list)
    email: EmailSettings | None = None  # the SMTP relay for subscribers' notices
    # When a daemon dies, another on the same database carries on within this many seconds: poll
    # leases last two thirds of it (renewed while a poll runs), as do outbox claims. Shorter means
    # faster failover and more lease writes.
    failover_seconds: float = Field(30.0, ge=3)
    digests: DigestsConfig = Field(default_factory=DigestsConfig)
    tickets: TicketsConfig = Field(default_factory=TicketsConfig)  # lifecycle, SLAs, public replies

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, v: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for s in v:
            if s.name in seen:
                raise ValueError(f"two sources are named {s.name!r}; names must be unique")
            seen.add(s.name)
        return v


def _interpolate(node: Any, path: str, env: dict[str, str], problems: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{path}[{i}]", env, problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append((path, f"environment variable {name} is not set"))
            return ""

        return _ENV_REF.sub(sub, node)
    return node


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("x", "reddit") and out.endswith("]"):
            continue  # pydantic adds the union tag to the location; the YAML has no such key
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_config(data: Any, *, source: str = "<config>", env: dict[str, str] | None = None) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(source, [("", "expected a mapping at the top level")])
    problems: list[tuple[str, str]] = []
    data = _interpolate(data, "", dict(os.environ) if env is None else env, problems)
    if problems:
        raise ConfigFileError(source, problems)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigFileError(
            source, [(_loc_to_path(err["loc"]), err["msg"]) for err in e.errors(include_url=False)]
        ) from None
    if problems := hc.cross_check(cfg):
        raise ConfigFileError(source, problems)
    return cfg


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigFileError(str(p), [("", f"cannot read the file: {e.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigFileError(str(p), [(where, f"not valid YAML: {getattr(e, 'problem', e)}")]) from None
    cfg = parse_config(data, source=str(p), env=env)
    # Paths in the file mean paths beside the file, wherever the daemon is started from.
    base = p.resolve().parent
    for name in ("rules", "model"):
        value = getattr(cfg.triage, name)
        if value is not None and not value.is_absolute():
            setattr(cfg.triage, name, base / value)
    replies = cfg.tickets.replies
    if replies.templates is not None and not replies.templates.is_absolute():
        replies.templates = base / replies.templates
    return cfg
