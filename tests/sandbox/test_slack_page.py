"""The sandbox Slack's page draws the modals the daemon opens (Relabel, Edit the reply) as forms a person
submits: over real sockets, a real daemon, and an HTTP client doing what a browser does with the page."""
from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from alerts.cockpit_messages import edit_reply_modal
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Server
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app
from monitor.sandbox.slack_page import view_html
from monitor.sandbox.stack import SandboxStack
from monitor.storage.schema import feedback, ticket_actions

BOB = "U0BOB"
REFRESH = '<meta http-equiv="refresh"'


class _Forms(HTMLParser):
    """What each form of a page sends when submitted as it stands, as a browser sends it: {action: fields}."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._fields: dict[str, str] | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._textarea: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._fields = self.forms.setdefault(str(a.get("action")), {})
        elif self._fields is None:
            return
        elif tag == "input":
            self._fields[str(a["name"])] = a.get("value") or ""
        elif tag == "select":
            self._select = (str(a["name"]), [])
        elif tag == "option" and self._select is not None:
            self._select[1].append((a.get("value") or "", "selected" in a))
        elif tag == "textarea":
            self._textarea = str(a["name"])
            self._fields[self._textarea] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None and self._fields is not None:
            self._fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None and self._fields is not None:
            name, options = self._select
            chosen = [v for v, selected in options if selected] or [v for v, _ in options[:1]]  # the first by default
            self._fields[name] = chosen[0] if chosen else ""
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._fields = None


@pytest.fixture
async def stack() -> AsyncIterator[SandboxStack]:
    s = SandboxStack(slack_rate_per_channel=None)
    await s.start()
    s.x.add_user("acme", "Acme", followers=250_000, verified=True)
    try:
        yield s
    finally:
        await s.stop()


def _card(msg: dict[str, Any]) -> str:
    return msg["blocks"][1]["elements"][0]["text"]


async def test_a_newcomer_relabels_an_alert_in_the_page(stack: SandboxStack, db_url: str) -> None:
    stack.x.add_user("anna_k", "Anna", followers=900)
    stack.x.post("anna_k", "@acme I was charged twice for my order, please refund me")
    daemon = Daemon(parse_config(stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0),
                                 env={}))
    slack, base = stack.slack, stack.urls["slack"].removesuffix("api/")
    await daemon.start()
    try:
        await stack.wait_until(lambda: len(slack.all_messages()) == 1 and slack.socket.connected.is_set(),
                               timeout=45, what="the alert, and the daemon on Socket Mode")
        (alert,) = slack.all_messages()
        channel, ts = alert["channel"], alert["ts"]

        def message() -> dict[str, Any]:
            return next(m for m in slack.messages(channel) if m["ts"] == ts)

        async with aiohttp.ClientSession() as http:
            click = {"user": BOB, "channel": channel, "ts": ts, "action": "mention_relabel"}
            async with http.post(base + "click", data=click) as resp:
                assert "mention_relabel: sent as U0BOB" in await resp.text()
            await stack.wait_until(lambda: bool(slack.views), timeout=45, what="the daemon opening the modal")
            (view_id,) = slack.views
            async with http.get(base, params={"user": BOB}) as resp:
                page = await resp.text()
            assert "<h2>Relabel</h2>" in page and "<b>Urgency</b>" in page and "<b>Category</b>" in page
            assert REFRESH not in page  # a half-filled form is not wiped by a reload
            fields = _Forms(page).forms["/submit"]
            urgency = slack.views[view_id]["blocks"][1]["element"]["initial_option"]["value"]
            assert fields["view_id"] == view_id and fields["user"] == BOB
            assert fields["block:urgency"] == urgency != "critical"  # the triage's label, pre-selected

            # nothing picked (a client may send that): the app answers with errors and the modal stays open
            empty = fields | {"block:urgency": "", "block:category": ""}
            async with http.post(base + "submit", data=empty) as resp:
                page = await resp.text()
            assert "Relabel: the app answered with errors: urgency: Pick an urgency or a category" in page
            assert '<span class="error">Pick an urgency or a category (or both).</span>' in page
            assert view_id in slack.views

            async with http.post(base + "submit", data=fields | {"block:urgency": "critical"}) as resp:
                page = await resp.text()
            assert "Relabel: submitted as U0BOB" in page and "<h2>Relabel</h2>" not in page
            assert not slack.views and REFRESH in page
            await stack.wait_until(lambda: "Relabelled by <@U0BOB>" in _card(message()), timeout=45,
                                   what="the daemon's chat.update of the alert")
            assert message()["blocks"][0]["text"]["text"].startswith(":rotating_light: Critical")
            async with http.get(base) as resp:
                assert "Relabelled by &lt;@U0BOB&gt;" in await resp.text()

        async with daemon.engine.connect() as conn:
            labels = [(r.urgency, r.category, r.by) for r in await conn.execute(select(feedback))]
            log = [(r.action, r.by) for r in await conn.execute(select(ticket_actions))]
        assert labels == [("critical", fields["block:category"], BOB)]  # the category kept as pre-selected
        assert log == [("relabel", BOB)]
    finally:
        await daemon.stop()


async def test_with_no_daemon_a_submit_is_not_delivered_and_cancel_closes_the_modal() -> None:
    ws = SlackWorkspace(rate_per_channel=None)
    server = Server(make_slack_app(ws))
    base = await server.start()
    client = AsyncWebClient(token=ws.token, base_url=base + "/api/", retry_handlers=[])
    client.proxy = None
    ws.triggers.add("t1")  # what a click would have handed the app
    opened = await client.views_open(trigger_id="t1", view=edit_reply_modal(7, "Sorry <b>Anna</b> & co", channel="C1",
                                                                            ts="1.0"))
    view_id = opened["view"]["id"]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/") as resp:
                page = await resp.text()
            fields = _Forms(page).forms["/submit"]
            assert fields["block:reply"] == "Sorry <b>Anna</b> & co" and REFRESH not in page
            async with http.post(base + "/submit", data=fields | {"block:reply": "Sorry!\r\nWe're on it"}) as resp:
                page = await resp.text()
            assert "Edit the reply: not delivered (ConnectionError: no app is connected over Socket Mode)" in page
            assert view_id in ws.views and "<h2>Edit the reply</h2>" in page

            async with http.post(base + "/cancel", data=_Forms(page).forms["/cancel"]) as resp:
                page = await resp.text()
            assert "Edit the reply: closed" in page and "<h2>Edit the reply</h2>" not in page and not ws.views
            assert REFRESH in page
            async with http.post(base + "/submit", data=fields) as resp:
                assert f"{view_id}: that modal is no longer open" in await resp.text()
    finally:
        await server.stop()


SELECT = {"type": "static_select", "action_id": "pick", "options": [
    {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
    {"text": {"type": "plain_text", "text": "A & <B>"}, "value": 'x"y'}]}


def _modal(*blocks: dict[str, Any], title: str = "Relabel") -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": title}, "blocks": list(blocks)}


def _input(element: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "input", "block_id": "b1", "label": {"type": "plain_text", "text": "Pick <one>"},
            "element": element, **extra}


@pytest.mark.parametrize(("view", "errors", "shown", "not_shown"), [
    (_modal(title="<script>x</script>"), None, ["<h2>&lt;script&gt;x&lt;/script&gt;</h2>"], ["<script>"]),
    (_modal(_input(SELECT | {"initial_option": SELECT["options"][0]})), None,
     ['<select name="block:b1" required><option value="high" selected>High</option>',
      '<option value="x&quot;y">A &amp; &lt;B&gt;</option>', "<b>Pick &lt;one&gt;</b> *"],
     ['<option value="">']),
    (_modal(_input(SELECT, optional=True)), None,  # nothing picked yet: a blank choice first, not required
     ['<select name="block:b1"><option value="">—</option><option value="high">High</option>'], [" selected"]),
    (_modal(_input({"type": "plain_text_input", "action_id": "t", "multiline": True, "max_length": 280,
                    "initial_value": "</textarea><b>hi</b>"})), None,
     ['<textarea name="block:b1" rows="4" cols="60" required maxlength="280">&lt;/textarea&gt;&lt;b&gt;hi'],
     ["<b>hi</b>"]),
    (_modal(_input({"type": "plain_text_input", "action_id": "t", "initial_value": 'say "hi"'})), None,
     ['<input type="text" name="block:b1" value="say &quot;hi&quot;" required>'], ["<textarea"]),
    (_modal({"type": "section", "text": {"type": "mrkdwn", "text": "><img src=x onerror=alert(1)>"}}), None,
     ["<pre>&gt;&lt;img src=x onerror=alert(1)&gt;</pre>"], ["<img"]),
    # a customer's post as the daemon quotes it (mrkdwn-escaped): shown as Slack shows it, HTML-escaped once
    (_modal({"type": "section", "text": {"type": "mrkdwn", "text": ">&lt;b&gt;charged&lt;/b&gt; twice &amp;amp;"}}),
     None, ["<pre>&gt;&lt;b&gt;charged&lt;/b&gt; twice &amp;amp;</pre>"], ["<b>charged", "&amp;lt;"]),
    (_modal(_input(SELECT)), {"b1": "Pick <one> & more"},
     ['<span class="error">Pick &lt;one&gt; &amp; more</span>'], []),
    (_modal(_input({"type": "datepicker", "action_id": "d"})), None, ["<i>(datepicker is not drawn here)</i>"], []),
])
def test_a_view_is_drawn_as_an_escaped_form(view: dict[str, Any], errors: dict[str, str] | None,
                                            shown: list[str], not_shown: list[str]) -> None:
    out = view_html("V0001", view, "U0ANN", errors)
    assert '<form method="post" action="/submit" class="view"><input type="hidden" name="view_id" value="V0001">' in out
    for s in shown:
        assert s in out
    for s in not_shown:
        assert s not in out
