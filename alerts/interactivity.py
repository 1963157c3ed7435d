"""The buttons, modals and slash command of the Slack cockpit, as a slack-bolt `AsyncApp`.

Socket Mode is the default (`AsyncSocketModeHandler`: no public endpoint; needs the app-level token
`slack.app_token`). The signed HTTP endpoint is the option for workspaces that forbid Socket Mode:
`http_app()` checks `X-Slack-Signature` and the timestamp with slack_sdk's `SignatureVerifier` (with
an injectable clock) before bolt sees the request.

Every handler does its database work BEFORE it acks: the action is one short transaction (see
`monitor.cockpit`), well inside Slack's three seconds. A daemon that dies before committing never
acked, so Slack tells the clicker it failed (and Socket Mode redelivers); one that dies after it has
the message update waiting in the outbox. Ephemeral notes to the clicker go straight to Slack: they
are transient UI, and losing one loses nothing.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from alerts.actions import ACTION_APPROVE_REPLY, ACTION_OPEN, ACTION_RELABEL, BUTTON_ACTIONS, REPLY_APPROVE, \
    REPLY_EDIT, REPLY_SKIP
from alerts.cockpit_messages import (
    EDIT_REPLY_CALLBACK,
    RELABEL_CALLBACK,
    edit_reply_modal,
    edited_reply,
    relabel_choice,
    relabel_modal,
    status_text,
    user_mention,
)
from alerts.incident_alert import BUTTONS as INCIDENT_BUTTONS

if TYPE_CHECKING:
    from monitor.cockpit import Cockpit

log = logging.getLogger(__name__)

COMMAND = "/outreach"
GROUP_CACHE_SECONDS = 60.0  # who is in the approvers group; a removal takes effect within a minute


class ReplyDesk(Protocol):
    """The public replies waiting for approval (built in outreach/; this is the button path's view of it)."""

    async def waiting_for_ticket(self, ticket_id: int) -> int | None: ...
    async def text(self, reply_id: int) -> str | None: ...
    async def approve(self, reply_id: int, by: str, *, text: str | None = None) -> str: ...
    async def skip(self, reply_id: int, by: str) -> str: ...
    async def waiting(self) -> int: ...


class Switches(Protocol):
    async def replies_paused(self) -> bool: ...
    async def set_replies_paused(self, paused: bool, by: str) -> None: ...


class GroupMembers:
    """Whether a Slack user is in a user group (usergroups.users.list), cached for a minute."""

    def __init__(self, client: AsyncWebClient, group: str | None, *, clock: Callable[[], float] = time.monotonic,
                 ttl: float = GROUP_CACHE_SECONDS) -> None:
        self.client = client
        self.group = group
        self.clock = clock
        self.ttl = ttl
        self._members: frozenset[str] = frozenset()
        self._at: float | None = None

    async def contains(self, user: str) -> bool:
        if not self.group:
            return False  # no group configured: nobody approves from Slack (the CLI still can)
        now = self.clock()
        if self._at is None or now - self._at >= self.ttl:
            resp = await self.client.usergroups_users_list(usergroup=self.group)
            self._members = frozenset(resp.get("users") or [])
            self._at = now
        return user in self._members


class IncidentDesk(Protocol):
    """The incidents' buttons (monitor/incident_desk.py)."""

    async def click(self, action_id: str, incident_id: int, user: str) -> tuple[bool, str]: ...


@dataclass
class CockpitDeps:
    cockpit: Cockpit
    switches: Switches
    status: Callable[[], Awaitable[dict[str, Any]]]
    approvers: GroupMembers
    replies: ReplyDesk | None = None
    incidents: IncidentDesk | None = None
    on_change: Callable[[], None] = lambda: None  # wake the dispatcher: updates are waiting


def _clicked(body: dict[str, Any], mention_id: int) -> Any:
    from monitor.cockpit import Where

    c = body.get("container") or {}
    if c.get("type") != "message" or not c.get("channel_id") or not c.get("message_ts"):
        return None
    return Where(str(c["channel_id"]), str(c["message_ts"]), mention_id)


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def build_app(client: AsyncWebClient, deps: CockpitDeps, *, request_verification: bool = False) -> AsyncApp:
    """The bolt app. Socket Mode needs no request verification; `http_app` verifies before dispatching."""
    app = AsyncApp(client=client, request_verification_enabled=request_verification,
                   logger=logging.getLogger("alerts.interactivity.bolt"))
    from monitor.cockpit import UnknownMention

    async def tell(respond: Any, text: str) -> None:
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception as e:  # the note is a courtesy; the action already happened
            log.warning("could not tell the clicker: %s", e)

    @app.action(re.compile("^(" + "|".join(map(re.escape, BUTTON_ACTIONS)) + ")$"))
    async def on_ticket_button(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        mention_id = _int(action.get("value"))
        user = body["user"]["id"]
        if mention_id is None:
            await ack()
            return
        try:
            outcome = await deps.cockpit.act(BUTTON_ACTIONS[action["action_id"]], mention_id, user,
                                             clicked=_clicked(body, mention_id))
        except UnknownMention:
            await ack()
            await tell(respond, "That mention is no longer stored (retention); nothing was changed.")
            return
        await ack()
        if outcome.changed:
            deps.on_change()
        await tell(respond, outcome.note)

    @app.action(re.compile("^(" + "|".join(map(re.escape, INCIDENT_BUTTONS)) + ")$"))
    async def on_incident_button(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        incident_id = _int(action.get("value"))
        if incident_id is None or deps.incidents is None:
            await ack()
            if deps.incidents is None:
                await tell(respond, "Incidents are not set up in this deployment; use `outreach-monitor incidents`.")
            return
        changed, note = await deps.incidents.click(action["action_id"], incident_id, body["user"]["id"])
        await ack()  # after the commit: a daemon killed before it gets the click again (Slack redelivers)
        if changed:
            deps.on_change()
        await tell(respond, note)

    @app.action(ACTION_OPEN)
    async def on_open(ack: Any) -> None:
        await ack()  # a link button: Slack opens the URL, but still wants the interaction acked

    @app.action(ACTION_RELABEL)
    async def on_relabel(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient,
                         respond: Any) -> None:
        await ack()
        mention_id = _int(action.get("value"))
        if mention_id is None:
            return
        try:
            view = await deps.cockpit.mention_view(mention_id)
        except UnknownMention:
            await tell(respond, "That mention is no longer stored; nothing to relabel.")
            return
        c = body.get("container") or {}
        await client.views_open(trigger_id=body["trigger_id"],
                                view=relabel_modal(view, channel=c.get("channel_id", ""), ts=c.get("message_ts", "")))

    @app.view(RELABEL_CALLBACK)
    async def on_relabel_submit(ack: Any, body: dict[str, Any], view: dict[str, Any],
                                client: AsyncWebClient) -> None:
        meta, urgency, category = relabel_choice(view)
        user = body["user"]["id"]
        mention_id = _int(meta.get("mention_id"))
        if mention_id is None or (urgency is None and category is None):
            await ack(response_action="errors", errors={"urgency": "Pick an urgency or a category (or both)."})
            return
        from monitor.cockpit import Where

        clicked = Where(meta["channel"], meta["ts"], mention_id) if meta.get("channel") and meta.get("ts") else None
        outcome = await deps.cockpit.relabel(mention_id, urgency=urgency, category=category, user=user,
                                             dedupe=str(view.get("id")), clicked=clicked)
        await ack()
        if outcome.changed:
            deps.on_change()
        if meta.get("channel"):
            try:
                await client.chat_postEphemeral(channel=meta["channel"], user=user, text=outcome.note)
            except SlackApiError as e:
                log.warning("could not confirm the relabel: %s", e.response.get("error"))

    # -- public replies: only the approvers group -------------------------------------------------

    async def approver(user: str, respond: Any) -> bool:
        if await deps.approvers.contains(user):
            return True
        group = deps.approvers.group
        await tell(respond, "Only the reply approvers may approve public replies"
                            + (f" (<!subteam^{group}>)." if group else "; none is configured (slack.approvers_group)."))
        return False

    async def no_desk(respond: Any) -> None:
        await tell(respond, "Public replies are not set up in this deployment; nothing was posted.")

    @app.action(ACTION_APPROVE_REPLY)
    async def on_approve_for_mention(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        user = body["user"]["id"]
        mention_id = _int(action.get("value"))
        if mention_id is None or not await approver(user, respond):
            await ack()
            return
        if deps.replies is None:
            await ack()
            await no_desk(respond)
            return
        ticket_id = await deps.cockpit.ticket_for(mention_id)
        reply_id = await deps.replies.waiting_for_ticket(ticket_id)
        if reply_id is None:
            await ack()
            await tell(respond, f"No public reply is waiting for ticket #{ticket_id}.")
            return
        note = await deps.replies.approve(reply_id, user)
        await deps.cockpit.record(mention_id, "reply_approve", user, detail=note, clicked=_clicked(body, mention_id))
        await ack()
        deps.on_change()
        await tell(respond, note)

    @app.action(re.compile(f"^({REPLY_APPROVE}|{REPLY_SKIP})$"))
    async def on_reply_decision(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        user, reply_id = body["user"]["id"], _int(action.get("value"))
        if reply_id is None or not await approver(user, respond) or deps.replies is None:
            await ack()
            if deps.replies is None:
                await no_desk(respond)
            return
        if action["action_id"] == REPLY_APPROVE:
            note = await deps.replies.approve(reply_id, user)  # approving twice posts once (outreach.replies)
        else:
            note = await deps.replies.skip(reply_id, user)
        await deps.cockpit.reply_clicked(reply_id, action["action_id"], user, note,
                                         clicked=_clicked(body, 0))
        await ack()
        deps.on_change()
        await tell(respond, note)

    @app.action(REPLY_EDIT)
    async def on_reply_edit(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient,
                            respond: Any) -> None:
        await ack()
        user, reply_id = body["user"]["id"], _int(action.get("value"))
        if reply_id is None or not await approver(user, respond):
            return
        if deps.replies is None:
            await no_desk(respond)
            return
        text = await deps.replies.text(reply_id)
        if text is None:
            await tell(respond, "That reply is no longer waiting.")
            return
        c = body.get("container") or {}
        await client.views_open(trigger_id=body["trigger_id"], view=edit_reply_modal(
            reply_id, text, channel=c.get("channel_id", ""), ts=c.get("message_ts", "")))

    @app.view(EDIT_REPLY_CALLBACK)
    async def on_reply_edited(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta, text = edited_reply(view)
        user, reply_id = body["user"]["id"], _int(meta.get("reply_id"))
        if reply_id is None or deps.replies is None or not await deps.approvers.contains(user):
            await ack(response_action="errors", errors={"reply": "Only the reply approvers may approve replies."})
            return
        if not text.strip():
            await ack(response_action="errors", errors={"reply": "The reply cannot be empty."})
            return
        note = await deps.replies.approve(reply_id, user, text=text)
        from monitor.cockpit import Where

        clicked = Where(meta["channel"], meta["ts"], 0) if meta.get("channel") and meta.get("ts") else None
        await deps.cockpit.reply_clicked(reply_id, "reply_edit", user, note, clicked=clicked)
        await ack()
        deps.on_change()

    # -- /outreach ---------------------------------------------------------------------------

    @app.command(COMMAND)
    async def on_command(ack: Any, command: dict[str, Any]) -> None:
        user = command["user_id"]
        word = (command.get("text") or "").strip().lower()
        if word in ("", "status"):
            await ack(text=status_text(await deps.status()))
        elif word == "pause-replies":
            # anyone may stop the public voice; starting it again is for the approvers
            await deps.switches.set_replies_paused(True, user)
            await ack(response_type="in_channel",
                      text=f":double_vertical_bar: {user_mention(user)} paused public replies. "
                           f"Nothing is posted in public until `{COMMAND} resume-replies`.")
        elif word == "resume-replies":
            if not await deps.approvers.contains(user):
                await ack(text="Only the reply approvers may resume public replies.")
                return
            await deps.switches.set_replies_paused(False, user)
            await ack(response_type="in_channel", text=f":arrow_forward: {user_mention(user)} resumed public replies.")
        else:
            await ack(text=f"Usage: `{COMMAND} status`, `{COMMAND} pause-replies`, `{COMMAND} resume-replies`.")

    return app


# -- the signed HTTP endpoint (the alternative to Socket Mode) -------------------------------------


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def http_handler(app: AsyncApp, signing_secret: str, *,
                 clock: Callable[[], float] = time.time) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler that refuses unsigned or stale requests (401) and hands the rest to bolt."""
    verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))

    async def handle(request: web.Request) -> web.Response:
        body = (await request.read()).decode("utf-8", errors="replace")
        if not verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401, text="invalid signature or stale timestamp")
        resp = await app.async_dispatch(AsyncBoltRequest(body=body, headers=dict(request.headers),
                                                         query=request.query_string))
        headers = {k: v[0] for k, v in resp.headers.items() if v and k.lower() != "content-length"}
        return web.Response(status=resp.status, body=resp.body.encode() if resp.body else b"", headers=headers)

    return handle


def sign(signing_secret: str, body: str, timestamp: float) -> dict[str, str]:
    """The headers Slack would send with `body` (for the sandbox, tests and the demo)."""
    verifier = SignatureVerifier(signing_secret)
    ts = str(int(timestamp))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
            "Content-Type": "application/x-www-form-urlencoded"}


def json_payload(payload: dict[str, Any]) -> str:
    """An interactive payload as Slack POSTs it over HTTP: form-encoded `payload=<json>`."""
    from urllib.parse import urlencode

    return urlencode({"payload": json.dumps(payload)})
