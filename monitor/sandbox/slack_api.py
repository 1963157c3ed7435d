"""A local Slack Web API: enough of `auth.test`, `chat.*` and `conversations.*` for slack-sdk to talk to.

It answers the way Slack does: HTTP 200 with `{"ok": false, "error": ...}` for API errors, 429 with
`Retry-After` when one channel gets more than about one message a second, and it checks Block Kit
limits so a payload the real Slack would refuse (`invalid_blocks`, `msg_too_long`) is refused here
too. Every request is recorded and faults can be injected (see `core.Faults`), e.g.

    workspace.faults.add("/api/chat.postMessage", Fault("429", reset_in=7))
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from monitor.sandbox.core import Faults, Recorder, json_response, make_middleware

TEAM_ID = "T0SANDBOX"
BOT_USER_ID = "U0SANDBOXBOT"
BOT_ID = "B0SANDBOX"
APP_ID = "A0SANDBOX"

_MAX_TEXT = 40_000  # Slack truncates or refuses longer `text`; we refuse (msg_too_long)
_MAX_BLOCKS = 50
_MAX_SECTION_TEXT = 3000
_MAX_HEADER_TEXT = 150
_MAX_FIELD_TEXT = 2000
_MAX_FIELDS = 10
_MAX_BUTTON_TEXT = 75
_MAX_ACTION_ID = 255
_MAX_VALUE = 2000
_MAX_ELEMENTS = 25
_MAX_CONTEXT_ELEMENTS = 10


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class SlackWorkspace:
    """The state of one fake workspace: channels, messages, the bot token and the rate limit.

    `rate_per_channel=None` turns the per-channel rate limit off. `clock` (monotonic seconds)
    drives the rate limit and `max_per_channel_per_s`; `wall` (epoch seconds) makes message `ts`.
    """

    token: str = "xoxb-sandbox-token"
    channel_names: tuple[str, ...] = ("care-urgent", "care", "care-ops")
    rate_per_channel: float | None = 1.0
    burst: int = 3
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    team: str = "Sandbox"
    scopes: frozenset[str] = frozenset(
        {"chat:write", "channels:read", "groups:read", "channels:history", "groups:history"})
    recorder: Recorder = field(default_factory=Recorder)
    faults: Faults = field(default_factory=Faults)
    rate_limited: int = 0  # 429s answered by the rate limiter (not injected faults)
    not_member: set[str] = field(default_factory=set)  # channel names the bot was not invited to

    def __post_init__(self) -> None:
        self._channels: dict[str, str] = {}  # id -> name
        self._history: dict[str, list[dict[str, Any]]] = {}  # id -> messages, oldest first
        self._posted_at: dict[str, list[float]] = {}  # id -> clock() of each accepted post
        self._buckets: dict[str, _Bucket] = {}
        self._last_us = 0
        for name in self.channel_names:
            self.add_channel(name)

    # -- channels ---------------------------------------------------------------------------

    def add_channel(self, name: str) -> str:
        name = name.lstrip("#")
        existing = self.channel_id(name)
        if existing:
            return existing
        cid = f"C{len(self._channels) + 1:08d}"
        self._channels[cid] = name
        self._history[cid] = []
        self._posted_at[cid] = []
        return cid

    def channel_id(self, channel: str) -> str | None:
        """The id for `#name`, `name` or an id; None when there is no such channel."""
        if channel in self._channels:
            return channel
        name = channel.lstrip("#")
        for cid, n in self._channels.items():
            if n == name:
                return cid
        return None

    def channels(self) -> dict[str, str]:
        return dict(self._channels)

    # -- what tests and the demo report read --------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message posted in the channel (thread replies included), in posting order."""
        cid = self.channel_id(channel)
        if cid is None:
            return []
        return [dict(m) for m in self._history[cid]]

    def all_messages(self) -> list[dict[str, Any]]:
        out = [dict(m, channel=cid) for cid, msgs in self._history.items() for m in msgs]
        return sorted(out, key=lambda m: m["ts"])

    @property
    def max_per_channel_per_s(self) -> int:
        """The most messages any one channel received within any one-second window."""
        best = 0
        for times in self._posted_at.values():
            times = sorted(times)
            start = 0
            for end, t in enumerate(times):
                while t - times[start] >= 1.0:
                    start += 1
                best = max(best, end - start + 1)
        return best

    # -- behaviour used by the app ----------------------------------------------------------

    def _next_ts(self) -> str:
        us = max(int(self.wall() * 1_000_000), self._last_us + 1)
        self._last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _take_slot(self, cid: str) -> float | None:
        """None when the channel may take a message now, else the seconds to wait (token bucket)."""
        if self.rate_per_channel is None:
            return None
        now = self.clock()
        capacity = float(max(self.burst, 1))
        b = self._buckets.get(cid)
        if b is None:
            b = self._buckets[cid] = _Bucket(tokens=capacity, at=now)
        b.tokens = min(capacity, b.tokens + (now - b.at) * self.rate_per_channel)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return None
        return (1.0 - b.tokens) / self.rate_per_channel

    def _find(self, cid: str, ts: str) -> dict[str, Any] | None:
        for m in self._history[cid]:
            if m["ts"] == ts:
                return m
        return None


