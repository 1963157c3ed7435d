"""The interactive half of the sandbox Slack: Socket Mode, teammates who click, modals, slash commands.

Real Slack delivers a click on a button as a `block_actions` payload inside a Socket Mode envelope
(`{"envelope_id", "type": "interactive", "payload", "accepts_response_payload"}`) over a websocket
whose URL `apps.connections.open` hands out to the app-level token (`xapp-…`). The app must ack each
envelope (`{"envelope_id", "payload"?}`) within three seconds. This module plays Slack's side:

    ack = await workspace.socket.click("U0ANN", channel_id, message_ts, "mention_claim")
    ack = await workspace.socket.submit_view("U0ANN", view_id, {"urgency": {"pick": "high"}})
    ack = await workspace.socket.slash("U0ANN", "#care", "/outreach", "status")

Each returns the ack the app sent (or raises TimeoutError when none came), and every envelope is
recorded in `socket.envelopes` with its ack, so tests and the demo can check what the app answered.
Payloads are built from what the workspace really holds (the message with its blocks, the open
view), the way Slack builds them, so an app reading `body["container"]["message_ts"]` works here
as it does in production.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from monitor.sandbox.slack_api import SlackWorkspace

ACK_TIMEOUT = 3.0  # Slack's: an envelope not acked in three seconds shows the user an error


@dataclass
class Envelope:
    envelope_id: str
    type: str  # interactive | slash_commands | events_api
    payload: dict[str, Any]
    acked: bool = False
    ack: dict[str, Any] | None = None  # what the app sent back (its `payload`, if any)
    sent_at: float = field(default_factory=time.monotonic)
    acked_in_s: float | None = None
    connection: int = 0  # which of the app's open connections Slack picked


class SocketMode:
    """Slack's end of the Socket Mode websocket, plus the teammates' clicks that feed it."""

    def __init__(self, workspace: SlackWorkspace) -> None:
        self.workspace = workspace
        self.envelopes: list[Envelope] = []
        self.responses: list[dict[str, Any]] = []  # what apps POSTed to response_url (ephemeral replies)
        self._connections: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._tickets: set[str] = set()
        self._sent_on: dict[str, web.WebSocketResponse] = {}  # pending envelope → the connection it went to
        # called as each ack arrives, before Slack takes it; True drops it (a test kills the app right
        # there: the ack "never left", whatever the app had committed before sending it)
        self.ack_hooks: list[Callable[[Envelope], bool]] = []
        self._by_id: dict[str, Envelope] = {}
        self.connected = asyncio.Event()  # set while at least one app connection is open
        self.base_url = ""  # http://host:port of the server, learnt from the first request

    # -- what apps.connections.open hands out ------------------------------------------------

    def issue_url(self, host: str) -> str:
        ticket = f"sandbox-{next(self._ids)}"
        self._tickets.add(ticket)
        return f"ws://{host}/socket-mode?ticket={ticket}"

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(request.query["ticket"])  # like Slack: a URL is good for one connection
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({
            "type": "hello", "num_connections": len(self._connections) + 1,
            "debug_info": {"host": "sandbox", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0SANDBOX"},
        }))
        self._connections.append(ws)
        self.connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                envelope_id = data.get("envelope_id") if isinstance(data, dict) else None
                fut = self._pending.get(str(envelope_id))
                if fut is not None and not fut.done():
                    envelope = self._by_id.get(str(envelope_id))
                    if envelope is not None and any([hook(envelope) for hook in self.ack_hooks]):
                        continue
                    fut.set_result(data)
        finally:
            self._connections.remove(ws)
            # like Slack: an envelope whose connection closed before its ack failed (the clicker sees an error)
            for envelope_id, on in list(self._sent_on.items()):
                fut = self._pending.get(envelope_id)
                if on is ws and fut is not None and not fut.done():
                    fut.set_exception(ConnectionResetError("the app's connection closed before it acked"))
            if not self._connections:
                self.connected.clear()
        return ws

    async def close_all(self) -> None:
        for ws in list(self._connections):
            await ws.close()

    # -- delivering envelopes --------------------------------------------------------------------

    async def send(self, type_: str, payload: dict[str, Any], *, timeout: float = ACK_TIMEOUT,
                   accepts_response_payload: bool = True) -> Envelope:
        """Deliver one envelope to a connected app and wait for its ack. TimeoutError if none came."""
        if not self._connections:
            raise ConnectionError("no app is connected over Socket Mode")
        envelope = Envelope(f"env-{next(self._ids):06d}", type_, payload)
        self.envelopes.append(envelope)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope.envelope_id] = fut
        self._by_id[envelope.envelope_id] = envelope
        body = {"envelope_id": envelope.envelope_id, "type": type_, "payload": payload,
                "accepts_response_payload": accepts_response_payload, "retry_attempt": 0, "retry_reason": ""}
        # Slack picks one of the app's open connections (several daemons: each gets some)
        envelope.connection = len(self.envelopes) % len(self._connections)
        ws = self._connections[envelope.connection]
        self._sent_on[envelope.envelope_id] = ws
        try:
            await ws.send_str(json.dumps(body))
            ack = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(envelope.envelope_id, None)
            self._sent_on.pop(envelope.envelope_id, None)
            self._by_id.pop(envelope.envelope_id, None)
        envelope.acked = True
        envelope.ack = ack.get("payload") if isinstance(ack.get("payload"), dict) else None
        envelope.acked_in_s = time.monotonic() - envelope.sent_at
        return envelope

    # -- what a teammate does --------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        u = self.workspace.user(user_id)
        if u is None:
            raise KeyError(f"no user {user_id} in the sandbox workspace")
        return {"id": u["id"], "username": u["name"], "name": u["name"], "team_id": u["team_id"]}

    def _trigger(self) -> str:
        trigger = f"{next(self._ids)}.{int(time.time())}.sandboxtrigger"
        self.workspace.triggers.add(trigger)
        return trigger

    def _response_url(self) -> str:
        return f"{self.base_url}/response/{next(self._ids)}"

    async def click(self, user_id: str, channel: str, ts: str, action_id: str, *,
                    timeout: float = ACK_TIMEOUT) -> Envelope:
        """A teammate presses the button `action_id` on the message `ts`: a block_actions envelope."""
        ws = self.workspace
        cid = ws.channel_id(channel)
        message = ws._find(cid, ts) if cid else None
        if cid is None or message is None:
            raise KeyError(f"no message {ts} in {channel}")
        found = None
        for block in message.get("blocks") or []:
            for element in block.get("elements") or [] if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    found = (block, element)
        if found is None:
            raise KeyError(f"message {ts} has no button {action_id!r}")
        block, element = found
        action = {"action_id": action_id, "block_id": block.get("block_id", ""), "text": element.get("text"),
                  "value": element.get("value", ""), "type": element.get("type", "button"),
                  "action_ts": f"{time.time():.6f}"}
        if element.get("style"):
            action["style"] = element["style"]
        container = {"type": "message", "message_ts": ts, "channel_id": cid, "is_ephemeral": False}
        if message.get("thread_ts") and message["thread_ts"] != ts:
            container["thread_ts"] = message["thread_ts"]
        payload = {
            "type": "block_actions", "user": self._user(user_id), "api_app_id": "A0SANDBOX",
            "token": "sandbox-verification-token", "container": container, "trigger_id": self._trigger(),
            "team": {"id": ws.team_id, "domain": "sandbox"}, "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": cid, "name": ws.channels()[cid]}, "message": dict(message),
            "state": {"values": {}}, "response_url": self._response_url(), "actions": [action],
        }
        return await self.send("interactive", payload, timeout=timeout)

    async def submit_view(self, user_id: str, view_id: str, values: dict[str, dict[str, Any]], *,
                          timeout: float = ACK_TIMEOUT) -> Envelope:
        """A teammate presses Submit on an open modal. `values`: block_id -> action_id -> selected value.

        A plain string selects the option with that value (static_select); a dict is passed as is.
        """
        view = self.workspace.views.get(view_id)
        if view is None:
            raise KeyError(f"no open view {view_id}")
        state: dict[str, dict[str, Any]] = {}
        for block_id, actions in values.items():
            state[block_id] = {}
            for action_id, value in actions.items():
                if isinstance(value, str):
                    element = _element(view, block_id, action_id)
                    if element is not None and element.get("type") == "plain_text_input":
                        state[block_id][action_id] = {"type": "plain_text_input", "value": value}
                    else:
                        state[block_id][action_id] = {"type": "static_select",
                                                      "selected_option": _option(element, value)}
                else:
                    state[block_id][action_id] = value
        submitted = dict(view, state={"values": state})
        payload = {
            "type": "view_submission", "team": {"id": self.workspace.team_id, "domain": "sandbox"},
            "user": self._user(user_id), "api_app_id": "A0SANDBOX", "token": "sandbox-verification-token",
            "trigger_id": self._trigger(), "view": submitted, "response_urls": [], "is_enterprise_install": False,
        }
        envelope = await self.send("interactive", payload, timeout=timeout)
        ack = envelope.ack or {}
        if ack.get("response_action") != "errors":
            self.workspace.views.pop(view_id, None)  # the modal closes unless the app answered with errors
        return envelope

    async def slash(self, user_id: str, channel: str, command: str, text: str = "", *,
                    timeout: float = ACK_TIMEOUT) -> Envelope:
        ws = self.workspace
        cid = ws.channel_id(channel)
        if cid is None:
            raise KeyError(f"no channel {channel}")
        u = self._user(user_id)
        payload = {
            "token": "sandbox-verification-token", "team_id": ws.team_id, "team_domain": "sandbox",
            "channel_id": cid, "channel_name": ws.channels()[cid], "user_id": u["id"], "user_name": u["name"],
            "command": command, "text": text, "api_app_id": "A0SANDBOX", "is_enterprise_install": "false",
            "response_url": self._response_url(), "trigger_id": self._trigger(),
        }
        return await self.send("slash_commands", payload, timeout=timeout)

    async def handle_response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.Response(status=400, text="invalid_payload")
        self.responses.append({"url": str(request.rel_url), "body": body})
        return web.Response(text="ok")


def _element(view: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any] | None:
    for block in view.get("blocks") or []:
        if block.get("block_id") == block_id:
            element = block.get("element") or {}
            if element.get("action_id") == action_id:
                return element
    return None


def _option(element: dict[str, Any] | None, value: str) -> dict[str, Any]:
    for option in (element or {}).get("options") or []:
        if option.get("value") == value:
            return option
    raise KeyError(f"the select has no option {value!r}")
