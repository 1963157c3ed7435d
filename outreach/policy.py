"""When the brand may answer in public: the policy per category and the safety rules that always apply.

Pure: `decide()` says what to do with a new customer post (no reply, a draft, a draft held for a
person, or an automatic reply); `gate()` says whether an approved reply may go out *now* (kill switch,
hourly cap, quiet hours) or must wait — it never drops one. Both are tested as tables.

Modes per category: off | dry-run (default: the draft goes to the ticket and Slack, nothing is
posted) | approve (a person approves in Slack or with `outreach-monitor replies approve ID`) | auto
(only for categories listed in `auto_allowed`).
Always: one reply per thread; a cool-down per author; an hourly cap; quiet hours hold; a kill switch;
never our own accounts, partner or competitor brands, bots, spam, or posts older than `max_age_hours`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Mode = Literal["off", "dry-run", "approve", "auto"]
HOUR = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuietHours(_Strict):
    start: time = time(22, 0)
    end: time = time(7, 0)
    tz: str = "UTC"

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Europe/Paris)") from None
        return v

    def ends_after(self, now: float) -> float | None:
        """Seconds until the quiet period ends, or None when `now` is not in it."""
        zone = ZoneInfo(self.tz)
        local = datetime.fromtimestamp(now, zone)
        t = local.time()
        inside = (self.start <= t < self.end) if self.start < self.end else (t >= self.start or t < self.end)
        if not inside or self.start == self.end:
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC).timestamp() - now


class ReplyConfig(_Strict):
    default: Mode = "dry-run"
    categories: dict[str, Mode] = Field(default_factory=dict)  # category → mode; others use `default`
    auto_allowed: list[str] = Field(default_factory=list)  # the only categories that may be `auto`
    cooldown_hours: float = Field(24.0, ge=0)  # at most one reply to the same author in this time
    hourly_cap: int = Field(20, ge=0)  # public replies sent in any hour, all sources together
    min_interval: float = Field(1.0, ge=0)  # seconds between two replies of one source (never a burst)
    quiet_hours: QuietHours | None = None  # replies approved meanwhile wait until it ends
    max_age_hours: float = Field(24.0, gt=0)  # never answer an older post
    partners: list[str] = Field(default_factory=list)  # partner and competitor handles: never answered
    # categories where the customer must give account details: the reply moves them private
    private_categories: list[str] = Field(default_factory=lambda: ["billing", "security", "account"])
    dm_sources: list[str] = Field(default_factory=list)  # sources whose private hand-off is a DM (X)
    private_link: str = ""  # where to continue privately when no DM is configured
    status_link: str = ""  # the brand's status page, offered in acknowledgements
    templates: Path | None = None  # a directory of templates; the shipped config/templates when empty
    languages: list[str] = Field(default_factory=lambda: ["en"])  # languages with templates; others get "en"

    @field_validator("partners")
    @classmethod
    def _strip_at(cls, v: list[str]) -> list[str]:
        return [h.lstrip("@").lower() for h in v]

    @model_validator(mode="after")
    def _auto_only_where_allowed(self) -> ReplyConfig:
        if self.default == "auto":
            raise ValueError("default: auto is not allowed; list the categories in auto_allowed and set them one by one")
        for cat, mode in self.categories.items():
            if mode == "auto" and cat not in self.auto_allowed:
                raise ValueError(f"categories.{cat}: auto needs {cat!r} in auto_allowed")
        return self

    def mode_for(self, category: str) -> Mode:
        return self.categories.get(category, self.default)

    def is_private(self, category: str) -> bool:
        return category in self.private_categories


@dataclass(frozen=True)
class Candidate:
    """A customer post that might be answered."""

    author_username: str
    author_id: str
    category: str
    posted_at: float
    is_own: bool = False
    is_bot: bool = False


@dataclass(frozen=True)
class History:
    """What has been answered already (read in the same transaction as the decision)."""

    thread_answered: bool  # a reply row exists for this thread (any status)
    author_last_reply_at: float | None  # our latest reply (held or later) to this author


@dataclass(frozen=True)
class Decision:
    action: Literal["none", "dry_run", "hold", "auto"]
    reason: str


def decide(c: Candidate, h: History, cfg: ReplyConfig, *, now: float, own_handles: frozenset[str] = frozenset()) -> Decision:
    mode = cfg.mode_for(c.category)
    handle = c.author_username.lower()
    refusals = [
        (mode == "off", f"replies are off for {c.category}"),
        (c.is_own or handle in own_handles, "one of our own accounts"),
        (handle in cfg.partners, "a partner or competitor brand"),
        (c.is_bot, "a bot"),
        (c.category == "spam", "spam"),
        (now - c.posted_at > cfg.max_age_hours * HOUR, f"older than {cfg.max_age_hours:g} h"),
        (h.thread_answered, "this thread has its reply already"),
        (h.author_last_reply_at is not None and now - h.author_last_reply_at < cfg.cooldown_hours * HOUR,
         f"answered this author less than {cfg.cooldown_hours:g} h ago"),
    ]
    for refused, reason in refusals:
        if refused:
            return Decision("none", reason)
    if mode == "dry-run":
        return Decision("dry_run", "dry run: written to the ticket, not posted")
    if mode == "approve":
        return Decision("hold", "waits for a person's approval")
    return Decision("auto", f"{c.category} is answered automatically")


def gate(*, now: float, paused: bool, sent_last_hour: list[float], cfg: ReplyConfig) -> tuple[float, str] | None:
    """None: an approved reply may go now. Else (seconds to wait, why): it is held, never dropped."""
    if paused:
        return 60.0, "replies are paused (kill switch)"
    if cfg.quiet_hours is not None:
        left = cfg.quiet_hours.ends_after(now)
        if left is not None:
            return left, "quiet hours"
    recent = sorted(t for t in sent_last_hour if now - t < HOUR)
    if len(recent) >= cfg.hourly_cap:
        if cfg.hourly_cap == 0:
            return HOUR, "the hourly cap is 0"
        return max(1.0, recent[len(recent) - cfg.hourly_cap] + HOUR - now), f"hourly cap of {cfg.hourly_cap} reached"
    return None
