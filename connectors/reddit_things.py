"""Reddit things, read without the network: cursors over listings, and things turned into mentions.

Pure functions and values used by `connectors.reddit`, kept apart so the I/O module stays readable
and these can be tested as tables.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.models import Author, Mention

FULLNAME = re.compile(r"^t[13]_[0-9a-z]+$")
GONE_AUTHOR = "[deleted]"  # what Reddit shows for an account that deleted the thing or itself
GONE_TEXT = ("[removed]", "[deleted]")  # a moderator removed it; its author deleted it


# ---- cursors (pure) -------------------------------------------------------------------------


def _key(created: float, name: str) -> tuple[float, str, int]:
    """A total order of things (creation time, kind, base-36 id), to pick a stream's newest."""
    kind, _, rid = name.partition("_")
    return (created, kind, int(rid, 36))


@dataclass(frozen=True)
class Mark:
    """The newest thing a stream has seen; what its Cursor stores."""

    created: float
    name: str

    @property
    def key(self) -> tuple[float, str, int]:
        return _key(self.created, self.name)

    def encode(self, nonce: str = "") -> str:
        return f"{self.created!r}:{self.name}" + (f"#{nonce}" if nonce else "")

    @classmethod
    def decode(cls, value: str) -> Mark | None:
        created, _, name = value.partition("#")[0].rpartition(":")
        try:
            mark = cls(float(created), name)
            _key(mark.created, name)
        except ValueError:
            return None
        return mark if FULLNAME.match(name) else None


@dataclass(frozen=True)
class Thing:
    """One listing child that passed validation: enough to order it; the rest stays raw."""

    name: str
    created: float
    data: dict[str, Any]

    @property
    def key(self) -> tuple[float, str, int]:
        return _key(self.created, self.name)


def parse_thing(child: Any) -> Thing | None:
    """None for a child we cannot use (a BadPayload item: skipped and counted)."""
    if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
        return None
    data = child["data"]
    name, created = data.get("name"), data.get("created_utc")
    if not isinstance(name, str) or not FULLNAME.match(name) or isinstance(created, bool) \
            or not isinstance(created, int | float):
        return None
    return Thing(name, float(created), data)


def is_new(thing: Thing, mark: Mark | None, lookback: float, returned: Iterable[str] = ()) -> bool:
    """Not older than the cursor's second (less `lookback`), not the cursor itself, not yet returned.

    Things of the cursor's own second cannot be ordered against it (comments and submissions have
    separate id sequences), so that second is always looked at again.
    """
    if thing.name in returned:
        return False
    if mark is None:
        return True
    return thing.name != mark.name and thing.created >= mark.created - lookback


def reached(thing: Thing, mark: Mark | None, lookback: float) -> bool:
    """Paging can stop: this thing (and everything older, newest-first) is behind the cursor."""
    return mark is not None and thing.created < mark.created - lookback


# ---- things -> mentions (pure) --------------------------------------------------------------


def _author(data: dict[str, Any]) -> Author:
    name = str(data.get("author") or GONE_AUTHOR)
    return Author(id=str(data.get("author_fullname") or name), username=name, name=name)


def is_removed(thing: Thing) -> bool:
    """Deleted by its author or removed by a moderator: nobody to answer, nothing left to triage."""
    d = thing.data
    text = d.get("body") if thing.name.startswith("t1_") else d.get("selftext")
    return str(d.get("author") or GONE_AUTHOR) == GONE_AUTHOR or text in GONE_TEXT \
        or bool(d.get("removed_by_category"))


def _thread_from_context(context: str) -> str:
    """The submission of an inbox item: /r/x/comments/<id>/slug/<comment>/?context=3."""
    m = re.search(r"/comments/([0-9a-z]+)/", context)
    return f"t3_{m.group(1)}" if m else ""


def to_mention(
    thing: Thing,
    *,
    source: str,
    stream: str,
    www_base: str,
    own: frozenset[str],
    parent: dict[str, Any] | None = None,
) -> Mention:
    d = thing.data
    author = _author(d)
    created_at = datetime.fromtimestamp(thing.created, tz=UTC)
    metrics = {k: int(d[k]) for k in ("score", "ups", "num_comments") if isinstance(d.get(k), int)}
    raw: dict[str, Any] = {k: d[k] for k in ("subreddit", "link_title", "type", "over_18") if d.get(k) is not None}
    if thing.name.startswith("t3_"):
        title, body = str(d.get("title") or ""), str(d.get("selftext") or "")
        text = f"{title}\n\n{body}" if body else title
        conversation, in_reply_to = thing.name, ""
        path = str(d.get("permalink") or "")
        raw["title"] = title
        if d.get("url") and not d.get("is_self", True):
            raw["link_url"] = d["url"]
    else:
        text = str(d.get("body") or "")
        context = str(d.get("context") or "")
        conversation = str(d.get("link_id") or _thread_from_context(context))
        in_reply_to = str(d.get("parent_id") or "")
        path = str(d.get("permalink") or context.split("?", 1)[0])
    if parent is not None:
        raw["parent"] = parent
    return Mention(
        source=source,
        external_id=thing.name,
        text=text,
        author=author,
        created_at=created_at,
        stream=stream,
        url=f"{www_base.rstrip('/')}{path}" if path.startswith("/") else path,
        conversation_id=conversation,
        in_reply_to=in_reply_to,
        metrics=metrics,
        is_own=author.username.lower() in own,
        removed=is_removed(thing),
        raw=raw,
    )


def parent_context(thing: Thing) -> dict[str, Any]:
    d = thing.data
    text = str((d.get("body") if thing.name.startswith("t1_") else d.get("title")) or "")
    return {"id": thing.name, "author": str(d.get("author") or "[deleted]"), "text": text[:2000]}
