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
    """What a block says, as plain text (mrkdwn's <url|label> shown as the label, &lt; &gt; &amp; as < > &)."""
    parts: list[str] = []
    if isinstance(block.get("text"), dict):
        parts.append(str(block["text"].get("text", "")))
    for f in block.get("fields") or []:
        parts.append(str(f.get("text", "")))
    for e in block.get("elements") or [] if block.get("type") == "context" else []:
        parts.append(str(e.get("text", "")))
    text = _LINK.sub(r"\2", "\n".join(p for p in parts if p))
    # mrkdwn's own escapes, shown as Slack shows them (the page HTML-escapes the result once)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


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


def _option_html(option: dict[str, Any], chosen: bool) -> str:
    label = str((option.get("text") or {}).get("text", option.get("value", "")))
    return (f'<option value="{html.escape(str(option.get("value", "")))}"{" selected" if chosen else ""}>'
            f'{html.escape(label)}</option>')


def _control_html(name: str, element: dict[str, Any], required: bool) -> str:
    """An input block's element as an HTML control named `name`."""
    kind = element.get("type")
    need = " required" if required else ""
    if kind == "static_select":
        initial = (element.get("initial_option") or {}).get("value")
        options = [o for o in element.get("options") or [] if isinstance(o, dict)]
        blank = "" if initial is not None else '<option value="">—</option>'  # an unpicked select
        return (f'<select name="{html.escape(name)}"{need}>{blank}'
                + "".join(_option_html(o, o.get("value") == initial) for o in options) + "</select>")
    if kind == "plain_text_input":
        value = str(element.get("initial_value") or "")
        attrs = need
        if element.get("max_length"):
            attrs += f' maxlength="{int(element["max_length"])}"'
        if element.get("placeholder"):
            attrs += f' placeholder="{html.escape(str(element["placeholder"].get("text", "")))}"'
        if element.get("multiline"):
            return f'<textarea name="{html.escape(name)}" rows="4" cols="60"{attrs}>{html.escape(value)}</textarea>'
        return f'<input type="text" name="{html.escape(name)}" value="{html.escape(value)}"{attrs}>'
    return f"<i>({html.escape(str(kind))} is not drawn here)</i>"


def view_html(view_id: str, view: dict[str, Any], user: str, errors: dict[str, str] | None = None) -> str:
    """One open modal as a form: its texts, its input blocks as controls (named `block:<block_id>`),
    Submit (posting to /submit) and Cancel (/cancel). `errors`: block_id -> what the app answered."""
    errors = errors or {}
    title = str((view.get("title") or {}).get("text", "Modal"))
    submit = str((view.get("submit") or {}).get("text", "Submit"))
    close = str((view.get("close") or {}).get("text", "Cancel"))
    rows = []
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            bid = str(block.get("block_id", ""))
            label = str((block.get("label") or {}).get("text", ""))
            hint = str((block.get("hint") or {}).get("text", ""))
            control = _control_html(f"block:{bid}", block.get("element") or {}, not block.get("optional"))
            rows.append(f'<p><label><b>{html.escape(label)}</b>{"" if block.get("optional") else " *"}<br>'
                        f'{control}</label>'
                        + (f"<br><small>{html.escape(hint)}</small>" if hint else "")
                        + (f'<br><span class="error">{html.escape(errors[bid])}</span>' if bid in errors else "")
                        + "</p>")
        elif block.get("type") != "actions":
            rows.append(f"<pre>{html.escape(_text(block))}</pre>")
    hidden = (f'<input type="hidden" name="view_id" value="{html.escape(view_id)}">'
              f'<input type="hidden" name="user" value="{html.escape(user)}">')
    return (f'<div class="modal" id="{html.escape(view_id)}"><h2>{html.escape(title)}</h2>'
            f'<form method="post" action="/submit" class="view">{hidden}{"".join(rows)}'
            f'<button>{html.escape(submit)}</button></form> '
            f'<form method="post" action="/cancel">{hidden}<button>{html.escape(close)}</button></form></div>')


