"""A sandbox of Freshdesk's API v2: the ticket endpoints the sync uses, in Freshdesk's shapes
(https://developers.freshdesk.com/api/#tickets), with recorded requests and injectable faults.

    POST /api/v2/tickets                    201 the ticket; 400 "Validation failed" without a requester or with
                                            an unknown custom field
    GET  /api/v2/search/tickets?query="…"   {"results": [...], "total"}: `field:'value'` or `status:N` (custom
                                            fields without `cf_`), AND-joined; the query must be in double quotes
    PUT  /api/v2/tickets/{id}               {"status": N}
    GET  /api/v2/tickets/{id}               the ticket (status 2 open, 3 pending, 4 resolved, 5 closed); 404
    POST /api/v2/tickets/{id}/notes         201 the note {"id", "body", "body_text", "private", ...}
    GET  /api/v2/tickets/{id}/conversations the notes and replies
    GET  /api/v2/agents/me                  the agent

Auth: basic `API_KEY:X`; anything else is a 401 {"code": "invalid_credentials", ...}.
"""
from __future__ import annotations

import html
import re
from typing import Any

from aiohttp import web

from monitor.sandbox.core import json_response, make_middleware
from monitor.sandbox.helpdesk_world import HelpdeskWorld

REQUESTER = ("requester_id", "email", "facebook_id", "phone", "twitter_id", "unique_external_id")
_CLAUSE = re.compile(r"^\s*(\w+):(?:'((?:[^'\\]|\\.)*)'|(\d+))\s*$")


def _invalid(field: str, message: str, code: str) -> web.Response:
    return json_response({"description": "Validation failed",
                          "errors": [{"field": field, "message": message, "code": code}]}, 400)


def _text(body: str) -> str:
    return html.unescape(re.sub(r"<br\s*/?>", "\n", re.sub(r"<(?!br)[^>]+>", "", body)))


def make_freshdesk_app(world: HelpdeskWorld) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if not world.authorised(request):
            return json_response({"code": "invalid_credentials",
                                  "message": "You have to be logged in to perform this action."}, 401)
        return await handler(request)

    def ticket_of(request: web.Request) -> dict[str, Any] | None:
        try:
            return world.tickets.get(int(request.match_info["id"]))
        except ValueError:
            return None

    async def create(request: web.Request) -> web.Response:
        t = await request.json()
        if not any(t.get(k) for k in REQUESTER):
            return _invalid("requester_id", "Please fill at least 1 of email, mobile, phone, twitter_id, facebook_id, "
                            "unique_external_id, requester_id fields", "missing_field")
        for k in ("subject", "description"):
            if not str(t.get(k) or "").strip():
                return _invalid(k, "It should not be blank as this is a mandatory field", "invalid_value")
        unknown = sorted(set(t.get("custom_fields") or {}) - world.custom_fields)
        if unknown:
            return _invalid(unknown[0], "Unexpected/invalid field in request", "invalid_field")
        ticket = world.new_ticket({
            "subject": t["subject"], "description": t["description"], "description_text": _text(t["description"]),
            "status": int(t.get("status") or 2), "priority": int(t.get("priority") or 1), "source": t.get("source", 2),
            "tags": list(t.get("tags") or []), "custom_fields": {f: None for f in world.custom_fields}
            | dict(t.get("custom_fields") or {}), "requester_id": 4400000 + len(world.tickets), "type": None,
        })
        return json_response(ticket, 201)

    async def search(request: web.Request) -> web.Response:
        q = request.query.get("query", "")
        if len(q) < 2 or not (q.startswith('"') and q.endswith('"')):
            return _invalid("query", "It should be a/an String in double quotes", "invalid_value")
        found = list(world.tickets.values())
        for clause in q[1:-1].split(" AND "):
            m = _CLAUSE.match(clause)
            if m is None:
                return _invalid("query", f"Invalid query: {clause!r}", "invalid_value")
            name, text, number = m.group(1), m.group(2), m.group(3)
            want: Any = int(number) if number is not None else re.sub(r"\\(.)", r"\1", text)

            def value(t: dict[str, Any], name: str = name) -> Any:
                return t.get(name) if name in t else (t.get("custom_fields") or {}).get(f"cf_{name}")

            found = [t for t in found if value(t) == want]
        return json_response({"results": found, "total": len(found)})

    async def show(request: web.Request) -> web.Response:
        t = ticket_of(request)
        return json_response(t) if t is not None else web.Response(status=404)

    async def update(request: web.Request) -> web.Response:
        t = ticket_of(request)
        if t is None:
            return web.Response(status=404)
        changes = await request.json()
        if "status" in changes:
            t["status"] = int(changes["status"])
        return json_response(t)

    async def note(request: web.Request) -> web.Response:
        t = ticket_of(request)
        if t is None:
            return web.Response(status=404)
        n = await request.json()
        if not str(n.get("body") or "").strip():
            return _invalid("body", "It should not be blank as this is a mandatory field", "invalid_value")
        c = world.add_comment(t["id"], {"body": n["body"], "body_text": _text(n["body"]),
                                        "private": bool(n.get("private", True)), "incoming": False,
                                        "ticket_id": t["id"], "user_id": 1, "source": 2})
        return json_response(c, 201)

    async def conversations(request: web.Request) -> web.Response:
        t = ticket_of(request)
        return json_response(world.comments[t["id"]]) if t is not None else web.Response(status=404)

    async def me(request: web.Request) -> web.Response:
        return json_response({"id": 1, "available": True, "contact": {"name": "Sandbox Agent",
                                                                       "email": world.agent_email}})

    app = web.Application(middlewares=[make_middleware(world.recorder, world.faults, style="freshdesk"), auth])
    app.router.add_post("/api/v2/tickets", create)
    app.router.add_get("/api/v2/search/tickets", search)
    app.router.add_get("/api/v2/tickets/{id}", show)
    app.router.add_put("/api/v2/tickets/{id}", update)
    app.router.add_post("/api/v2/tickets/{id}/notes", note)
    app.router.add_get("/api/v2/tickets/{id}/conversations", conversations)
    app.router.add_get("/api/v2/agents/me", me)
    return app
