"""connectors.statuspage: the fixture's vocabulary mapped to our services; fetched over the sandbox."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.base import BadPayload, TransientError
from connectors.http_check import make_session
from connectors.statuspage import StatuspageConfig, StatuspageProbe, component_reading
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app, shared_fixture, shared_fixtures_dir

AT = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(("status", "ok"), [
    ("operational", True), ("under_maintenance", True), ("degraded_performance", False),
    ("partial_outage", False), ("major_outage", False),
])
def test_component_vocabulary(status: str, ok: bool) -> None:
    r = component_reading("cloud", {"id": "c1", "name": "API", "status": status}, [], AT)
    assert r.ok is ok and r.check == "statuspage:cloud:API"


@pytest.mark.skipif(shared_fixtures_dir() is None, reason="the shared fixtures folder (../shared/fixtures) is absent")
def test_fixture_names_the_upstream_incident() -> None:
    page = json.loads(shared_fixture("statuspage_summary.json"))
    api, dash = page["components"]
    r = component_reading("cloud", api, page["incidents"], AT)
    assert not r.ok and r.detail == ("cloud API: partial outage — Elevated API error rates in eu-west (identified)")
    assert component_reading("cloud", dash, page["incidents"], AT).ok


@pytest.fixture
async def page():
    w = HealthWorld()
    server = Server(make_health_app(w))
    await server.start()
    session = make_session()
    yield w, server.url, session
    await session.close()
    await server.stop()


async def test_probe_maps_components_to_our_services(page) -> None:
    w, base, session = page
    probe = StatuspageProbe(StatuspageConfig(name="cloud", url=f"{base}/statuspage",
                                             components={"API": "checkout", "9zpz5l5kqlts": "dashboard"}), session)
    assert [(r.check, r.ok) for r in await probe.probe()] == [("statuspage:cloud:API", True),
                                                              ("statuspage:cloud:9zpz5l5kqlts", True)]
    w.set_component("API", "major_outage", incident="API errors")
    readings = await probe.probe()
    assert (readings[0].ok, readings[0].detail) == (False, "cloud API: major outage — API errors (investigating)")
    assert probe.service_of(readings[0].check) == "checkout" and probe.service_of(readings[1].check) == "dashboard"


async def test_unreachable_or_wrong_pages_raise_the_connector_errors(page) -> None:
    w, base, session = page

    def probe(url: str) -> StatuspageProbe:
        return StatuspageProbe(StatuspageConfig(name="x", url=url, components={"API": "a"}), session)

    with pytest.raises(BadPayload, match="HTTP 404"):
        await probe(f"{base}/nothing").probe()
    w.statuspage = {"page": {"name": "not a summary"}}
    with pytest.raises(BadPayload, match="no components"):
        await probe(f"{base}/statuspage").probe()
    with pytest.raises(TransientError):
        await probe("http://127.0.0.1:9").probe()
