"""A sandbox of Zendesk's Support API v2: the ticket endpoints the sync uses, in Zendesk's shapes
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/), with recorded requests
and injectable faults (429 with Retry-After, 5xx, 401, timeouts, dropped connections).

    POST /api/v2/tickets.json               201 {"ticket": {...}, "audit": {...}}; 422 RecordInvalid without a comment
    GET  /api/v2/tickets.json?external_id=  {"tickets": [...], "count", "next_page", "previous_page"}
    GET  /api/v2/tickets/{id}.json          {"ticket": {...}}; 404 RecordNotFound
    PUT  /api/v2/tickets/{id}.json          comment and/or status; 422 once the ticket is closed
    GET  /api/v2/tickets/{id}/comments.json {"comments": [...]} (sort_order=desc: newest first)
    GET  /api/v2/users/me.json              the agent; an anonymous user when no credentials are sent

Auth: basic `email/token:API_TOKEN`; wrong credentials are a 401 {"error": "Couldn't authenticate you"}.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from monitor.sandbox.core import json_response, make_middleware
from monitor.sandbox.helpdesk_world import HelpdeskWorld

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


def _invalid(field: str, description: str, error: str = "InvalidValue") -> web.Response:
    return json_response({"error": "RecordInvalid", "description": "Record validation errors",
                          "details": {field: [{"description": description, "error": error}]}}, 422)


def make_zendesk_app(world: HelpdeskWorld) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler):  # type: ignore[no-untyped-def]
        ok = world.authorised(request)
        if ok is None and request.path == "/api/v2/users/me.json":
            return json_response({"user": {"id": None, "name": "Anonymous user", "email": "invalid@example.com",
                                           "role": "end-user"}})
        if not ok:
            return json_response({"error": "Couldn't authenticate you"}, 401)
        return await handler(request)

    def ticket_or_404(request: web.Request) -> dict[str, Any] | None:
        try:
            return world.tickets.get(int(request.match_info["id"]))
        except ValueError:
            return None

    def comment_of(ticket_id: int, c: dict[str, Any]) -> dict[str, Any]:
        body = str(c.get("body") or "")
        return world.add_comment(ticket_id, {"type": "Comment", "body": body, "html_body": f"<p>{body}</p>",
                                             "plain_body": body, "public": bool(c.get("public", True)),
                                             "author_id": 1, "attachments": []})

    async def create(request: web.Request) -> web.Response:
        t = (await request.json()).get("ticket") or {}
        c = t.get("comment") or {}
        if not str(c.get("body") or c.get("html_body") or "").strip():
            return _invalid("description", "Description: cannot be blank", "BlankValue")
        ticket = world.new_ticket({
            "url": f"{request.url.origin()}/api/v2/tickets/0.json", "external_id": t.get("external_id"),
            "subject": t.get("subject") or str(c.get("body"))[:60], "raw_subject": t.get("subject") or "",
            "description": c.get("body"), "priority": t.get("priority"), "status": t.get("status") or "new",
            "tags": sorted(set(t.get("tags") or [])), "requester_id": 1, "submitter_id": 1, "via": {"channel": "api"},
        })
        ticket["url"] = f"{request.url.origin()}/api/v2/tickets/{ticket['id']}.json"
        first = comment_of(ticket["id"], c)
        return json_response({"ticket": ticket, "audit": {"id": first["id"] + 1, "ticket_id": ticket["id"],
                                                          "events": [{**first, "type": "Comment"}]}}, 201)

    async def list_tickets(request: web.Request) -> web.Response:
        ext = request.query.get("external_id")
        found = [t for t in world.tickets.values() if ext is None or t.get("external_id") == ext]
        return json_response({"tickets": found, "count": len(found), "next_page": None, "previous_page": None})

    async def show(request: web.Request) -> web.Response:
        t = ticket_or_404(request)
        return json_response({"ticket": t}) if t is not None else json_response(NOT_FOUND, 404)

    async def update(request: web.Request) -> web.Response:
        t = ticket_or_404(request)
        if t is None:
            return json_response(NOT_FOUND, 404)
        if t["status"] == "closed":
            return _invalid("status", "Status: closed prevents ticket update")
        changes = (await request.json()).get("ticket") or {}
        events = []
        if "comment" in changes:
            events.append(comment_of(t["id"], changes["comment"]))
        if "status" in changes:
            t["status"] = changes["status"]
            events.append({"id": 0, "type": "Change", "field_name": "status", "value": changes["status"]})
        return json_response({"ticket": t, "audit": {"id": 1, "ticket_id": t["id"], "events": events}})

    async def comments(request: web.Request) -> web.Response:
        t = ticket_or_404(request)
        if t is None:
            return json_response(NOT_FOUND, 404)
        found = list(world.comments[t["id"]])
        if request.query.get("sort_order") == "desc":
            found.reverse()
        return json_response({"comments": found, "count": len(found), "next_page": None, "previous_page": None})

    async def me(request: web.Request) -> web.Response:
        return json_response({"user": {"id": 1, "name": "Sandbox Agent", "email": world.agent_email, "role": "admin"}})

    app = web.Application(middlewares=[make_middleware(world.recorder, world.faults, style="zendesk"), auth])
    app.router.add_post("/api/v2/tickets.json", create)
    app.router.add_get("/api/v2/tickets.json", list_tickets)
    app.router.add_get("/api/v2/tickets/{id}.json", show)
    app.router.add_put("/api/v2/tickets/{id}.json", update)
    app.router.add_get("/api/v2/tickets/{id}/comments.json", comments)
    app.router.add_get("/api/v2/users/me.json", me)
    return app
