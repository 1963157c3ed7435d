"""The `digests:` section of the config: time zone, schedules, where they go, competitors, pages,
retention. Every field has a default, so a config without the section keeps working."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompetitorConfig(_Strict):
    name: str
    # X / Reddit search queries that find them; default: the name itself. They are polled as extra
    # search streams of every source, stored for share of voice, never alerted or answered.
    queries: list[str] = Field(default_factory=list)

    @property
    def search_queries(self) -> list[str]:
        return self.queries or [self.name.lower()]


class ScheduleConfig(_Strict):
    name: str
    cron: str  # five fields, in digests.timezone: "0 9 * * 1" = Mondays at 09:00
    period: str = "7d"  # what each digest covers, ending at the scheduled time

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from monitor.digest.schedule import cron_trigger

        try:
            cron_trigger(v)
        except ValueError as e:
            raise ValueError(f"not a cron expression ({e}); expected five fields like '0 9 * * 1'") from None
        return v

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        from monitor.digest.period import parse_span

        if parse_span(v) is None:
            raise ValueError("expected a span like 1d, 7d or 24h")
        return v


def _default_schedules() -> list[ScheduleConfig]:
    return [ScheduleConfig(name="daily", cron="0 9 * * *", period="1d"),
            ScheduleConfig(name="weekly", cron="0 9 * * 1", period="7d")]


class DigestPagesConfig(_Strict):
    """The marketing listener: /digests only (no /metrics, no /healthz), safe to expose."""

    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)  # e.g. 8081; none: no listener (0: any free port)
    public_url: str = ""  # how marketing reaches it (links in Slack and e-mail); empty: no links


class DigestEmailConfig(_Strict):
    to: list[str] = Field(default_factory=list)  # empty: no e-mail (the relay is the top-level `email:`)
    sender: str | None = None  # From:; default the relay's `email.sender`


class DigestsConfig(_Strict):
    enabled: bool = True
    timezone: str = "UTC"  # the brand's time zone: days, schedules and times in the digests
    schedules: list[ScheduleConfig] = Field(default_factory=_default_schedules)
    slack_channel: str | None = None  # e.g. "#marketing"; empty: no Slack post
    email: DigestEmailConfig = Field(default_factory=DigestEmailConfig)
    competitors: list[CompetitorConfig] = Field(default_factory=list)
    pages: DigestPagesConfig = Field(default_factory=DigestPagesConfig)
    # the first-response target the care figures measure attainment against ("answered within 60 min")
    response_target_minutes: float | None = Field(60.0, gt=0)
    keep_raw_days: float | None = Field(None, gt=0)  # prune raw mentions older than this (roll-ups stay)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; expected an IANA name like Europe/Paris") from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> DigestsConfig:
        names = [s.name for s in self.schedules]
        if len(set(names)) != len(names):
            raise ValueError("two schedules share a name; names must be unique")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