def render(workspace: SlackWorkspace, user: str, note: str = "",
           errors: dict[str, dict[str, str]] | None = None) -> str:
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
    views = workspace.views
    modals = "".join(view_html(v, view, user, (errors or {}).get(v)) for v, view in views.items())
    # a reload would wipe a half-filled modal: the page reloads itself only while none is open
    refresh = "" if views else \
        f'<meta http-equiv="refresh" content="{REFRESH_S};url=/?{html.escape(urlencode({"user": user}))}">'
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sandbox Slack</title>
{refresh}
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}} .msg{{border:1px solid #ccc;margin:.4em 0;
padding:.4em}} .thread{{margin-left:2em}} pre{{white-space:pre-wrap;margin:0}} form{{display:inline}}
.buttons button{{margin:.2em}} .modal{{border:2px solid #36c;padding:.4em 1em;margin:1em 0}}
.error{{color:#c00}}</style></head><body>
<h1>Sandbox Slack</h1><p>{status}.</p>
<form method="get" action="/">You click as <select name="user" onchange="this.form.submit()">{people}</select></form>
<p><b>{html.escape(note)}</b></p>{modals}{"".join(channels)}</body></html>"""


def _submitted(view: dict[str, Any], form: Any) -> dict[str, dict[str, Any]]:
    """What the page's form holds, as `SocketMode.submit_view` takes it: block_id -> action_id -> value.
    A control left empty is sent as Slack sends it (no selected option, no value)."""
    values: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") or {}
        kind = element.get("type")
        if block.get("type") != "input" or kind not in ("static_select", "plain_text_input"):
            continue
        text = str(form.get(f"block:{block.get('block_id', '')}") or "").replace("\r\n", "\n")  # browsers send CRLF
        empty = {"type": kind, "selected_option" if kind == "static_select" else "value": None}
        values[str(block.get("block_id", ""))] = {str(element.get("action_id", "")): text or empty}
    return values


def add_routes(app: web.Application, workspace: SlackWorkspace) -> None:
    errors: dict[str, dict[str, str]] = {}  # view id -> block id -> the error the app answered a submit with

    def back(user: str, note: str) -> web.HTTPSeeOther:
        return web.HTTPSeeOther("/?" + urlencode({"user": user, "note": note}))

    async def page(request: web.Request) -> web.Response:
        user = request.query.get("user") or "U0ANN"
        return web.Response(text=render(workspace, user, request.query.get("note", ""), errors),
                            content_type="text/html")

    async def click(request: web.Request) -> web.Response:
        form = await request.post()
        user = str(form.get("user") or "U0ANN")
        try:
            envelope = await workspace.socket.click(user, str(form["channel"]), str(form["ts"]), str(form["action"]))
            note = f"{form['action']}: sent as {user}, acked in {envelope.acked_in_s or 0:.2f} s"
        except (ConnectionError, TimeoutError, KeyError) as e:  # no daemon, no ack in 3 s, button gone
            note = f"{form.get('action')}: not delivered ({type(e).__name__}: {e})"
        raise back(user, note)

    async def submit(request: web.Request) -> web.Response:
        form = await request.post()
        user, view_id = str(form.get("user") or "U0ANN"), str(form.get("view_id") or "")
        view = workspace.views.get(view_id)
        if view is None:
            raise back(user, f"{view_id}: that modal is no longer open")
        title = str((view.get("title") or {}).get("text", view_id))
        try:
            envelope = await workspace.socket.submit_view(user, view_id, _submitted(view, form))
        except (ConnectionError, TimeoutError, KeyError) as e:  # no daemon, no ack in 3 s, no such option
            raise back(user, f"{title}: not delivered ({type(e).__name__}: {e})") from None
        ack = envelope.ack or {}
        if ack.get("response_action") == "errors":  # the modal stays open, the errors under their blocks
            errors[view_id] = {str(b): str(e) for b, e in (ack.get("errors") or {}).items()}
            raise back(user, f"{title}: the app answered with errors: "
                             + "; ".join(f"{b}: {e}" for b, e in errors[view_id].items()))
        errors.pop(view_id, None)
        raise back(user, f"{title}: submitted as {user}, acked in {envelope.acked_in_s or 0:.2f} s")

    async def cancel(request: web.Request) -> web.Response:
        form = await request.post()
        user, view_id = str(form.get("user") or "U0ANN"), str(form.get("view_id") or "")
        view = workspace.views.pop(view_id, None)  # like closing it in Slack (no view_closed: not asked for)
        errors.pop(view_id, None)
        title = str(((view or {}).get("title") or {}).get("text", view_id))
        raise back(user, f"{title}: closed" if view is not None else f"{view_id}: that modal is no longer open")

    app.router.add_get("/", page)
    app.router.add_post("/click", click)
    app.router.add_post("/submit", submit)
    app.router.add_post("/cancel", cancel)
