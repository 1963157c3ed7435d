"""Freshdesk API v2 (https://developers.freshdesk.com/api/): tickets, private notes, statuses.

    POST /api/v2/tickets                  {subject, description (HTML), name, unique_external_id (the requester),
                                           status: 2, priority: 1-4, tags, custom_fields: {cf_outreach_key: KEY}}
    GET  /api/v2/search/tickets?query="outreach_key:'KEY'"   {"results": [...], "total"}: finds a create
                                           that may have landed (custom fields are searched without `cf_`)
    POST /api/v2/tickets/{id}/notes       {"body", "private": true}
    GET  /api/v2/tickets/{id}/conversations   the notes and replies (a note that may have landed)
    PUT  /api/v2/tickets/{id}             {"status": 2}: open again (the customer wrote after it was resolved)
    GET  /api/v2/tickets/{id}             {"status": 2 open | 3 pending | 4 resolved | 5 closed | custom}
    GET  /api/v2/agents/me                who the API key belongs to (`check`)

Freshdesk tickets have no external id of their own, so our ticket key lives in a custom text field
(`tickets.helpdesk.external_id_field`). Its search index may lag a fresh ticket by a little: a create
retried within that lag could still make a second ticket (Zendesk's external_id filter has no lag).
Auth: basic, API key : "X". HTTP errors are translated in connectors/helpdesk.py.
"""
from __future__ import annotations

import html

import aiohttp

from connectors.base import BadPayload
from connectors.helpdesk import HelpdeskConfig, HttpClient, NewTicket, Status

PRIORITY = {"critical": 4, "high": 3, "normal": 2, "low": 1, "ignore": 1}
STATUS: dict[int, Status] = {2: "open", 3: "pending", 4: "solved", 5: "closed"}  # custom statuses: open


class Freshdesk:
    kind = "freshdesk"

    def __init__(self, cfg: HelpdeskConfig, *, session: aiohttp.ClientSession | None = None) -> None:
        self.http = HttpClient("Freshdesk", cfg.base_url, cfg.token.get_secret_value(), "X", timeout=cfg.timeout_s, session=session)
        self.field = cfg.external_id_field

    async def check(self) -> str:
        me = await self.http.request("GET", "/api/v2/agents/me")
        contact = me.get("contact") or {}
        return f"agent {contact.get('email') or contact.get('name') or me.get('id')}"

    async def find(self, external_id: str) -> str | None:
        name = self.field.removeprefix("cf_")
        data = await self.http.request("GET", "/api/v2/search/tickets",
                                       params={"query": f"\"{name}:'{_quoted(external_id)}'\""})
        found = [t for t in data.get("results") or []
                 if (t.get("custom_fields") or {}).get(self.field) == external_id]
        return str(min(int(t["id"]) for t in found)) if found else None

    async def create(self, t: NewTicket) -> str:
        body = {
            "subject": t.subject,
            "description": _html(t.body),
            "name": t.requester_name or t.requester_ref,
            "unique_external_id": t.requester_ref,  # the customer as a Freshdesk contact, one per platform account
            "status": 2,
            "priority": PRIORITY.get(t.urgency or "normal", 2),
            "tags": list(t.tags),
            "custom_fields": {self.field: t.external_id},
        }
        return _id(await self.http.request("POST", "/api/v2/tickets", json_body=body))

    async def comment(self, ticket_id: str, body: str, *, reopen: bool = False) -> str:
        if reopen:  # first, so a retry after the note landed (found, not re-sent) still leaves it open
            await self.http.request("PUT", f"/api/v2/tickets/{ticket_id}", json_body={"status": 2})
        return _id(await self.http.request("POST", f"/api/v2/tickets/{ticket_id}/notes",
                                           json_body={"body": _html(body), "private": True}))

    async def find_comment(self, ticket_id: str, marker: str) -> str | None:
        data = await self.http.request("GET", f"/api/v2/tickets/{ticket_id}/conversations", not_found_ok=True)
        for c in data or []:
            if isinstance(c, dict) and marker in str(c.get("body_text") or c.get("body") or ""):
                return str(c.get("id"))
        return None

    async def status(self, ticket_id: str) -> Status | None:
        data = await self.http.request("GET", f"/api/v2/tickets/{ticket_id}", not_found_ok=True)
        if data is None:
            return None
        try:
            return STATUS.get(int(data.get("status")), "open")
        except (TypeError, ValueError):
            raise BadPayload(f"Freshdesk ticket {ticket_id} has no readable status") from None

    async def close(self) -> None:
        await self.http.close()


def _html(text: str) -> str:
    """Freshdesk bodies are HTML: the customer's words are escaped, lines kept."""
    return "<br>".join(html.escape(line) for line in text.splitlines())


def _quoted(v: str) -> str:
    return v.replace("\\", "\\\\").replace("'", "\\'")


def _id(obj: object) -> str:
    if not isinstance(obj, dict) or obj.get("id") is None:
        raise BadPayload("Freshdesk answered without an id")
    return str(obj["id"])
