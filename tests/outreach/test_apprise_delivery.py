"""Notices through apprise, over a real socket to the sandbox's webhook sink (apprise's json:// posts there)."""
from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest

from monitor.delivery import OutboxItem, PermanentFailure, RetryLater
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app
from outreach import notices
from outreach.apprise_delivery import AppriseDelivery
from outreach.templates import Templates


@pytest.fixture
async def sink() -> AsyncIterator[tuple[HealthWorld, str]]:
    world = HealthWorld()
    server = Server(make_health_app(world))
    url = await server.start()
    yield world, url
    await server.stop()


def item(target: str, payload: dict) -> OutboxItem:
    return OutboxItem(1, "notice:incident:1:x:y", "apprise.notice", target, payload, 0, False, 0.0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_notice_reaches_the_channel_with_its_title_and_text(sink) -> None:
    world, url = sink
    sub = notices.Subscriber(f"json://{url.removeprefix('http://')}/hooks/chat", "apprise")
    facts = notices.IncidentFacts(1, "checkout", "Checkout", "t", "investigating", "major",
                                  "Some payments fail.", 3, 0.0, 0.0, None)
    _, payload = notices.build(facts, sub, Templates(), brand="Acme", status_url="https://status.acme.example")
    assert sub.target == sub.ref and "json://" not in sub.target  # the URL (a token) never reaches the database
    assert await AppriseDelivery({sub.ref: sub.address}).deliver(item(sub.target, payload)) == "delivered"
    (hook,) = world.hooks
    body = json.loads(hook.body)
    assert hook.name == "chat" and body["title"] == "Checkout: we are investigating a problem"
    assert "Some payments fail." in body["message"] and "https://status.acme.example" in body["message"]


async def test_an_unreachable_channel_is_retried_and_an_unknown_one_refused() -> None:
    handler = AppriseDelivery({"r1": f"json://127.0.0.1:{closed_port()}/x"})
    with pytest.raises(RetryLater):
        await handler.deliver(item("r1", {"subject": "s", "text": "t"}))
    with pytest.raises(PermanentFailure, match="no longer configured"):
        await handler.deliver(item("gone", {"subject": "s", "text": "t"}))