# -- request parsing --------------------------------------------------------------------------


async def _params(request: web.Request) -> dict[str, Any]:
    """Query string, then form or JSON body, as slack-sdk sends them (JSON for chat.*, GET for reads)."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise _ApiError("invalid_json") from e
            if not isinstance(body, dict):
                raise _ApiError("invalid_json")
            params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _json_arg(params: dict[str, Any], name: str, error: str) -> Any:
    """Form bodies carry `blocks` and `metadata` as JSON strings; JSON bodies carry them as objects."""
    value = params.get(name)
    if isinstance(value, str):
        if not value:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise _ApiError(error) from e
    return value


def _flag(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "")).lower() in ("1", "true", "yes")


def _check_token(request: web.Request, params: dict[str, Any], workspace: SlackWorkspace) -> None:
    auth = request.headers.get("Authorization", "")
    token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.get("token", "")
    if not token:
        raise _ApiError("not_authed")
    if token != workspace.token:
        raise _ApiError("invalid_auth")


def _channel(params: dict[str, Any], workspace: SlackWorkspace, *, by_name: bool = False) -> str:
    """The channel id. Like Slack, only chat.postMessage takes a `#name`; reads and updates want the id."""
    channel = str(params.get("channel") or "")
    cid = workspace.channel_id(channel) if by_name else (channel if channel in workspace.channels() else None)
    if cid is None:
        raise _ApiError("channel_not_found")
    return cid


# -- Block Kit limits (the ones that bite in practice) ---------------------------------------


def _block_problems(blocks: Any) -> list[str]:
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    problems: list[str] = []
    if len(blocks) > _MAX_BLOCKS:
        problems.append(f"must provide no more than {_MAX_BLOCKS} items [json-pointer:/blocks]")
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for i, b in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        if not isinstance(b, dict) or not isinstance(b.get("type"), str):
            problems.append(f"block must be an object with a type {where}")
            continue
        if "block_id" in b:
            if b["block_id"] in block_ids:
                problems.append(f"duplicate block_id {where}")
            block_ids.add(b["block_id"])
        kind = b["type"]
        if kind == "header":
            t = b.get("text") or {}
            if t.get("type") != "plain_text":
                problems.append(f"header text must be plain_text {where}")
            if not 1 <= len(t.get("text") or "") <= _MAX_HEADER_TEXT:
                problems.append(f"header text must be 1..{_MAX_HEADER_TEXT} characters {where}")
        elif kind == "section":
            t = b.get("text")
            fields = b.get("fields")
            if t is None and not fields:
                problems.append(f"section needs text or fields {where}")
            if t is not None and not 1 <= len(t.get("text") or "") <= _MAX_SECTION_TEXT:
                problems.append(f"section text must be 1..{_MAX_SECTION_TEXT} characters {where}")
            for f in fields or []:
                if not 1 <= len(f.get("text") or "") <= _MAX_FIELD_TEXT:
                    problems.append(f"field text must be 1..{_MAX_FIELD_TEXT} characters {where}")
            if fields and len(fields) > _MAX_FIELDS:
                problems.append(f"no more than {_MAX_FIELDS} fields {where}")
        elif kind == "context":
            elements = b.get("elements") or []
            if not 1 <= len(elements) <= _MAX_CONTEXT_ELEMENTS:
                problems.append(f"context needs 1..{_MAX_CONTEXT_ELEMENTS} elements {where}")
        elif kind == "actions":
            elements = b.get("elements") or []
            if not 1 <= len(elements) <= _MAX_ELEMENTS:
                problems.append(f"actions needs 1..{_MAX_ELEMENTS} elements {where}")
            for e in elements:
                aid = e.get("action_id", "")
                if aid:
                    if aid in action_ids or len(aid) > _MAX_ACTION_ID:
                        problems.append(f"action_id must be unique and short {where}")
                    action_ids.add(aid)
                if e.get("type") == "button":
                    if not 1 <= len((e.get("text") or {}).get("text") or "") <= _MAX_BUTTON_TEXT:
                        problems.append(f"button text must be 1..{_MAX_BUTTON_TEXT} characters {where}")
                    if len(e.get("value") or "") > _MAX_VALUE:
                        problems.append(f"button value must be at most {_MAX_VALUE} characters {where}")
    return problems


def _message_fields(params: dict[str, Any], *, require_content: bool) -> dict[str, Any]:
    text = params.get("text")
    blocks = _json_arg(params, "blocks", "invalid_blocks_format")
    metadata = _json_arg(params, "metadata", "invalid_metadata_format")
    if require_content and not text and not blocks:
        raise _ApiError("no_text")
    if text is not None and len(str(text)) > _MAX_TEXT:
        raise _ApiError("msg_too_long")
    if blocks is not None:
        problems = _block_problems(blocks)
        if problems:
            raise _ApiError("invalid_blocks", errors=problems,
                            response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
    if metadata is not None:
        if (not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str)
                or not isinstance(metadata.get("event_payload"), dict)):
            raise _ApiError("invalid_metadata_format")
    out: dict[str, Any] = {}
    if text is not None:
        out["text"] = str(text)
    if blocks is not None:
        out["blocks"] = blocks
    if metadata is not None:
        out["metadata"] = {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}
    return out


# -- API methods -------------------------------------------------------------------------------


def _public(message: dict[str, Any], *, with_metadata: bool) -> dict[str, Any]:
    m = {k: v for k, v in message.items() if k != "metadata" or with_metadata}
    if with_metadata and "metadata" in m:
        m["metadata"] = dict(m["metadata"], app_id=APP_ID)
    return m


async def _auth_test(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    return json_response({"ok": True, "url": "https://sandbox.slack.com/", "team": ws.team, "user": "outreach-monitor",
                          "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                          "is_enterprise_install": False})


async def _post_message(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    cid = _channel(p, ws, by_name=True)
    if ws.channels()[cid] in ws.not_member:
        raise _ApiError("not_in_channel")
    fields = _message_fields(p, require_content=True)
    thread_ts = str(p.get("thread_ts") or "") or None
    parent = ws._find(cid, thread_ts) if thread_ts else None
    if thread_ts and parent is None:
        raise _ApiError("thread_not_found")
    wait = ws._take_slot(cid)
    if wait is not None:
        ws.rate_limited += 1
        return json_response({"ok": False, "error": "ratelimited"}, 429,
                             {"Retry-After": str(max(1, math.ceil(wait)))})
    ts = ws._next_ts()
    message: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID,
                               "team": TEAM_ID, "ts": ts, "text": fields.get("text", ""), **fields}
    if parent is not None:
        message["thread_ts"] = parent["ts"]
        if _flag(p, "reply_broadcast"):
            message["subtype"] = "thread_broadcast"
        parent["thread_ts"] = parent["ts"]
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        parent["latest_reply"] = ts
    ws._history[cid].append(message)
    ws._posted_at[cid].append(ws.clock())
    return json_response({"ok": True, "channel": cid, "ts": ts, "message": _public(message, with_metadata=True)})


async def _update(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    cid = _channel(p, ws)
    message = ws._find(cid, str(p.get("ts") or ""))
    if message is None:
        raise _ApiError("message_not_found")
    fields = _message_fields(p, require_content=False)
    message.update(fields)
    message["edited"] = {"user": BOT_USER_ID, "ts": ws._next_ts()}
    return json_response({"ok": True, "channel": cid, "ts": message["ts"], "text": message.get("text", ""),
                          "message": _public(message, with_metadata=True)})


def _page(messages: list[dict[str, Any]], p: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Cursor pagination over an already ordered list; the cursor is an opaque offset."""
    try:
        limit = min(max(int(p.get("limit") or 100), 1), 999)
    except ValueError as e:
        raise _ApiError("invalid_limit") from e
    start = 0
    cursor = str(p.get("cursor") or "")
    if cursor:
        try:
            start = int(base64.b64decode(cursor, validate=True).decode().removeprefix("offset:"))
        except (ValueError, binascii.Error) as e:
            raise _ApiError("invalid_cursor") from e
    page = messages[start:start + limit]
    more = start + limit < len(messages)
    next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
    return page, next_cursor


