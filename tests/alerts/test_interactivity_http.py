"""The signed HTTP interactivity endpoint: bad or stale signatures are refused before bolt sees them."""
from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from alerts.interactivity import CockpitDeps, GroupMembers, build_app, http_handler, json_payload, sign
from alerts.slack_delivery import make_slack_client
from monitor.cockpit import Cockpit
from monitor.sandbox.clock import ManualClock
from monitor.sandbox.core import Server
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app
from monitor.slack_cockpit import DbSwitches
from monitor.storage.schema import ticket_actions
from tests.monitor.test_cockpit import NOW, _mention

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


async def _nothing() -> dict:
    return {}


@pytest.fixture
async def endpoint(engine):
    ws = SlackWorkspace(rate_per_channel=None)
    slack = Server(make_slack_app(ws))
    base = await slack.start() + "/api/"
    client = make_slack_client(ws.token, base)
    clock = ManualClock(NOW)
    deps = CockpitDeps(cockpit=Cockpit(engine, clock=clock), switches=DbSwitches(engine), status=_nothing,
                       approvers=GroupMembers(client, "S0APPROVERS"))
    app = web.Application()
    app.router.add_post("/slack/events", http_handler(build_app(client, deps), SECRET, clock=clock))
    server = Server(app)
    url = await server.start() + "/slack/events"
    try:
        yield url, clock, engine
    finally:
        await server.stop()
        await slack.stop()


def _click(mention_id: int, user: str = "U0ANN") -> str:
    return json_payload({
        "type": "block_actions", "user": {"id": user, "username": "ann", "team_id": "T0SANDBOX"},
        "api_app_id": "A0SANDBOX", "team": {"id": "T0SANDBOX"}, "trigger_id": "1.2.3",
        "container": {"type": "message", "channel_id": "C00000001", "message_ts": "1764000000.000100"},
        "actions": [{"action_id": "mention_claim", "block_id": f"mention_actions:{mention_id}",
                     "value": str(mention_id), "type": "button", "action_ts": "1764000001.0"}],
    })


async def _post(url: str, body: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def test_signed_requests_act_and_others_are_refused(endpoint) -> None:
    url, clock, engine = endpoint
    mid = await _mention(engine)
    body = _click(mid)
    assert await _post(url, body, {"Content-Type": "application/x-www-form-urlencoded"}) == 401  # unsigned
    assert await _post(url, body, sign("wrong-secret", body, clock())) == 401
    assert await _post(url, body, sign(SECRET, body, clock() - 301)) == 401  # replayed after 5 minutes
    tampered = body.replace("U0ANN", "U0BOB")
    assert await _post(url, tampered, sign(SECRET, body, clock())) == 401
    async with engine.connect() as conn:
        assert (await conn.execute(select(ticket_actions))).all() == []

    assert await _post(url, body, sign(SECRET, body, clock() - 299)) == 200
    assert await _post(url, body, sign(SECRET, body, clock())) == 200  # a retry by Slack: no second effect
    async with engine.connect() as conn:
        rows = (await conn.execute(select(ticket_actions.c.action, ticket_actions.c.by))).all()
    assert [tuple(r) for r in rows] == [("claim", "U0ANN")]


def test_payload_is_form_encoded_json() -> None:
    from urllib.parse import parse_qs

    assert json.loads(parse_qs(_click(5))["payload"][0])["actions"][0]["value"] == "5"
