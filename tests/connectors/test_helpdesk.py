"""connectors.zendesk and connectors.freshdesk against the sandbox helpdesks: the documented shapes,
and every HTTP answer translated into the connectors' errors (connectors/helpdesk.py)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.base import AuthError, ConfigError, TransientError
from connectors.helpdesk import Helpdesk, HelpdeskConfig, NewTicket, build_helpdesk
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.freshdesk_api import make_freshdesk_app
from monitor.sandbox.helpdesk_world import HelpdeskWorld
from monitor.sandbox.zendesk_api import make_zendesk_app

EMAIL, TOKEN = "agent@acme.test", "sekrit-token"
APPS = {"zendesk": make_zendesk_app, "freshdesk": make_freshdesk_app}


def world_for(kind: str) -> HelpdeskWorld:
    if kind == "zendesk":
        return HelpdeskWorld("zendesk", username=f"{EMAIL}/token", password=TOKEN)
    return HelpdeskWorld("freshdesk", username=TOKEN, password="X")


def config_for(kind: str, url: str, *, token: str = TOKEN, timeout: float = 15.0) -> HelpdeskConfig:
    return HelpdeskConfig(kind=kind, url=url, email=EMAIL if kind == "zendesk" else None, token=token,
                          timeout_s=timeout)


@pytest.fixture(params=["zendesk", "freshdesk"])
async def desk(request) -> AsyncIterator[tuple[HelpdeskWorld, Helpdesk, str]]:
    world = world_for(request.param)
    server = Server(APPS[request.param](world))
    await server.start()
    client = build_helpdesk(config_for(request.param, server.url, timeout=2.0))
    yield world, client, server.url
    await client.close()
    await server.stop()


TICKET = NewTicket(external_id="outreach:x:1001", subject="[x] @dana: charged twice", body="I was charged twice <3",
                   urgency="high", requester_name="@dana", requester_ref="x:42", tags=("outreach-monitor",))


async def test_create_find_comment_and_status_follow_the_documented_shapes(desk) -> None:
    world, client, _ = desk
    assert await client.find(TICKET.external_id) is None
    hid = await client.create(TICKET)
    assert await client.find(TICKET.external_id) == hid
    assert [t["id"] for t in world.with_external_id(TICKET.external_id)] == [int(hid)]
    created = world.recorder.matching("/api/v2/tickets", "POST")[0].json()
    if world.kind == "zendesk":
        t = created["ticket"]
        assert t["external_id"] == TICKET.external_id and t["comment"] == {"body": TICKET.body, "public": False}
        assert t["priority"] == "high"
    else:
        assert created["custom_fields"] == {"cf_outreach_key": TICKET.external_id}
        assert created["unique_external_id"] == "x:42" and created["priority"] == 3 and created["status"] == 2
        assert created["description"] == "I was charged twice &lt;3"  # HTML: the customer's words escaped

    cid = await client.comment(hid, "a follow-up\noutreach-monitor ref k1")
    assert await client.find_comment(hid, "outreach-monitor ref k1") == cid
    assert await client.find_comment(hid, "outreach-monitor ref k2") is None
    sent = world.recorder.requests[-3]  # the comment, before the two lookups
    if world.kind == "zendesk":
        assert (sent.method, sent.path) == ("PUT", f"/api/v2/tickets/{hid}.json")
        assert sent.json()["ticket"]["comment"]["public"] is False
    else:
        assert (sent.method, sent.path) == ("POST", f"/api/v2/tickets/{hid}/notes")
        assert sent.json()["private"] is True

    assert await client.status(hid) in ("open",)
    world.solve(hid)
    assert await client.status(hid) == "solved"
    await client.comment(hid, "the customer again", reopen=True)  # they wrote after it was solved
    assert await client.status(hid) == "open"
    world.solve(hid)
    world.close(hid)
    assert await client.status(hid) == "closed"
    assert await client.status("999999") is None  # deleted in the helpdesk


async def test_check_names_the_agent(desk) -> None:
    _, client, _ = desk
    assert EMAIL in await client.check()


# the fault table: what the sandbox answers → the error the sync sees
@pytest.mark.parametrize(("fault", "error", "retry_after", "rate_limited"), [
    (Fault("429", reset_in=17), TransientError, 17.0, True),
    (Fault("429-no-reset"), TransientError, 60.0, True),  # no Retry-After: a minute, Zendesk's window
    (Fault("500"), TransientError, None, False),
    (Fault("503"), TransientError, None, False),
    (Fault("timeout", delay=5.0), TransientError, None, False),  # the client gives up after 2 s
    (Fault("drop"), TransientError, None, False),
    (Fault("401"), AuthError, None, False),
    (Fault("403"), AuthError, None, False),
])
async def test_faults_become_connector_errors(desk, fault: Fault, error: type, retry_after: float | None,
                                              rate_limited: bool) -> None:
    world, client, _ = desk
    world.faults.add("/api/v2/", fault)
    with pytest.raises(error) as caught:
        await client.create(TICKET)
    if error is TransientError:
        assert caught.value.retry_after == retry_after and caught.value.rate_limited is rate_limited
    assert world.tickets == {}  # a refused create made nothing
    assert await client.create(TICKET)  # the fault was for one request: the next works


async def test_wrong_credentials_are_an_auth_error_and_a_refused_request_a_config_error(desk) -> None:
    world, _, url = desk
    wrong = build_helpdesk(config_for(world.kind, url, token="not-it"))
    try:
        with pytest.raises(AuthError):
            await wrong.check()
        with pytest.raises(AuthError):
            await wrong.create(TICKET)
    finally:
        await wrong.close()
    _, client, _ = desk
    hid = await client.create(TICKET)
    if world.kind == "zendesk":
        world.close(hid)  # Zendesk: a closed ticket takes no more comments (422)
        with pytest.raises(ConfigError, match="closed prevents ticket update"):
            await client.comment(hid, "too late")
    else:
        bad = build_helpdesk(HelpdeskConfig(kind="freshdesk", url=url, token=TOKEN, external_id_field="cf_nope"))
        try:
            with pytest.raises(ConfigError, match="cf_nope"):  # a custom field the account does not have
                await bad.create(TICKET)
        finally:
            await bad.close()


async def test_unreachable_helpdesk_is_transient() -> None:
    server = Server(make_zendesk_app(world_for("zendesk")))
    url = await server.start()
    await server.stop()  # nothing listens there any more
    client = build_helpdesk(config_for("zendesk", url))
    try:
        with pytest.raises(TransientError):
            await client.find("outreach:x:1")
    finally:
        await client.close()
