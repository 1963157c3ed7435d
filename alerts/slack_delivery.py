"""The outbox handler that posts Slack messages (kind "slack.message") through slack-sdk's AsyncWebClient.

The payload is the finished message (`{"text", "blocks"}`). A row in the thread of a ticket or incident
(`thread_of`) arrives with its parent resolved from the message registry (`item.parent`) and is posted
as a reply there; every post returns a `Receipt` naming the channel id and ts, which the outbox
records in the registry. Every message carries Slack message
metadata with the outbox key, which is how `reconcile` tells, after a crash between Slack accepting a
message and our database recording it, whether the alert is already in the channel.

slack-sdk's errors become `RetryLater`/`PermanentFailure` in `_translate` and nowhere else.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from monitor.delivery import OutboxItem, PermanentFailure, Posted, Receipt, RetryLater

log = logging.getLogger(__name__)

KIND = "slack.message"
EVENT_TYPE = "outreach_monitor_alert"
RECONCILE_LOOKBACK = 60.0  # seconds before the row was written; covers clock skew between us and Slack
# A refused token needs a person; once they fix it, delivery should resume within a minute, not after
# a long timer. One post is tried this often while the whole service waits (rows are not attempts).
AUTH_RETRY_AFTER = 30.0

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")

# Slack answers these when the message itself can never be posted as it is.
_PERMANENT = frozenset({
    "channel_not_found", "is_archived", "not_in_channel", "invalid_blocks", "invalid_blocks_format",
    "msg_too_long", "no_text", "too_many_attachments", "invalid_metadata_format", "invalid_metadata_schema",
    "metadata_too_large", "metadata_must_be_sent_from_app", "restricted_action", "cannot_reply_to_message",
    "thread_not_found", "message_not_found", "invalid_arguments", "invalid_arg_name", "duplicate_channel_not_found",
    "channel_type_not_supported", "as_user_not_supported",
})
# The token is wrong or lacks rights: the operator fixes the config, the rows wait.
_AUTH = frozenset({
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope",
    "no_permission", "not_allowed_token_type", "ekm_access_denied", "team_access_not_granted",
})


def make_slack_client(token: str | SecretStr, api_base: str, timeout: float = 10) -> AsyncWebClient:
    """A client with no retry handlers of its own: the outbox owns retries, backoff and pacing."""
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    client = AsyncWebClient(token=secret, base_url=api_base, timeout=timeout, retry_handlers=[])  # type: ignore[arg-type]
    if _is_loopback(api_base):
        client.proxy = None  # slack-sdk reads HTTPS_PROXY and ignores NO_PROXY; the sandbox is local
    return client


class SlackCheckFailed(Exception):
    """`outreach-monitor check` could not use the Slack settings; the message says what to fix."""


async def check_slack(token: str | SecretStr, api_base: str, timeout: float = 10,
                      channels: Mapping[str, str] | Iterable[str] = ()) -> str:
    """Who the bot token belongs to (`auth.test`), or SlackCheckFailed saying why it is unusable.

    Also checks the scopes Slack reports for the token (chat:write to post, *:history to reconcile
    after a crash, channels:read when channels are given by name), and that every configured
    channel exists and has the bot in it. `channels` maps the YAML path that names a channel to it.
    """
    named = dict(channels) if isinstance(channels, Mapping) else {c: c for c in channels}
    client = make_slack_client(token, api_base, timeout)
    try:
        resp = await client.auth_test()
    except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        raise SlackCheckFailed(str(_translate(e, "auth.test", ""))) from e
    reported = (resp.headers or {}).get("X-OAuth-Scopes") or (resp.headers or {}).get("x-oauth-scopes")
    scopes: set[str] = set()
    if reported is not None:
        scopes = {s.strip() for s in reported.split(",")}
        missing = [s for s in ("chat:write",) if s not in scopes]
        if not scopes & {"channels:history", "groups:history"}:
            missing.append("channels:history (or groups:history for private channels)")
        if any(not _CHANNEL_ID.match(c) for c in named.values() if c) and "channels:read" not in scopes:
            missing.append("channels:read (or use channel ids in slack.channels)")
        if missing:
            raise SlackCheckFailed(f"the Slack app lacks the scopes {', '.join(missing)}; add them and reinstall it")
    who = f"bot {resp.get('user') or resp.get('user_id')} in workspace {resp.get('team')} ({resp.get('url')})"
    if reported is not None and "channels:read" not in scopes:
        return f"{who}; channels not verified (add channels:read to let check see them)" if named else who
    if problems := await _channel_problems(client, named):
        raise SlackCheckFailed("; ".join(problems))
    return who


async def _channel_problems(client: AsyncWebClient, named: Mapping[str, str]) -> list[str]:
    """Each configured channel that does not exist, or that the bot is not in (posts would fail)."""
    if not named:
        return []
    known: dict[str, dict[str, Any]] = {}  # name and id -> the conversation
    cursor: str | None = None
    try:
        for _ in range(20):
            resp = await client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                   limit=1000, cursor=cursor)
            for c in resp.get("channels") or []:
                known[str(c.get("name"))] = known[str(c.get("id"))] = c
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        return [f"could not list channels: {_translate(e, 'conversations.list', '')}"]
    problems = []
    for path, channel in named.items():
        c = known.get(channel.lstrip("#"))
        if c is None:
            problems.append(f"{path}: channel {channel} does not exist (or is private and the bot is not in it)")
        elif not c.get("is_member", True):
            problems.append(f"{path}: the bot is not in {channel}; invite it with /invite @<bot> there")
    return problems


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


class SlackDelivery:
    kind = KIND

    def __init__(self, client: AsyncWebClient, *, min_interval: float = 1.0, history_limit: int = 200,
                 max_history_pages: int = 20, auth_retry_after: float = AUTH_RETRY_AFTER) -> None:
        self._client = client
        self._auth_retry_after = auth_retry_after
        self._min_interval = min_interval
        self._history_limit = history_limit
        self._max_history_pages = max_history_pages
        self._ids: dict[str, str] = {}  # channel name -> id

    @property
    def min_interval(self) -> float:
        return self._min_interval

    async def deliver(self, item: OutboxItem) -> Receipt:
        payload = item.payload
        kwargs: dict[str, Any] = {
            "channel": item.target,
            "text": payload.get("text") or "",
            "blocks": payload.get("blocks"),
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"key": item.key}},
            # an alert shows the post itself; a link preview would repeat it and can be spoofed
            "unfurl_links": False,
            "unfurl_media": False,
        }
        thread_ts = _thread_ts(item)
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        resp = await self._call("chat.postMessage", self._client.chat_postMessage, **kwargs)
        channel_id = str(resp.get("channel") or item.target)
        if not _CHANNEL_ID.match(item.target):
            self._ids[item.target.lstrip("#")] = channel_id
        return Receipt(str(resp["ts"]), Posted(channel_id, str(resp["ts"]), thread_ts))

    async def update(self, channel: str, ts: str, message: dict[str, Any]) -> str:
        """chat.update of a message already posted (by channel id and ts, as the registry keeps them)."""
        await self._call("chat.update", self._client.chat_update, channel=channel, ts=ts,
                         text=message.get("text") or "", blocks=message.get("blocks"))
        return ts

    async def reconcile(self, item: OutboxItem) -> Receipt | None:
        """The ts of a message already posted for this item's key, else None.

        A threaded message is looked for among the thread's replies (history lists top-level only).
        """
        channel = await self._channel_id(item.target)
        if channel is None:
            return None  # no such channel: nothing can have landed there (deliver will say channel_not_found)
        oldest = f"{max(item.created_at - RECONCILE_LOOKBACK, 0):.6f}"
        thread_ts = _thread_ts(item)
        cursor: str | None = None
        for _ in range(self._max_history_pages):
            args: dict[str, Any] = {"channel": channel, "oldest": oldest, "include_all_metadata": True,
                                    "limit": self._history_limit, "cursor": cursor}
            if thread_ts:
                resp = await self._call("conversations.replies", self._client.conversations_replies,
                                        ts=thread_ts, **args)
            else:
                resp = await self._call("conversations.history", self._client.conversations_history, **args)
            for message in resp.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == EVENT_TYPE and payload.get("key") == item.key:
                    return Receipt(str(message["ts"]), Posted(channel, str(message["ts"]), thread_ts))
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                return None
        # Searched a very long history without an answer: a rare duplicate beats a lost alert.
        log.warning("slack reconcile gave up after %d pages in %s for %s; sending again",
                    self._max_history_pages, item.target, item.key)
        return None

    async def _channel_id(self, target: str) -> str | None:
        """Slack's read methods want a channel id; an operator's config may say `#care`.

        Names are looked up once with conversations.list (scopes channels:read and groups:read) and
        remembered, as is every channel a post went to. Configuring ids avoids the lookup entirely.
        """
        if _CHANNEL_ID.match(target):
            return target
        name = target.lstrip("#")
        if name in self._ids:
            return self._ids[name]
        cursor: str | None = None
        for _ in range(self._max_history_pages):
            resp = await self._call("conversations.list", self._client.conversations_list,
                                    types="public_channel,private_channel", exclude_archived=True, limit=1000,
                                    cursor=cursor)
            for c in resp.get("channels") or []:
                self._ids[str(c.get("name"))] = str(c.get("id"))
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if name in self._ids or not cursor:
                break
        return self._ids.get(name)

    async def _call(self, what: str, method: Callable[..., Awaitable[AsyncSlackResponse]],
                    **kwargs: Any) -> AsyncSlackResponse:
        try:
            return await method(**kwargs)
        except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            err = _translate(e, what, kwargs.get("channel", ""))
            if isinstance(err, RetryLater) and err.scope == "service":
                err.retry_after = self._auth_retry_after
            raise err from e


def _thread_ts(item: OutboxItem) -> str | None:
    if item.parent is not None:
        return item.parent.thread_ts or item.parent.ts
    return item.payload.get("thread_ts") or None


def _translate(e: Exception, what: str, channel: str) -> Exception:
    """slack-sdk and aiohttp errors in the outbox's vocabulary; the one place that knows them."""
    if isinstance(e, SlackApiError):
        status, error, retry_after = _response_facts(e)
        if status == 429 or error == "ratelimited":
            # not an attempt: the channel waits as long as Slack says, and the row is not nearer to giving up
            return RetryLater(f"Slack rate-limited {what} in {channel}", retry_after=retry_after if retry_after
                              is not None else 1.0, counts=False, scope="lane")
        if status >= 500:
            return RetryLater(f"Slack answered {what} with HTTP {status}", retry_after=retry_after, scope="lane")
        if error == "missing_scope":
            needed = _data(e).get("needed") or "a scope"
            return RetryLater(
                f"the Slack app needs {needed} for {what}: add it to the app (or configure channel ids); "
                "alerts are kept and will be sent once it works", retry_after=AUTH_RETRY_AFTER, counts=False,
                scope="service")
        if error in _AUTH:
            return RetryLater(
                f"Slack rejected the bot token ({error}) on {what}: fix slack.token or the app's scopes; "
                "alerts are kept and will be sent once it works", retry_after=AUTH_RETRY_AFTER, counts=False,
                scope="service")
        if error in _PERMANENT:
            return PermanentFailure(f"Slack refused {what} to {channel}: {error}{_details(e)}")
        if not error:
            # 200 with a body we could not read: the message may or may not be there (reconcile decides)
            return RetryLater(f"Slack sent an unreadable answer to {what} (HTTP {status})")
        return RetryLater(f"Slack answered {what} with {error}", retry_after=retry_after)
    if isinstance(e, SlackRequestError):
        return PermanentFailure(f"{what} request could not be built: {e}")
    # timeouts, refused or dropped connections: the message may have landed (reconcile decides)
    return RetryLater(f"Slack {what} failed: {type(e).__name__}: {str(e) or 'timed out'}", scope="lane")


def _response_facts(e: SlackApiError) -> tuple[int, str, float | None]:
    """Status, Slack error code and Retry-After from either a SlackResponse or a raw aiohttp response."""
    resp = e.response
    status = getattr(resp, "status_code", None) or getattr(resp, "status", 0) or 0
    error = str(_data(e).get("error") or "")
    headers = getattr(resp, "headers", None) or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        retry_after = float(raw) if raw is not None else None
    except ValueError:
        retry_after = None
    return int(status), error, retry_after


def _data(e: SlackApiError) -> dict[str, Any]:
    data = getattr(e.response, "data", None)  # absent when slack-sdk wraps a raw aiohttp response
    return data if isinstance(data, dict) else {}


def _details(e: SlackApiError) -> str:
    data = _data(e)
    messages = (data.get("response_metadata") or {}).get("messages") or data.get("errors")
    return " (" + "; ".join(str(m) for m in messages[:3]) + ")" if messages else ""
