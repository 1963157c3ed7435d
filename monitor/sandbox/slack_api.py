"""A local Slack Web API: enough of `auth.test`, `chat.*`, `conversations.*`, `users.*`, `usergroups.*`,
`views.*` and `apps.connections.open` for slack-sdk and slack-bolt to talk to (Socket Mode itself is in
`slack_socket.py`).

It answers the way Slack does: HTTP 200 with `{"ok": false, "error": ...}` for API errors, 429 with
`Retry-After` when one channel gets more than about one message a second, and it checks Block Kit
limits so a payload the real Slack would refuse (`invalid_blocks`, `msg_too_long`) is refused here
too. Every request is recorded and faults can be injected (see `core.Faults`), e.g.

    workspace.faults.add("/api/chat.postMessage", Fault("429", reset_in=7))

Lasting conditions are switches on the workspace: `revoke_token()` / `restore_token()` (every call
answers `invalid_auth`), `remove_bot(channel)` (`not_in_channel`), `delete_channel(channel)`
(`channel_not_found`).
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
from monitor.sandbox.slack_page import add_routes as add_page
from monitor.sandbox.slack_socket import SocketMode

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
    app_token: str = "xapp-sandbox-token"  # the app-level token Socket Mode connects with
    channel_names: tuple[str, ...] = ("care-urgent", "care", "care-ops")
    rate_per_channel: float | None = 1.0
    burst: int = 3
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    team: str = "Sandbox"
    scopes: frozenset[str] = frozenset(
        {"chat:write", "channels:read", "groups:read", "channels:history", "groups:history", "users:read",
         "usergroups:read", "commands", "files:write"})
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
        self.files: dict[str, dict[str, Any]] = {}  # file id -> upload (files.getUploadURLExternal flow)
        self.base_url = ""  # this server's origin, for the upload URLs it hands out
        self.revoked = False
        self.team_id = TEAM_ID
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}  # open modals by view id
        self.views_opened = 0
        self.triggers: set[str] = set()  # trigger_ids handed out with interactions (views.open wants one)
        self.ephemeral: list[dict[str, Any]] = []  # chat.postEphemeral messages (only their user sees them)
        self.updates = 0  # chat.update calls that changed a message
        # (channel id, ts) -> the message as first posted, kept when chat.update changes it (Slack
        # itself keeps no history; the demo shows the team what they read when an alert arrived)
        self.as_posted: dict[tuple[str, str], dict[str, Any]] = {}
        self.socket = SocketMode(self)
        for name in self.channel_names:
            self.add_channel(name)
        for uid, name, real in (("U0ANN", "ann", "Ann Agent"), ("U0BOB", "bob", "Bob Agent"),
                                ("U0CAT", "cat", "Cat Lead")):
            self.add_user(uid, name, real)
        self.add_usergroup("S0APPROVERS", "reply-approvers", ["U0CAT"])
        self.add_usergroup("S0ONCALL", "care-oncall", ["U0ANN", "U0CAT"])

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

    # -- lasting faults ---------------------------------------------------------------------

    def revoke_token(self) -> None:
        """Every call answers invalid_auth until `restore_token()` (a revoked or rotated token)."""
        self.revoked = True

    def restore_token(self) -> None:
        self.revoked = False

    def remove_bot(self, channel: str) -> None:
        """The bot is no longer in the channel: posting, updating and reading it answer not_in_channel."""
        cid = self.channel_id(channel)
        if cid is not None:
            self.not_member.add(self._channels[cid])

    def invite_bot(self, channel: str) -> None:
        cid = self.channel_id(channel)
        if cid is not None:
            self.not_member.discard(self._channels[cid])

    def delete_channel(self, channel: str) -> None:
        cid = self.channel_id(channel)
        if cid is not None:
            del self._channels[cid]

    # -- people -----------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str = "") -> None:
        self.users[user_id] = {"id": user_id, "team_id": self.team_id, "name": name, "deleted": False,
                               "real_name": real_name or name, "is_bot": False,
                               "profile": {"real_name": real_name or name, "display_name": name}}

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.users.get(user_id)

    def add_usergroup(self, group_id: str, handle: str, members: list[str]) -> None:
        self.usergroups[group_id] = {"id": group_id, "team_id": self.team_id, "handle": handle,
                                     "name": handle.replace("-", " ").title(), "is_usergroup": True,
                                     "users": list(members), "user_count": len(members)}

    def set_usergroup_members(self, group_id: str, members: list[str]) -> None:
        self.usergroups[group_id]["users"] = list(members)
        self.usergroups[group_id]["user_count"] = len(members)

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
    if token != workspace.token or workspace.revoked:
        raise _ApiError("invalid_auth")


def _channel(params: dict[str, Any], workspace: SlackWorkspace, *, by_name: bool = False) -> str:
    """The channel id. Like Slack, only chat.postMessage takes a `#name`; reads and updates want the id."""
    channel = str(params.get("channel") or "")
    cid = workspace.channel_id(channel) if by_name else (channel if channel in workspace.channels() else None)
    if cid is None:
        raise _ApiError("channel_not_found")
    return cid


def _member_channel(params: dict[str, Any], workspace: SlackWorkspace, *, by_name: bool = False) -> str:
    """A channel the bot must be in (posting, updating, reading history): not_in_channel otherwise."""
    cid = _channel(params, workspace, by_name=by_name)
    if workspace.channels()[cid] in workspace.not_member:
        raise _ApiError("not_in_channel")
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
    cid = _member_channel(p, ws)
    message = ws._find(cid, str(p.get("ts") or ""))
    if message is None:
        raise _ApiError("message_not_found")
    fields = _message_fields(p, require_content=False)
    ws.as_posted.setdefault((cid, message["ts"]), dict(message))
    message.update(fields)
    ws.updates += 1
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
    cid = _member_channel(p, ws)
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
    cid = _member_channel(p, ws)
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


async def _post_ephemeral(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    cid = _member_channel(p, ws, by_name=True)
    if str(p.get("user") or "") not in ws.users:
        raise _ApiError("user_not_found")
    fields = _message_fields(p, require_content=True)
    ts = ws._next_ts()
    ws.ephemeral.append({"channel": cid, "user": p["user"], "ts": ts, **fields})
    return json_response({"ok": True, "message_ts": ts})


async def _users_info(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    user = ws.user(str(p.get("user") or ""))
    if user is None:
        raise _ApiError("user_not_found")
    return json_response({"ok": True, "user": user})


def _group(ws: SlackWorkspace, g: dict[str, Any], with_users: bool) -> dict[str, Any]:
    out = {k: v for k, v in g.items() if k != "users"}
    if with_users:
        out["users"] = list(g["users"])
    return out


async def _usergroups_list(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    with_users = _flag(p, "include_users")
    return json_response({"ok": True, "usergroups": [_group(ws, g, with_users) for g in ws.usergroups.values()]})


async def _usergroup_users(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    group = ws.usergroups.get(str(p.get("usergroup") or ""))
    if group is None:
        raise _ApiError("no_such_subteam")
    return json_response({"ok": True, "users": list(group["users"])})


def _view_arg(ws: SlackWorkspace, p: dict[str, Any]) -> dict[str, Any]:
    view = _json_arg(p, "view", "invalid_arguments")
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise _ApiError("invalid_arguments")
    if view.get("type") == "modal":
        title = (view.get("title") or {}).get("text") or ""
        if not 1 <= len(title) <= 24:  # Slack's limit on a modal title
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] title must be 1..24"]})
    problems = _block_problems(view.get("blocks") or [])
    if problems:
        raise _ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {x}" for x in problems]})
    return view


def _stored_view(ws: SlackWorkspace, view: dict[str, Any], view_id: str) -> dict[str, Any]:
    stored = dict(view, id=view_id, team_id=ws.team_id, app_id=APP_ID, bot_id=BOT_ID,
                  hash=f"{int(ws.wall())}.{len(ws.views)}{view_id[-4:]}", state={"values": {}},
                  private_metadata=view.get("private_metadata", ""), callback_id=view.get("callback_id", ""))
    ws.views[view_id] = stored
    return stored


async def _views_open(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    trigger = str(p.get("trigger_id") or "")
    if trigger not in ws.triggers:
        raise _ApiError("invalid_trigger_id")
    ws.triggers.discard(trigger)  # like Slack: a trigger opens one view
    view = _view_arg(ws, p)
    ws.views_opened += 1  # ids never repeat, even after modals close
    return json_response({"ok": True, "view": _stored_view(ws, view, f"V{ws.views_opened:010d}")})


async def _views_update(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    view_id = str(p.get("view_id") or "")
    if not view_id and p.get("external_id"):
        view_id = next((v for v, view in ws.views.items() if view.get("external_id") == p["external_id"]), "")
    current = ws.views.get(view_id)
    if current is None:
        raise _ApiError("not_found")
    if p.get("hash") and p["hash"] != current["hash"]:
        raise _ApiError("hash_conflict")
    view = _view_arg(ws, p)
    return json_response({"ok": True, "view": _stored_view(ws, view, view_id)})


# the bot scope each method needs (for public channels, which is all the sandbox has)
# -- files: the external upload flow (files_upload_v2) -----------------------------------------


async def _get_upload_url(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    filename, length = str(p.get("filename") or ""), str(p.get("length") or "")
    if not filename or not length.isdigit():
        raise _ApiError("invalid_arguments")
    file_id = f"F{len(ws.files) + 1:08d}"
    ws.files[file_id] = {"id": file_id, "name": filename, "length": int(length), "data": None, "shared": []}
    return json_response({"ok": True, "upload_url": f"{ws.base_url}/upload/{file_id}", "file_id": file_id})


async def _upload(ws: SlackWorkspace, request: web.Request) -> web.Response:
    f = ws.files.get(request.match_info["file_id"])
    data = await request.read()
    if f is None or f["data"] is not None:
        return web.Response(status=404, text="not found")
    if len(data) != f["length"]:
        return web.Response(status=400, text=f"length {len(data)} is not the announced {f['length']}")
    f["data"] = data
    return web.Response(text=f"OK - {len(data)}")


async def _complete_upload(ws: SlackWorkspace, p: dict[str, Any]) -> web.Response:
    listed = _json_arg(p, "files", "invalid_arguments")
    if not isinstance(listed, list) or not listed:
        raise _ApiError("invalid_arguments")
    found = [ws.files.get(str(x.get("id"))) for x in listed if isinstance(x, dict)]
    if len(found) != len(listed) or any(f is None or f["data"] is None for f in found):
        raise _ApiError("file_not_found")  # never announced, or its bytes never arrived
    out = []
    cid = _channel({"channel": p["channel_id"]}, ws) if p.get("channel_id") else None
    thread_ts = str(p.get("thread_ts") or "") or None
    if cid and thread_ts and ws._find(cid, thread_ts) is None:
        raise _ApiError("thread_not_found")
    for f, x in zip(found, listed):
        f["title"] = x.get("title") or f["name"]
        out.append({"id": f["id"], "name": f["name"], "title": f["title"], "size": f["length"]})
    if cid:  # sharing a file posts a message with it, as Slack does
        message: dict[str, Any] = {"type": "message", "subtype": "file_share", "user": BOT_USER_ID, "ts": ws._next_ts(),
                                   "text": str(p.get("initial_comment") or ""), "files": out}
        if thread_ts:
            message["thread_ts"] = thread_ts
        ws._history[cid].append(message)
        for f in found:
            f["shared"].append((cid, thread_ts))  # type: ignore[index]
    return json_response({"ok": True, "files": out})


_SCOPES = {
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "conversations.list": "channels:read",
    "conversations.info": "channels:read",
    "users.info": "users:read",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
}

_METHODS = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "conversations.history": _history,
    "conversations.replies": _replies,
    "conversations.list": _list,
    "conversations.info": _info,
    "files.getUploadURLExternal": _get_upload_url,
    "files.completeUploadExternal": _complete_upload,
    "chat.postEphemeral": _post_ephemeral,
    "users.info": _users_info,
    "usergroups.list": _usergroups_list,
    "usergroups.users.list": _usergroup_users,
    "views.open": _views_open,
    "views.update": _views_update,
}


WORKSPACE = web.AppKey("slack_workspace", SlackWorkspace)


def make_slack_app(workspace: SlackWorkspace) -> web.Application:
    """The Slack Web API under `/api/<method>`; point slack-sdk at `<server url>/api/`."""

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        workspace.base_url = f"{request.scheme}://{request.host}"
        workspace.socket.base_url = workspace.socket.base_url or f"http://{request.host}"
        if name == "apps.connections.open":
            return await _connections_open(request, workspace)
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

    async def upload(request: web.Request) -> web.Response:  # the URL files.getUploadURLExternal hands out
        return await _upload(workspace, request)

    app.router.add_post("/upload/{file_id}", upload)
    app.router.add_get("/socket-mode", workspace.socket.handle)
    app.router.add_post("/response/{id}", workspace.socket.handle_response_url)
    add_page(app, workspace)  # a person clicking by hand in a browser
    return app


async def _connections_open(request: web.Request, workspace: SlackWorkspace) -> web.Response:
    """Only an app-level token (xapp-) opens Socket Mode; a bot token is the wrong kind."""
    try:
        params = await _params(request)
    except _ApiError as e:
        return json_response({"ok": False, "error": e.error})
    auth = request.headers.get("Authorization", "")
    token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.get("token", "")
    if not token:
        return json_response({"ok": False, "error": "not_authed"})
    if token == workspace.token:
        return json_response({"ok": False, "error": "not_allowed_token_type"})
    if token != workspace.app_token or workspace.revoked:
        return json_response({"ok": False, "error": "invalid_auth"})
    return json_response({"ok": True, "url": workspace.socket.issue_url(request.host)})
