"""What the sandbox helpdesks (monitor/sandbox/zendesk_api.py, freshdesk_api.py) share: their tickets
and comments, the credentials they accept, the request recorder and injectable faults.

    world = HelpdeskWorld("zendesk", username="agent@acme.test/token", password="tok")
    server = Server(make_zendesk_app(world)); await server.start()
    world.faults.hold("/api/v2/tickets", Fault("503"))    # an outage, until lifted
    world.with_external_id("outreach:x:123")              # the tickets a sync created
    world.solve(ticket_id)                                # an agent solves it in the helpdesk
"""
from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from monitor.sandbox.core import Faults, Recorder

Kind = Literal["zendesk", "freshdesk"]
SOLVED: dict[str, Any] = {"zendesk": "solved", "freshdesk": 4}
CLOSED: dict[str, Any] = {"zendesk": "closed", "freshdesk": 5}


@dataclass
class HelpdeskWorld:
    kind: Kind
    username: str  # Zendesk "<email>/token"; Freshdesk the API key
    password: str  # Zendesk the API token; Freshdesk "X"
    agent_email: str = "agent@acme.test"
    custom_fields: frozenset[str] = frozenset({"cf_outreach_key"})  # Freshdesk: the ticket fields that exist
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    recorder: Recorder = field(default_factory=Recorder)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self._ids = itertools.count(35436)
        self._comment_ids = itertools.count(9000001)

    # ── what a test (or an agent in the helpdesk) does ──────────────────────────────────────
    def with_external_id(self, key: str) -> list[dict[str, Any]]:
        """The tickets carrying our ticket key (Zendesk external_id; Freshdesk the custom field)."""
        if self.kind == "zendesk":
            return [t for t in self.tickets.values() if t.get("external_id") == key]
        return [t for t in self.tickets.values() if key in (t.get("custom_fields") or {}).values()]

    def solve(self, ticket_id: int | str) -> None:
        self._set_status(int(ticket_id), SOLVED[self.kind])

    def close(self, ticket_id: int | str) -> None:
        self._set_status(int(ticket_id), CLOSED[self.kind])

    def _set_status(self, ticket_id: int, status: Any) -> None:
        self.tickets[ticket_id]["status"] = status
        self.tickets[ticket_id]["updated_at"] = _iso()

    # ── what the apps use ──────────────────────────────────────────────────────────────────
    def authorised(self, request: web.Request) -> bool | None:
        """True: the right credentials; False: wrong ones; None: none at all."""
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.username and password == self.password

    def new_ticket(self, fields: dict[str, Any]) -> dict[str, Any]:
        tid = next(self._ids)
        now = _iso()
        ticket = {"id": tid, "created_at": now, "updated_at": now, **fields}
        self.tickets[tid] = ticket
        self.comments[tid] = []
        return ticket

    def add_comment(self, ticket_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        c = {"id": next(self._comment_ids), "created_at": _iso(), **fields}
        self.comments[ticket_id].append(c)
        self.tickets[ticket_id]["updated_at"] = c["created_at"]
        return c


def _iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
