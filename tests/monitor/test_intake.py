"""The intake listener over real HTTP: Alertmanager v4 (auth, size, bad payloads, dedupe) and posted delays."""
from __future__ import annotations

import copy
import json

import aiohttp
import pytest
from sqlalchemy import select

from monitor import incidents as inc
from monitor.delays import DelayNotifier
from monitor.health import Tracker
from monitor.health_config import ServiceConfig
from monitor.intake import Intake
from monitor.sandbox.clock import ManualClock
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import alertmanager_fixture, post_alertmanager, shared_fixture, shared_fixtures_dir
from monitor.storage.schema import outbox
from outreach.notices import Subscriber
from outreach.templates import Templates

SECRET = "am-secret"
SERVICES = {"checkout": ServiceConfig(name="checkout", public_name="Checkout"),
            "delivery": ServiceConfig(name="delivery", public_name="Delivery")}


@pytest.fixture
async def intake(engine):
    clock = ManualClock()
    tracker = Tracker(engine, SERVICES, "#incidents", clock=clock)
    delays = DelayNotifier(engine, [Subscriber("ops@acme.test", "email", ("delivery",), ("north",))],
                           Templates(forbidden=["dispatch-db"]), {"delivery": "Delivery"}, "Acme",
                           "https://status.acme.test", clock=clock)
    it = Intake(SECRET, tracker, delays, {"parcels"}, max_body=4096, clock=clock)
    server = Server(it.app())
    await server.start()
    yield it, server.url, clock
    await server.stop()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status, await r.text()


def _firing_only() -> dict:
    p = alertmanager_fixture()
    p["alerts"] = [a for a in p["alerts"] if a["status"] == "firing"]
    del p["notification_reason"], p["routeLabels"]  # older Alertmanagers do not send them
    return p


@pytest.mark.skipif(shared_fixtures_dir() is None, reason="the shared fixtures folder (../shared/fixtures) is absent")
async def test_refusals_are_4xx_with_a_reason(intake) -> None:
    it, base, _ = intake
    url = f"{base}/alertmanager"
    ok = json.dumps(_firing_only()).encode()
    auth = {"Authorization": f"Bearer {SECRET}"}
    cases = [
        (ok, {}, 401), (ok, {"Authorization": "Bearer wrong"}, 401),
        (b"x" * 5000, auth, 413), (b"{not json", auth, 400),
        (json.dumps({**_firing_only(), "version": "3"}).encode(), auth, 400),
        (json.dumps({k: v for k, v in _firing_only().items() if k != "groupKey"}).encode(), auth, 400),
        (json.dumps({**_firing_only(), "alerts": [{"status": "firing"}]}).encode(), auth, 400),
        (b"[]", auth, 400),
    ]
    for body, headers, status in cases:
        got, text = await _post(url, body, headers)
        assert got == status, (body[:40], text)
    assert it.stats.accepted == 0 and sum(it.stats.refused.values()) == len(cases)


@pytest.mark.skipif(shared_fixtures_dir() is None, reason="the shared fixtures folder (../shared/fixtures) is absent")
async def test_alertmanager_opens_once_dedupes_repeats_and_resolves(intake, engine) -> None:
    it, base, clock = intake
    url = f"{base}/alertmanager"
    status, text = await post_alertmanager(url, _firing_only(), secret=SECRET)
    assert status == 200 and json.loads(text)["actions"] == ["open"]
    clock.advance(300)  # Alertmanager's repeat_interval: the same alert again
    status, text = await post_alertmanager(url, _firing_only(), secret=SECRET)
    assert status == 200 and json.loads(text)["actions"] == []
    async with engine.connect() as conn:
        (opened,) = await inc.list_incidents(conn)
    assert opened.service == "checkout" and opened.opened_by.startswith("check:alertmanager:")

    resolved = copy.deepcopy(_firing_only())
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    clock.advance(60)
    status, text = await post_alertmanager(url, resolved, secret=SECRET)
    assert json.loads(text)["actions"] == ["resolve"]
    async with engine.connect() as conn:
        assert (await inc.get(conn, opened.id)).status == "resolved"

    other = _firing_only()
    other["commonLabels"]["service"] = other["alerts"][0]["labels"]["service"] = "warehouse"
    status, text = await post_alertmanager(url, other, secret=SECRET)
    assert status == 200 and json.loads(text) == {"accepted": 0, "ignored": 1, "actions": []}


