"""The Slack outbox handler against the Slack sandbox, through the real AsyncWebClient over a socket."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from alerts.mention_alert import MentionView, build_mention_alert
from alerts.slack_delivery import (
    AUTH_RETRY_AFTER,
    EVENT_TYPE,
    SlackCheckFailed,
    SlackDelivery,
    check_slack,
    make_slack_client,
)
from monitor.delivery import DeliveryHandler, OutboxItem, PermanentFailure, Posted, RetryLater
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app

VIEW = MentionView(mention_id=5, source="x", external_id="123", text="the app is down", urgency="critical",
                   category="outage", author_username="sam", author_followers=10, url="https://x.com/sam/status/123",
                   created_at=1_700_000_000.0, score=90, confidence=0.8, sentiment=-0.7, reasons=("outage words",))


@dataclass
class Env:
    ws: SlackWorkspace
    base: str
    handler: SlackDelivery


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    ws = SlackWorkspace(rate_per_channel=None)
    server = Server(make_slack_app(ws))
    base = await server.start() + "/api/"
    handler = SlackDelivery(make_slack_client(ws.token, base, timeout=2), min_interval=1.0)
    try:
        yield Env(ws, base, handler)
    finally:
        await server.stop()


def item(key: str = "mention:5:slack", target: str = "#care-urgent", view: MentionView = VIEW,
         created_at: float | None = None, **payload_extra: object) -> OutboxItem:
    return OutboxItem(id=1, key=key, kind="slack.message", target=target,
                      payload={**build_mention_alert(view), **payload_extra}, attempts=0, in_doubt=False,
                      created_at=time.time() if created_at is None else created_at)


def test_it_is_a_delivery_handler() -> None:
    handler: DeliveryHandler = SlackDelivery(make_slack_client("xoxb-x", "http://127.0.0.1:1/api/"), min_interval=1.5)
    assert handler.kind == "slack.message" and handler.min_interval == 1.5
    assert handler._client.retry_handlers == []  # type: ignore[attr-defined]


async def test_deliver_posts_channel_blocks_and_metadata(env: Env) -> None:
    it = item()
    receipt = await env.handler.deliver(it)
    (msg,) = env.ws.messages("#care-urgent")
    assert msg["ts"] == receipt.ref
    assert receipt.posted == Posted(env.ws.channel_id("care-urgent"), msg["ts"], None)  # what the registry records
    assert msg["text"] == it.payload["text"] and msg["blocks"] == it.payload["blocks"]
    assert msg["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"key": it.key}}
    body = env.ws.recorder.matching("/api/chat.postMessage")[0].json()
    assert body["unfurl_links"] is False and body["channel"] == "#care-urgent"
    assert env.ws.messages("#care") == []


async def test_deliver_into_a_thread(env: Env) -> None:
    parent = (await env.handler.deliver(item(key="parent"))).posted
    in_thread = replace(item(key="reply"), parent=parent)  # resolved from the message registry by the outbox
    reply = await env.handler.deliver(in_thread)
    assert [m.get("thread_ts") for m in env.ws.messages("#care-urgent")] == [parent.ts, parent.ts]
    assert reply.posted.thread_ts == parent.ts
    assert await env.handler.reconcile(in_thread) == reply
    assert await env.handler.reconcile(replace(in_thread, key="other")) is None


async def test_reconcile_finds_an_earlier_post_by_key(env: Env) -> None:
    ts = await env.handler.deliver(item(key="k-landed"))
    for i in range(3):
        await env.handler.deliver(item(key=f"k-later-{i}"))
    assert await env.handler.reconcile(item(key="k-landed")) == ts
    assert await env.handler.reconcile(item(key="k-never-sent")) is None
    assert await env.handler.reconcile(item(key="k-landed", target="#care")) is None  # another channel
    (req, *_) = env.ws.recorder.matching("/api/conversations.history")
    assert req.query["include_all_metadata"] == "1" and float(req.query["oldest"]) > 0


async def test_reconcile_pages_through_a_busy_channel(env: Env) -> None:
    env.handler._history_limit = 2  # type: ignore[attr-defined]
    ts = await env.handler.deliver(item(key="first"))
    for i in range(6):
        await env.handler.deliver(item(key=f"busy-{i}"))
    assert await env.handler.reconcile(item(key="first")) == ts
    assert len(env.ws.recorder.matching("/api/conversations.history")) == 4


async def test_reconcile_looks_back_only_a_minute_before_the_row(env: Env) -> None:
    now = time.time()
    env.ws.wall = lambda: now - 120  # Slack accepted it two minutes before the row was written: not ours
    await env.handler.deliver(item(key="old"))
    assert await env.handler.reconcile(item(key="old", created_at=now)) is None
    env.ws.wall = lambda: now - 30
    ts = await env.handler.deliver(item(key="recent"))
    assert await env.handler.reconcile(item(key="recent", created_at=now)) == ts


@pytest.mark.parametrize(
    "fault, retry_after",
    [
        (Fault("429", reset_in=7), 7.0),
        (Fault("429-no-reset"), 1.0),  # Slack always sends Retry-After; without one, a second
        (Fault("500"), None),
        (Fault("503"), None),
        (Fault("drop"), None),
        (Fault("malformed"), None),
    ],
    ids=lambda v: v.kind if isinstance(v, Fault) else str(v),
)
async def test_transient_failures_retry_later(env: Env, fault: Fault, retry_after: float | None) -> None:
    env.ws.faults.add("/api/chat.postMessage", fault)
    with pytest.raises(RetryLater) as exc:
        await env.handler.deliver(item())
    assert exc.value.retry_after == retry_after
    assert exc.value.counts == (fault.kind not in ("429", "429-no-reset"))  # a 429 is not an attempt
    assert len(env.ws.recorder.requests) == 1  # the client did not retry on its own
    assert await env.handler.deliver(item())  # and the next attempt goes through


async def test_timeout_retries_later(env: Env) -> None:
    handler = SlackDelivery(make_slack_client(env.ws.token, env.base, timeout=0.05))
    env.ws.faults.add("/api/chat.postMessage", Fault("timeout", delay=0.1))
    with pytest.raises(RetryLater, match="timed out|Timeout"):
        await handler.deliver(item())


async def test_nothing_listening_retries_later() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = SlackDelivery(make_slack_client("xoxb-x", f"http://127.0.0.1:{port}/api/", timeout=1))
    with pytest.raises(RetryLater):
        await handler.deliver(item())
    with pytest.raises(RetryLater):
        await handler.reconcile(item())


async def test_the_channel_rate_limit_says_when_to_come_back(env: Env) -> None:
    env.ws.rate_per_channel, env.ws.burst = 1.0, 1
    await env.handler.deliver(item())
    with pytest.raises(RetryLater) as exc:
        await env.handler.deliver(item())
    assert exc.value.retry_after == 1.0
    assert (exc.value.counts, exc.value.scope) == (False, "lane")  # not an attempt; this channel waits


async def test_reconcile_rate_limited_retries_later(env: Env) -> None:
    env.ws.faults.add("/api/conversations.history", Fault("429", reset_in=3))
    with pytest.raises(RetryLater) as exc:
        await env.handler.reconcile(item())
    assert exc.value.retry_after == 3.0


@pytest.mark.parametrize(
    "make_item",
    [
        lambda: item(target="#no-such-channel"),
        lambda: item(view=replace(VIEW, mention_id=6), blocks=[{"type": "header", "text": {"type": "plain_text",
                                                                                            "text": "h" * 151}}]),
        lambda: item(text="x" * 40_001),
    ],
    ids=["channel_not_found", "invalid_blocks", "msg_too_long"],
)
async def test_messages_slack_refuses_fail_permanently(env: Env, make_item) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermanentFailure) as exc:
        await env.handler.deliver(make_item())
    assert exc.value.__cause__ is not None
    assert env.ws.all_messages() == []


async def test_a_bad_token_waits_for_the_operator(env: Env) -> None:
    handler = SlackDelivery(make_slack_client("xoxb-revoked-secret", env.base))
    with pytest.raises(RetryLater) as exc:
        await handler.deliver(item())
    assert exc.value.retry_after == AUTH_RETRY_AFTER
    assert "invalid_auth" in str(exc.value) and "slack.token" in str(exc.value)
    assert (exc.value.counts, exc.value.scope) == (False, "service")  # not an attempt; every channel waits
    assert "xoxb-revoked-secret" not in str(exc.value)
    with pytest.raises(RetryLater):
        await handler.reconcile(item())


async def test_a_hostile_post_reaches_slack_harmless(env: Env) -> None:
    view = replace(VIEW, text="<!channel> hi <@U123>", author_name="<!here>", reasons=("said <@U123>",))
    await env.handler.deliver(item(view=view))
    (msg,) = env.ws.messages("#care-urgent")
    wire = env.ws.recorder.matching("/api/chat.postMessage")[0].body.decode()
    for shown in (msg["text"], json.dumps(msg["blocks"]), wire):
        assert "<!channel>" not in shown and "<@U123>" not in shown and "<!here>" not in shown
    assert "&lt;!channel&gt; hi &lt;@U123&gt;" in json.dumps(msg["blocks"])


async def test_the_largest_alert_is_accepted_by_slack(env: Env) -> None:
    huge = replace(VIEW, text="&<>🚀" * 3000, author_name="n" * 500, category="c" * 300,
                   reasons=tuple("r" * 900 for _ in range(40)), url="https://x.com/" + "p" * 2500)
    assert await env.handler.deliver(item(view=huge))


async def test_check_slack_names_the_bot_or_says_what_is_wrong(env: Env) -> None:
    assert "Sandbox" in await check_slack(env.ws.token, env.base)
    with pytest.raises(SlackCheckFailed, match="invalid_auth.*slack.token"):
        await check_slack("xoxb-wrong", env.base)
    env.ws.faults.add("/api/auth.test", Fault("503"))
    with pytest.raises(SlackCheckFailed, match="HTTP 503"):
        await check_slack(env.ws.token, env.base)


async def test_reconcile_after_a_restart_finds_the_channel_by_name(env: Env) -> None:
    ts = await env.handler.deliver(item(key="before-crash", target="#care"))
    fresh = SlackDelivery(make_slack_client(env.ws.token, env.base))  # a new process knows no channel ids
    assert await fresh.reconcile(item(key="before-crash", target="#care")) == ts
    assert await fresh.reconcile(item(key="before-crash", target="care")) == ts
    assert await fresh.reconcile(item(key="before-crash", target=env.ws.channel_id("care") or "")) == ts
    assert len(env.ws.recorder.matching("/api/conversations.list")) == 1  # looked up once, remembered
    assert await fresh.reconcile(item(key="before-crash", target="#gone")) is None


async def test_reconcile_without_the_scope_to_find_channels_waits_and_says_why(env: Env) -> None:
    env.ws.scopes = frozenset({"chat:write", "channels:history"})
    fresh = SlackDelivery(make_slack_client(env.ws.token, env.base))
    with pytest.raises(RetryLater, match="channels:read") as exc:
        await fresh.reconcile(item(target="#care"))
    assert exc.value.retry_after == AUTH_RETRY_AFTER
    assert await fresh.reconcile(item(target=env.ws.channel_id("care") or "")) is None  # ids need no lookup


@pytest.mark.parametrize(
    "scopes, channels, problem",
    [
        ({"chat:write", "channels:history", "channels:read"}, ["#care"], None),
        ({"chat:write", "groups:history"}, ["C00000001"], None),
        ({"channels:history"}, [], "chat:write"),
        ({"chat:write"}, [], "channels:history"),
        ({"chat:write", "channels:history"}, ["#care", None], "channels:read"),
    ],
)
async def test_check_slack_names_missing_scopes(env: Env, scopes: set[str], channels: list, problem: str | None) -> None:
    env.ws.scopes = frozenset(scopes)
    if problem is None:
        assert await check_slack(env.ws.token, env.base, channels=channels)
    else:
        with pytest.raises(SlackCheckFailed, match=problem):
            await check_slack(env.ws.token, env.base, channels=channels)


async def test_check_slack_names_each_channel_that_does_not_exist_or_lacks_the_bot(env: Env) -> None:
    env.ws.not_member.add("care")
    named = {"slack.channels.critical": "#care-urgent", "slack.channels.normal": "#care",
             "slack.operators_channel": "#care-opps"}
    with pytest.raises(SlackCheckFailed) as exc:
        await check_slack(env.ws.token, env.base, channels=named)
    problems = str(exc.value)
    assert "slack.channels.normal: the bot is not in #care" in problems
    assert "slack.operators_channel: channel #care-opps does not exist" in problems
    assert "critical" not in problems
    env.ws.not_member.clear()
    named["slack.operators_channel"] = env.ws.channel_id("care-ops") or ""  # an id works as well as a name
    assert "Sandbox" in await check_slack(env.ws.token, env.base, channels=named)


async def test_a_channel_without_the_bot_is_refused_permanently(env: Env) -> None:
    env.ws.not_member.add("care")
    with pytest.raises(PermanentFailure, match="not_in_channel"):
        await env.handler.deliver(item(target="#care"))
