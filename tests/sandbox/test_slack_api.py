"""The Slack sandbox, driven by the real slack-sdk AsyncWebClient over a real socket."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from monitor.sandbox.clock import ManualClock as FakeClock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app


@dataclass


@dataclass
class Slack:
    ws: SlackWorkspace
    client: AsyncWebClient
    clock: FakeClock
    base: str


@pytest.fixture
async def slack() -> AsyncIterator[Slack]:
    clock = FakeClock(1000.0)
    ws = SlackWorkspace(rate_per_channel=None, clock=clock)
    server = Server(make_slack_app(ws))
    base = await server.start() + "/api/"
    client = AsyncWebClient(token=ws.token, base_url=base, retry_handlers=[])
    client.proxy = None
    try:
        yield Slack(ws, client, clock, base)
    finally:
        await server.stop()


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return exc.value.response["error"]


async def test_auth_test_checks_the_bot_token(slack: Slack) -> None:
    ok = await slack.client.auth_test()
    assert ok["ok"] and ok["user_id"] and ok["team_id"]
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack.base, retry_handlers=[])
    with pytest.raises(SlackApiError) as exc:
        await wrong.chat_postMessage(channel="#care", text="hi")
    assert _error(exc) == "invalid_auth"
    assert slack.ws.messages("#care") == []
    assert slack.ws.recorder.matching("/api/chat.postMessage")[0].headers["Authorization"] == "Bearer xoxb-wrong"


async def test_post_message_stores_text_blocks_and_metadata(slack: Slack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
    metadata = {"event_type": "outreach_monitor_alert", "event_payload": {"key": "k1"}}
    r1 = await slack.client.chat_postMessage(channel="#care", text="hello", blocks=blocks, metadata=metadata)
    r2 = await slack.client.chat_postMessage(channel=r1["channel"], text="second")
    assert r1["channel"] == slack.ws.channel_id("care") != slack.ws.channel_id("care-urgent")
    assert float(r1["ts"]) < float(r2["ts"])
    stored = slack.ws.messages("#care")
    assert [m["text"] for m in stored] == ["hello", "second"]
    assert stored[0]["blocks"] == blocks and stored[0]["metadata"] == metadata
    assert stored[0]["ts"] == r1["ts"] and "metadata" not in stored[1]
    assert slack.ws.messages("care") == stored == slack.ws.messages(r1["channel"])
    assert slack.ws.messages("#care-urgent") == []


async def test_form_encoded_bodies_are_accepted(slack: Slack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "from a form"}}]
    metadata = {"event_type": "t", "event_payload": {"key": "form"}}
    await slack.client.api_call("chat.postMessage", data={
        "channel": "#care-ops", "text": "form", "blocks": json.dumps(blocks), "metadata": json.dumps(metadata)})
    req = slack.ws.recorder.matching("/api/chat.postMessage")[-1]
    assert req.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    (msg,) = slack.ws.messages("#care-ops")
    assert msg["blocks"] == blocks and msg["metadata"] == metadata


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"channel": "#nowhere", "text": "x"}, "channel_not_found"),
        ({"channel": "C99999999", "text": "x"}, "channel_not_found"),
        ({"channel": "#care"}, "no_text"),
        ({"channel": "#care", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "#care", "text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y"}}] * 51},
         "invalid_blocks"),
        ({"channel": "#care", "text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
         "invalid_blocks"),
        ({"channel": "#care", "text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]},
         "invalid_blocks"),
        ({"channel": "#care", "text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]},
         "invalid_blocks"),
        ({"channel": "#care", "text": "x", "blocks": [{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "same"},
            {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": "same"}]}]}, "invalid_blocks"),
        ({"channel": "#care", "text": "x", "metadata": {"event_type": "t"}}, "invalid_metadata_format"),
        ({"channel": "#care", "text": "x", "thread_ts": "1.000001"}, "thread_not_found"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_message_refuses_what_slack_refuses(slack: Slack, kwargs: dict, error: str) -> None:
    with pytest.raises(SlackApiError) as exc:
        await slack.client.chat_postMessage(**kwargs)
    assert _error(exc) == error
    assert exc.value.response.status_code == 200  # Slack reports API errors with HTTP 200
    assert slack.ws.all_messages() == []


async def test_section_at_the_limit_is_accepted(slack: Slack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}}] * 50
    await slack.client.chat_postMessage(channel="#care", text="x", blocks=blocks)
    assert len(slack.ws.messages("#care")) == 1


async def test_history_is_newest_first_with_window_metadata_and_cursor(slack: Slack) -> None:
    care = slack.ws.channel_id("#care")
    ts = []
    for i in range(5):
        r = await slack.client.chat_postMessage(
            channel="#care", text=f"m{i}", metadata={"event_type": "t", "event_payload": {"key": f"k{i}"}})
        ts.append(r["ts"])

    plain = await slack.client.conversations_history(channel=care)
    assert [m["text"] for m in plain["messages"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["has_more"] is False

    texts, keys, cursor, pages = [], [], None, 0
    while True:
        page = await slack.client.conversations_history(
            channel=care, oldest=ts[0], limit=2, cursor=cursor, include_all_metadata=True)
        pages += 1
        texts += [m["text"] for m in page["messages"]]
        keys += [m["metadata"]["event_payload"]["key"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            break
    assert texts == ["m4", "m3", "m2", "m1"]  # `oldest` is exclusive
    assert keys == ["k4", "k3", "k2", "k1"] and pages == 2 and cursor == ""

    inclusive = await slack.client.conversations_history(channel=care, oldest=ts[0], inclusive=True)
    assert len(inclusive["messages"]) == 5
    latest = await slack.client.conversations_history(channel=care, latest=ts[2])
    assert [m["text"] for m in latest["messages"]] == ["m1", "m0"]


@pytest.mark.parametrize("channel", ["#nowhere", "#care", "care"])  # reads take ids only, like Slack
async def test_history_wants_a_channel_id(slack: Slack, channel: str) -> None:
    with pytest.raises(SlackApiError) as exc:
        await slack.client.conversations_history(channel=channel)
    assert _error(exc) == "channel_not_found"


async def test_history_refuses_a_bad_cursor(slack: Slack) -> None:
    with pytest.raises(SlackApiError) as exc:
        await slack.client.conversations_history(channel=slack.ws.channel_id("#care"), cursor="not-a-cursor!")
    assert _error(exc) == "invalid_cursor"


async def test_thread_replies_stay_out_of_history(slack: Slack) -> None:
    parent = await slack.client.chat_postMessage(channel="#care", text="parent")
    await slack.client.chat_postMessage(channel="#care", text="reply", thread_ts=parent["ts"])
    care = parent["channel"]
    history = await slack.client.conversations_history(channel=care)
    assert [m["text"] for m in history["messages"]] == ["parent"]
    assert history["messages"][0]["reply_count"] == 1
    replies = await slack.client.conversations_replies(channel=care, ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["parent", "reply"]
    assert [m["text"] for m in slack.ws.messages("#care")] == ["parent", "reply"]


async def test_update_changes_the_message(slack: Slack) -> None:
    r = await slack.client.chat_postMessage(channel="#care", text="before")
    u = await slack.client.chat_update(channel=r["channel"], ts=r["ts"], text="after",
                                       blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "after"}}])
    assert u["ts"] == r["ts"]
    (msg,) = slack.ws.messages("#care")
    assert msg["text"] == "after" and msg["blocks"][0]["text"]["text"] == "after" and "edited" in msg
    with pytest.raises(SlackApiError) as exc:
        await slack.client.chat_update(channel=r["channel"], ts="1.000000", text="x")
    assert _error(exc) == "message_not_found"


async def test_conversations_list(slack: Slack) -> None:
    r = await slack.client.conversations_list()
    assert {c["name"] for c in r["channels"]} == {"care-urgent", "care", "care-ops"}


async def test_per_channel_rate_limit_answers_429_with_retry_after(slack: Slack) -> None:
    slack.ws.rate_per_channel, slack.ws.burst = 1.0, 2
    for _ in range(2):
        await slack.client.chat_postMessage(channel="#care", text="ok")
    with pytest.raises(SlackApiError) as exc:
        await slack.client.chat_postMessage(channel="#care", text="too fast")
    assert exc.value.response.status_code == 429
    assert _error(exc) == "ratelimited" and exc.value.response.headers["Retry-After"] == "1"
    await slack.client.chat_postMessage(channel="#care-urgent", text="another channel has its own budget")
    slack.clock.now += 1.0
    await slack.client.chat_postMessage(channel="#care", text="ok again")
    with pytest.raises(SlackApiError):
        await slack.client.chat_postMessage(channel="#care", text="too fast again")
    assert slack.ws.rate_limited == 2
    assert [m["text"] for m in slack.ws.messages("#care")] == ["ok", "ok", "ok again"]


@pytest.mark.parametrize(
    "times, expected",
    [
        ([], 0),
        ([0.0], 1),
        ([0.0, 1.0, 2.0, 3.0], 1),  # a window is half-open: exactly one a second is one a second
        ([0.0, 0.5, 0.99, 1.0, 2.5], 3),
        ([0.0, 0.9, 1.8, 2.7], 2),
    ],
)
async def test_max_per_channel_per_s(slack: Slack, times: list[float], expected: int) -> None:
    for t in times:
        slack.clock.now = 1000.0 + t
        await slack.client.chat_postMessage(channel="#care", text="x")
        slack.clock.now = 1000.0 + t + 0.3  # another channel, interleaved, counts on its own
        await slack.client.chat_postMessage(channel="#care-ops", text="y")
    assert slack.ws.max_per_channel_per_s == expected


async def test_injected_faults_are_answered_in_slack_dialect(slack: Slack) -> None:
    slack.ws.faults.add("/api/chat.postMessage", Fault("429", reset_in=7))
    slack.ws.faults.add("/api/chat.postMessage", Fault("500"))
    with pytest.raises(SlackApiError) as exc:
        await slack.client.chat_postMessage(channel="#care", text="x")
    assert exc.value.response.status_code == 429 and exc.value.response.headers["Retry-After"] == "7"
    with pytest.raises(SlackApiError) as exc:
        await slack.client.chat_postMessage(channel="#care", text="x")
    assert exc.value.response.status_code == 500
    await slack.client.chat_postMessage(channel="#care", text="x")
    assert [r.status for r in slack.ws.recorder.matching("/api/chat.postMessage")] == [429, 500, 200]


async def test_ts_is_increasing_even_when_the_wall_clock_stands_still(slack: Slack) -> None:
    slack.ws.wall = lambda: 1_700_000_000.0
    a = await slack.client.chat_postMessage(channel="#care", text="a")
    b = await slack.client.chat_postMessage(channel="#care", text="b")
    assert (a["ts"], b["ts"]) == ("1700000000.000000", "1700000000.000001")


async def test_methods_need_their_scope(slack: Slack) -> None:
    slack.ws.scopes = frozenset({"chat:write"})
    await slack.client.chat_postMessage(channel="#care", text="allowed")
    with pytest.raises(SlackApiError) as exc:
        await slack.client.conversations_list()
    assert _error(exc) == "missing_scope" and exc.value.response["needed"] == "channels:read"


async def test_a_held_fault_answers_every_call_until_lifted_and_leaves_queued_faults(slack: Slack) -> None:
    slack.ws.faults.add("/api/auth.test", Fault("500"))
    lift = slack.ws.faults.hold("/api/chat.postMessage", Fault("503"))
    for _ in range(3):
        with pytest.raises(SlackApiError) as exc:
            await slack.client.chat_postMessage(channel="#care", text="hi")
        assert exc.value.response.status_code == 503
    lift()
    assert (await slack.client.chat_postMessage(channel="#care", text="hi"))["ok"]
    with pytest.raises(SlackApiError):  # the other fault is still queued
        await slack.client.auth_test()


async def test_listeners_hear_a_request_before_it_is_answered(slack: Slack) -> None:
    heard: list[tuple[str, int]] = []
    slack.ws.recorder.listen_received(lambda rec: heard.append((rec.path, rec.status)))
    await slack.client.chat_postMessage(channel="#care", text="hi")
    assert heard == [("/api/chat.postMessage", 0)]  # status 0: not answered yet when heard
    assert slack.ws.recorder.matching("/api/chat.postMessage")[0].status == 200
