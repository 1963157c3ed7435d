"""The sandbox Slack's interactive side, driven by the real slack-sdk and slack-bolt over real sockets.

Socket Mode (apps.connections.open → websocket → envelopes → acks), modals, slash commands, users
and user groups, and the lasting faults (revoked token, bot removed, channel deleted).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from monitor.sandbox.core import Server
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app


@dataclass
class Slack:
    ws: SlackWorkspace
    client: AsyncWebClient
    base: str


@pytest.fixture
async def slack() -> AsyncIterator[Slack]:
    ws = SlackWorkspace(rate_per_channel=None)
    server = Server(make_slack_app(ws))
    base = await server.start() + "/api/"
    client = AsyncWebClient(token=ws.token, base_url=base, retry_handlers=[])
    client.proxy = None
    try:
        yield Slack(ws, client, base)
    finally:
        await ws.socket.close_all()
        await server.stop()


async def _connect(slack: Slack, app: AsyncApp) -> AsyncSocketModeHandler:
    handler = AsyncSocketModeHandler(app, slack.ws.app_token, web_client=slack.client)
    handler.client.proxy = None
    await handler.connect_async()
    await asyncio.wait_for(slack.ws.socket.connected.wait(), 5)
    return handler


async def _until_answered(slack: Slack, cond: Callable[[], bool]) -> None:
    """Re-check `cond` each time the sandbox Slack answers a request (bolt's handlers act after their
    ack): waits on traffic, not on time; 30 s is only a failure bound."""
    answered = asyncio.Event()
    slack.ws.recorder.listen(answered.set)
    async with asyncio.timeout(30):
        while not cond():
            await answered.wait()
            answered.clear()


def _app(slack: Slack) -> AsyncApp:
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    return AsyncApp(client=slack.client)


BUTTONS = [{"type": "actions", "block_id": "acts:1", "elements": [
    {"type": "button", "text": {"type": "plain_text", "text": "Claim"}, "action_id": "claim", "value": "42"}]}]


async def test_socket_mode_delivers_a_click_to_bolt_and_records_the_ack(slack: Slack) -> None:
    app = _app(slack)
    seen: list[dict[str, Any]] = []

    @app.action("claim")
    async def on_claim(ack, body, client):  # type: ignore[no-untyped-def]
        await ack()
        seen.append(body)
        await client.chat_update(channel=body["container"]["channel_id"], ts=body["container"]["message_ts"],
                                 text=f"claimed by {body['user']['id']}", blocks=[])

    posted = await slack.client.chat_postMessage(channel="#care", text="alert", blocks=BUTTONS)
    handler = await _connect(slack, app)
    try:
        envelope = await slack.ws.socket.click("U0ANN", posted["channel"], posted["ts"], "claim")
        assert envelope.acked and envelope.type == "interactive"
        # bolt acks before its handler finishes; wait for the update to land
        await _until_answered(slack, lambda: bool(slack.ws.updates))
        (body,) = seen
        assert body["actions"][0]["value"] == "42" and body["user"]["id"] == "U0ANN"
        assert body["container"]["message_ts"] == posted["ts"]
        assert slack.ws.messages("#care")[0]["text"] == "claimed by U0ANN"
        assert slack.ws.recorder.matching("/api/auth.test")  # bolt checks its token first
    finally:
        await handler.close_async()


async def test_an_app_that_does_not_ack_is_noticed(slack: Slack) -> None:
    app = _app(slack)

    @app.action("claim")
    async def never_acks(body):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()  # never returns: cancelled when the handler closes

    app._process_before_response = True  # bolt then acks only after the listener: never, within the window
    posted = await slack.client.chat_postMessage(channel="#care", text="alert", blocks=BUTTONS)
    handler = await _connect(slack, app)
    try:
        with pytest.raises(TimeoutError):
            await slack.ws.socket.click("U0ANN", posted["channel"], posted["ts"], "claim", timeout=0.3)
        assert slack.ws.socket.envelopes[-1].acked is False
    finally:
        await handler.close_async()


async def test_modal_open_submit_and_slash_command(slack: Slack) -> None:
    app = _app(slack)
    submitted: list[dict[str, Any]] = []

    @app.action("claim")
    async def open_modal(ack, body, client):  # type: ignore[no-untyped-def]
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view={
            "type": "modal", "callback_id": "relabel", "private_metadata": "42",
            "title": {"type": "plain_text", "text": "Relabel"}, "submit": {"type": "plain_text", "text": "Save"},
            "blocks": [{"type": "input", "block_id": "urgency", "label": {"type": "plain_text", "text": "Urgency"},
                        "element": {"type": "static_select", "action_id": "pick", "options": [
                            {"text": {"type": "plain_text", "text": u}, "value": u} for u in ("high", "low")]}}]})

    @app.view("relabel")
    async def on_submit(ack, view):  # type: ignore[no-untyped-def]
        if submitted:
            await ack()
        else:
            await ack(response_action="errors", errors={"urgency": "no"})
        submitted.append(view)

    @app.command("/outreach")
    async def on_command(ack, command):  # type: ignore[no-untyped-def]
        await ack(text=f"status for {command['user_id']}: {command['text']}")

    posted = await slack.client.chat_postMessage(channel="#care", text="alert", blocks=BUTTONS)
    handler = await _connect(slack, app)
    try:
        await slack.ws.socket.click("U0BOB", posted["channel"], posted["ts"], "claim")
        await _until_answered(slack, lambda: bool(slack.ws.views))
        (view_id,) = slack.ws.views
        first = await slack.ws.socket.submit_view("U0BOB", view_id, {"urgency": {"pick": "high"}})
        assert first.ack == {"response_action": "errors", "errors": {"urgency": "no"}}
        assert view_id in slack.ws.views  # errors keep the modal open
        await slack.ws.socket.submit_view("U0BOB", view_id, {"urgency": {"pick": "low"}})
        assert view_id not in slack.ws.views
        assert [v["state"]["values"]["urgency"]["pick"]["selected_option"]["value"] for v in submitted] == \
            ["high", "low"]
        assert submitted[0]["private_metadata"] == "42"

        reply = await slack.ws.socket.slash("U0ANN", "#care", "/outreach", "status")
        assert reply.type == "slash_commands" and reply.ack == {"text": "status for U0ANN: status"}
    finally:
        await handler.close_async()


async def test_views_open_needs_a_fresh_trigger(slack: Slack) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
    with pytest.raises(SlackApiError) as exc:
        await slack.client.views_open(trigger_id="made-up", view=view)
    assert exc.value.response["error"] == "invalid_trigger_id"


async def test_connections_open_wants_the_app_token(slack: Slack) -> None:
    with pytest.raises(SlackApiError) as exc:
        await slack.client.apps_connections_open(app_token=slack.ws.token)
    assert exc.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as exc:
        await slack.client.apps_connections_open(app_token="xapp-wrong")
    assert exc.value.response["error"] == "invalid_auth"
    ok = await slack.client.apps_connections_open(app_token=slack.ws.app_token)
    assert ok["url"].startswith("ws://127.0.0.1:")


async def test_users_and_user_groups(slack: Slack) -> None:
    ann = await slack.client.users_info(user="U0ANN")
    assert ann["user"]["name"] == "ann"
    groups = await slack.client.usergroups_list(include_users=True)
    by_handle = {g["handle"]: g for g in groups["usergroups"]}
    assert by_handle["reply-approvers"]["users"] == ["U0CAT"]
    members = await slack.client.usergroups_users_list(usergroup=by_handle["care-oncall"]["id"])
    assert members["users"] == ["U0ANN", "U0CAT"]
    for call, error in ((slack.client.users_info(user="U0NOBODY"), "user_not_found"),
                        (slack.client.usergroups_users_list(usergroup="S0NONE"), "no_such_subteam")):
        with pytest.raises(SlackApiError) as exc:
            await call
        assert exc.value.response["error"] == error


async def test_lasting_faults(slack: Slack) -> None:
    posted = await slack.client.chat_postMessage(channel="#care", text="a")
    care = posted["channel"]

    slack.ws.revoke_token()
    with pytest.raises(SlackApiError) as exc:
        await slack.client.chat_postMessage(channel="#care", text="b")
    assert exc.value.response["error"] == "invalid_auth"
    slack.ws.restore_token()

    slack.ws.remove_bot("#care")
    for call in (slack.client.chat_postMessage(channel="#care", text="b"),
                 slack.client.chat_update(channel=care, ts=posted["ts"], text="c"),
                 slack.client.conversations_history(channel=care)):
        with pytest.raises(SlackApiError) as exc:
            await call
        assert exc.value.response["error"] == "not_in_channel"
    info = await slack.client.conversations_info(channel=care)
    assert info["channel"]["is_member"] is False
    slack.ws.invite_bot("#care")

    slack.ws.delete_channel("#care")
    with pytest.raises(SlackApiError) as exc:
        await slack.client.chat_postMessage(channel="#care", text="b")
    assert exc.value.response["error"] == "channel_not_found"
    assert [m["text"] for m in slack.ws.all_messages()] == ["a"]


async def test_threads_and_update_counter(slack: Slack) -> None:
    parent = await slack.client.chat_postMessage(channel="#care", text="parent")
    await slack.client.chat_postMessage(channel="#care", text="reply", thread_ts=parent["ts"])
    await slack.client.chat_update(channel=parent["channel"], ts=parent["ts"], text="parent, 2 mentions")
    replies = await slack.client.conversations_replies(channel=parent["channel"], ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["parent, 2 mentions", "reply"]
    assert replies["messages"][0]["reply_count"] == 1 and slack.ws.updates == 1
