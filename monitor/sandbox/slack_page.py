"""The sandbox Slack for a person: a page in the browser showing the channels, where you click as a teammate.

`outreach-monitor sandbox` serves it at the Slack stand-in's root (http://127.0.0.1:8702/). It shows each
channel's messages as the daemon posted and updated them (threads under their parent), with the
buttons of each message. Pressing one sends Slack's real `block_actions` envelope over Socket Mode to
the connected daemon, as the teammate picked at the top (`/click`), exactly as a teammate's click in
the tests does; the page reloads itself every few seconds, so you see the alert change when the
daemon's `chat.update` arrives. Modals (Relabel) open in the workspace but are not drawn here.
"""
from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

if TYPE_CHECKING:
    from monitor.sandbox.slack_api import SlackWorkspace

REFRESH_S = 3
_LINK = re.compile(r"<([^|<>]+)\|([^<>]+)>")


def _text(block: dict[str, Any]) -> str:
    """What a block says, as plain text (mrkdwn's <url|label> shown as the label)."""
    parts: list[str] = []
    if isinstance(block.get("text"), dict):
        parts.append(str(block["text"].get("text", "")))
    for f in block.get("fields") or []:
        parts.append(str(f.get("text", "")))
    for e in block.get("elements") or [] if block.get("type") == "context" else []:
        parts.append(str(e.get("text", "")))
    return _LINK.sub(r"\2", "\n".join(p for p in parts if p))


def _buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(action_id, label) of each button on the message."""
    out = []
    for block in message.get("blocks") or []:
        if block.get("type") != "actions":
            continue
        for e in block.get("elements") or []:
            if e.get("type") == "button" and not e.get("url"):
                out.append((str(e["action_id"]), str((e.get("text") or {}).get("text", e["action_id"]))))
    return out


def _message_html(cid: str, m: dict[str, Any], user: str) -> str:
    body = "\n".join(_text(b) for b in m.get("blocks") or [] if b.get("type") != "actions") or m.get("text", "")
    forms = "".join(
        f'<form method="post" action="/click"><input type="hidden" name="channel" value="{html.escape(cid)}">'
        f'<input type="hidden" name="ts" value="{html.escape(m["ts"])}">'
        f'<input type="hidden" name="action" value="{html.escape(a)}">'
        f'<input type="hidden" name="user" value="{html.escape(user)}">'
        f'<button>{html.escape(label)}</button></form>' for a, label in _buttons(m))
    edited = " <small>(edited)</small>" if m.get("edited") else ""
    return (f'<div class="msg" id="m{html.escape(m["ts"])}"><pre>{html.escape(body)}</pre>{edited}'
            f'<div class="buttons">{forms}</div></div>')


def render(workspace: SlackWorkspace, user: str, note: str = "") -> str:
    connected = workspace.socket.connections > 0
    people = "".join(f'<option value="{u}"{" selected" if u == user else ""}>{html.escape(p["real_name"])} ({u})'
                     f'</option>' for u, p in workspace.users.items())
    status = ("the daemon is connected over Socket Mode: buttons work" if connected else
              "no daemon is connected over Socket Mode: start <code>outreach-monitor run --config sandbox.yaml</code>")
    channels = []
    for cid, name in workspace.channels().items():
        msgs = workspace.messages(cid)
        tops = [m for m in msgs if m.get("thread_ts") in (None, m["ts"])]
        items = []
        for top in reversed(tops[-30:]):  # newest first, like a channel you scroll up in
            replies = [m for m in msgs if m.get("thread_ts") == top["ts"] and m["ts"] != top["ts"]]
            thread = "".join(_message_html(cid, r, user) for r in replies)
            items.append(_message_html(cid, top, user) + (f'<div class="thread">{thread}</div>' if thread else ""))
        channels.append(f"<h2>#{html.escape(name)} <small>{len(tops)} messages</small></h2>" + "".join(items))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sandbox Slack</title>
<meta http-equiv="refresh" content="{REFRESH_S};url=/?user={html.escape(user)}">
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}} .msg{{border:1px solid #ccc;margin:.4em 0;
padding:.4em}} .thread{{margin-left:2em}} pre{{white-space:pre-wrap;margin:0}} form{{display:inline}}
.buttons button{{margin:.2em}}</style></head><body>
<h1>Sandbox Slack</h1><p>{status}.</p>
<form method="get" action="/">You click as <select name="user" onchange="this.form.submit()">{people}</select></form>
<p><b>{html.escape(note)}</b></p>{"".join(channels)}</body></html>"""


def add_routes(app: web.Application, workspace: SlackWorkspace) -> None:
    async def page(request: web.Request) -> web.Response:
        user = request.query.get("user") or "U0ANN"
        return web.Response(text=render(workspace, user, request.query.get("note", "")), content_type="text/html")

    async def click(request: web.Request) -> web.Response:
        form = await request.post()
        user = str(form.get("user") or "U0ANN")
        try:
            envelope = await workspace.socket.click(user, str(form["channel"]), str(form["ts"]), str(form["action"]))
            note = f"{form['action']}: sent as {user}, acked in {envelope.acked_in_s or 0:.2f} s"
        except (ConnectionError, TimeoutError, KeyError) as e:  # no daemon, no ack in 3 s, button gone
            note = f"{form.get('action')}: not delivered ({type(e).__name__}: {e})"
        raise web.HTTPSeeOther("/?" + urlencode({"user": user, "note": note}))

    app.router.add_get("/", page)
    app.router.add_post("/click", click)
