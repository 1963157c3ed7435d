"""Zendesk Support API v2 (https://developer.zendesk.com/api-reference/ticketing/): tickets with our
ticket key as `external_id`, private comments, statuses.

    POST /api/v2/tickets.json                     {"ticket": {subject, comment: {body, public}, external_id, priority, tags}}
    GET  /api/v2/tickets.json?external_id=KEY     {"tickets": [...]}: finds a create that may have landed
    PUT  /api/v2/tickets/{id}.json                {"ticket": {"comment": {"body", "public": false}}}
    GET  /api/v2/tickets/{id}/comments.json       {"comments": [...]} (newest first with sort_order=desc)
    GET  /api/v2/tickets/{id}.json                {"ticket": {"status": new|open|pending|hold|solved|closed}}
    GET  /api/v2/users/me.json                    who the token belongs to (`check`)

Auth: basic, `{email}/token` : API token. HTTP errors are translated in connectors/helpdesk.py.
"""
from __future__ import annotations

import aiohttp

from connectors.base import AuthError, BadPayload
from connectors.helpdesk import HelpdeskConfig, HttpClient, NewTicket, Status

PRIORITY = {"critical": "urgent", "high": "high", "normal": "normal", "low": "low", "ignore": "low"}
STATUS: dict[str, Status] = {"new": "open", "open": "open", "hold": "open", "pending": "pending",
                             "solved": "solved", "closed": "closed"}


class Zendesk:
    kind = "zendesk"

    def __init__(self, cfg: HelpdeskConfig, *, session: aiohttp.ClientSession | None = None) -> None:
        self.http = HttpClient("Zendesk", cfg.base_url, f"{cfg.email}/token", cfg.token.get_secret_value(), timeout=cfg.timeout_s, session=session)

    async def check(self) -> str:
        user = (await self.http.request("GET", "/api/v2/users/me.json")).get("user") or {}
        if not user.get("id"):  # Zendesk answers an anonymous user rather than 401 when no credentials arrive
            raise AuthError("Zendesk did not recognise the email/token pair (answered an anonymous user)")
        return f"agent {user.get('email') or user.get('name')} ({user.get('role', 'unknown role')})"

    async def find(self, external_id: str) -> str | None:
        data = await self.http.request("GET", "/api/v2/tickets.json", params={"external_id": external_id})
        found = [t for t in data.get("tickets") or [] if t.get("external_id") == external_id]
        return str(min(int(t["id"]) for t in found)) if found else None

    async def create(self, t: NewTicket) -> str:
        body = {"ticket": {
            "subject": t.subject,
            "comment": {"body": t.body, "public": False},  # an internal note: the customer is not e-mailed
            "external_id": t.external_id,
            "priority": PRIORITY.get(t.urgency or "normal", "normal"),
            "tags": list(t.tags),
        }}
        return _id((await self.http.request("POST", "/api/v2/tickets.json", json_body=body)).get("ticket"))

    async def comment(self, ticket_id: str, body: str, *, reopen: bool = False) -> str:
        change: dict[str, object] = {"comment": {"body": body, "public": False}}
        if reopen:
            change["status"] = "open"
        data = await self.http.request("PUT", f"/api/v2/tickets/{ticket_id}.json", json_body={"ticket": change})
        events = (data.get("audit") or {}).get("events") or []
        added = [e for e in events if e.get("type") == "Comment" and e.get("id")]
        return str(added[0]["id"]) if added else _id(data.get("ticket"))

    async def find_comment(self, ticket_id: str, marker: str) -> str | None:
        data = await self.http.request("GET", f"/api/v2/tickets/{ticket_id}/comments.json",
                                       params={"sort_order": "desc"}, not_found_ok=True)
        for c in (data or {}).get("comments") or []:
            if marker in str(c.get("body") or ""):
                return str(c.get("id"))
        return None

    async def status(self, ticket_id: str) -> Status | None:
        data = await self.http.request("GET", f"/api/v2/tickets/{ticket_id}.json", not_found_ok=True)
        if data is None:
            return None
        raw = str((data.get("ticket") or {}).get("status") or "")
        return STATUS.get(raw, "open")

    async def close(self) -> None:
        await self.http.close()


def _id(ticket: object) -> str:
    if not isinstance(ticket, dict) or ticket.get("id") is None:
        raise BadPayload("Zendesk answered without a ticket id")
    return str(ticket["id"])