DELAY = {"delays": [{"id": "d-1", "service": "delivery", "region": "north", "expected_delay_minutes": 90,
                     "message": "Parcels in the north are running late after the storm.",
                     "affected": [{"customer": "c-1", "email": "ana@example.net", "order": "A-100"},
                                  {"customer": "c-2"}]},
                    {"id": "d-2", "region": "south"}]}


async def test_posted_delays_tell_each_customer_once_per_version(intake, engine) -> None:
    it, base, clock = intake
    url, auth = f"{base}/delays/parcels", {"Authorization": f"Bearer {SECRET}"}
    for _ in range(2):  # posted twice: told once
        status, text = await _post(url, json.dumps(DELAY).encode(), auth)
        assert status == 200
    assert json.loads(text) == {"delays": 1, "skipped": 1, "notices": 0}
    later = copy.deepcopy(DELAY)
    later["delays"][0]["eta"] = "2026-12-01T18:00:00Z"
    await _post(url, json.dumps(later).encode(), auth)
    assert (await _post(f"{base}/delays/nope", b"{}", auth))[0] == 404
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.target, outbox.c.payload).order_by(outbox.c.id))).all()
    assert [t for t, _ in rows] == ["ana@example.net", "ops@acme.test"] * 2
    first, update = rows[0].payload, rows[2].payload
    assert first["subject"] == "Delivery is running late in north"
    assert "order A-100" in first["text"] and "about 90 minutes" in first["text"]
    assert "Tuesday 01 December, 18:00 UTC" in update["text"]


@pytest.mark.skipif(shared_fixtures_dir() is None, reason="the shared fixtures folder (../shared/fixtures) is absent")
async def test_statuspage_webhooks_from_the_fixtures(engine) -> None:
    clock = ManualClock()
    tracker = Tracker(engine, SERVICES, "#incidents", clock=clock)
    it = Intake(SECRET, tracker, None, set(), clock=clock, statuspages={"cloud": {"API": "checkout"}})
    server = Server(it.app())
    await server.start()
    try:
        update = shared_fixture("statuspage_webhook_component_update.json")
        # Statuspage cannot send headers: the secret may come in the URL
        status, text = await _post(f"{server.url}/statuspage/cloud?secret={SECRET}", update, {})
        assert status == 200 and json.loads(text) == {"readings": 1, "actions": ["open"]}
        status, text = await _post(f"{server.url}/statuspage/cloud?secret={SECRET}",
                                   shared_fixture("statuspage_webhook_incident.json"), {})
        assert status == 200 and json.loads(text) == {"readings": 1, "actions": []}  # still partial outage
        assert (await _post(f"{server.url}/statuspage/cloud?secret=nope", update, {}))[0] == 401
        assert (await _post(f"{server.url}/statuspage/other?secret={SECRET}", update, {}))[0] == 404
        assert (await _post(f"{server.url}/statuspage/cloud?secret={SECRET}", b'{"page": {}}', {}))[0] == 400
        fixed = json.loads(update)
        fixed["component"]["status"] = "operational"
        status, text = await _post(f"{server.url}/statuspage/cloud?secret={SECRET}", json.dumps(fixed).encode(), {})
        assert json.loads(text)["actions"] == ["resolve"]
    finally:
        await server.stop()
    async with engine.connect() as conn:
        (i,) = await inc.list_incidents(conn)
    assert (i.service, i.status) == ("checkout", "resolved")