def _ts_arg(p: dict[str, Any], name: str) -> Decimal | None:
    value = p.get(name)
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as e:
        raise _ApiError(f"invalid_ts_{name}") from e


def _in_window(ts: str, p: dict[str, Any]) -> bool:
    # Decimal, not float: "1700000000.000101" has more digits than a double keeps exactly
    inclusive = _flag(p, "inclusive")
    t = Decimal(ts)
    oldest, latest = _ts_arg(p, "oldest"), _ts_arg(p, "latest")
    if oldest is not None and (t < oldest or (t == oldest and not inclusive)):
        return False
    if latest is not None and (t > latest or (t == latest and not inclusive)):
        return False
    return True


async def _history(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    cid = _channel(p, ws)
    with_metadata = _flag(p, "include_all_metadata")
    # like Slack: newest first, thread replies only when broadcast to the channel
    top = [m for m in reversed(ws._history[cid])
           if ("thread_ts" not in m or m["thread_ts"] == m["ts"] or m.get("subtype") == "thread_broadcast")
           and _in_window(m["ts"], p)]
    page, next_cursor = _page(top, p)
    return json_response({"ok": True, "messages": [_public(m, with_metadata=with_metadata) for m in page],
                          "has_more": bool(next_cursor), "pin_count": 0,
                          "response_metadata": {"next_cursor": next_cursor}})


async def _replies(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    cid = _channel(p, ws)
    ts = str(p.get("ts") or "")
    if ws._find(cid, ts) is None:
        raise _ApiError("thread_not_found")
    with_metadata = _flag(p, "include_all_metadata")
    thread = [m for m in ws._history[cid] if (m["ts"] == ts or m.get("thread_ts") == ts) and _in_window(m["ts"], p)]
    page, next_cursor = _page(thread, p)
    return json_response({"ok": True, "messages": [_public(m, with_metadata=with_metadata) for m in page],
                          "has_more": bool(next_cursor), "response_metadata": {"next_cursor": next_cursor}})


def _conversation(ws: SlackWorkspace, cid: str, name: str) -> dict[str, Any]:
    return {"id": cid, "name": name, "is_channel": True, "is_private": False, "is_archived": False,
            "is_member": name not in ws.not_member}


async def _info(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    cid = _channel(p, ws)
    return json_response({"ok": True, "channel": _conversation(ws, cid, ws.channels()[cid])})


async def _list(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    channels = [_conversation(ws, cid, name) for cid, name in ws.channels().items()]
    page, next_cursor = _page(channels, p)  # type: ignore[arg-type]
    return json_response({"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}})


# the bot scope each method needs (for public channels, which is all the sandbox has)
_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "conversations.list": "channels:read",
    "conversations.info": "channels:read",
}

_METHODS = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "conversations.history": _history,
    "conversations.replies": _replies,
    "conversations.list": _list,
    "conversations.info": _info,
}


WORKSPACE = web.AppKey("slack_workspace", SlackWorkspace)


def make_slack_app(workspace: SlackWorkspace) -> web.Application:
    """The Slack Web API under `/api/<method>`; point slack-sdk at `<server url>/api/`."""

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        method = _METHODS.get(name)
        if method is None:
            return json_response({"ok": False, "error": "unknown_method"}, 404)
        try:
            params = await _params(request)
            _check_token(request, params, workspace)
            needed = _SCOPES.get(name)
            if needed and needed not in workspace.scopes:
                raise _ApiError("missing_scope", needed=needed, provided=",".join(sorted(workspace.scopes)))
            resp = await method(workspace, params)
        except _ApiError as e:
            # Slack reports API errors with HTTP 200 and ok=false
            resp = json_response({"ok": False, "error": e.error, **e.extra})
        if request.headers.get("Authorization") == f"Bearer {workspace.token}":
            resp.headers["X-OAuth-Scopes"] = ",".join(sorted(workspace.scopes))  # as Slack does
        return resp

    app = web.Application(middlewares=[make_middleware(workspace.recorder, workspace.faults, style="slack")])
    app[WORKSPACE] = workspace
    app.router.add_route("*", "/api/{method}", handle)
    return app
