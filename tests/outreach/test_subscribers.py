"""Subscribers in the table beside the config's: what an address is (a table), the store on both backends,
the notices' job telling a subscriber added while it runs (once, even when the config names them too), and
the CLI."""
from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from monitor import incidents as inc
from monitor.cli import _register_all, app
from monitor.notify_jobs import Notifier
from monitor.sandbox.clock import ManualClock
from monitor.storage.schema import outbox
from outreach import subscribers
from outreach.notices import Subscriber
from outreach.templates import Templates


@pytest.mark.parametrize(("address", "expected"), [
    ("Ana@Example.net", ("email", "ana@example.net")),
    ("https://hooks.example/x", ("webhook", "https://hooks.example/x")),
    (" http://h:8080/p ", ("webhook", "http://h:8080/p")),
    ("@ana", None),
    ("ana example.net", None),
    ("ntfy://topic", None),  # apprise URLs hold tokens: config only
    ("ana", None),
])
def test_what_may_be_a_stored_subscriber(address: str, expected) -> None:
    if expected is None:
        with pytest.raises(subscribers.SubscriberError):
            subscribers.parse_address(address)
    else:
        assert subscribers.parse_address(address) == expected


async def test_a_subscriber_added_while_running_is_told_once_even_if_also_configured(engine) -> None:
    clock = ManualClock()
    n = Notifier(engine, [Subscriber("ana@example.net", "email")], Templates(), {"checkout": "Checkout"}, "Acme",
                 "https://status.acme.test", 0, 1800, clock=clock)
    async with engine.begin() as conn:
        assert await subscribers.add(conn, "bo@example.net", services=["checkout"], by="t") == (1, True)
        assert await subscribers.add(conn, "BO@example.net") == (1, False)
        await subscribers.add(conn, "ana@example.net")  # in the config too: told once
        await subscribers.add(conn, "https://hooks.example/wh", services=["warehouse"])  # not this service
        await inc.open_incident(conn, service="checkout", title="t", by="check", message="Checkout fails.",
                                now=clock(), slack_channel=None)
    assert await n.run() == 2 and await n.run() == 0
    async with engine.connect() as conn:
        targets = (await conn.execute(select(outbox.c.target).order_by(outbox.c.target))).scalars().all()
    assert targets == ["ana@example.net", "bo@example.net"]
    async with engine.begin() as conn:
        assert await subscribers.remove(conn, "bo@example.net") == 1
        assert await subscribers.remove(conn, "999") == 0
        assert [s.subscriber.address for s in await subscribers.stored(conn)] == ["ana@example.net",
                                                                                  "https://hooks.example/wh"]


def test_the_cli_adds_lists_and_removes(tmp_path) -> None:
    cfg = tmp_path / "om.yaml"
    cfg.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path / 'om.db'}"},
                                   "services": [{"name": "checkout"}],
                                   "subscribers": [{"apprise": "ntfy://secret-topic"}]}))
    _register_all()
    run = CliRunner().invoke
    c = ["--config", str(cfg)]
    r = run(app, ["subscribers", "add", "https://hooks.example/a", "--service", "checkout", *c])
    assert r.exit_code == 0 and "subscriber 1 added" in r.output, r.output
    assert "already subscribed" in run(app, ["subscribers", "add", "https://hooks.example/a", *c]).output
    r = run(app, ["subscribers", "add", "ana@example.net", *c])
    assert r.exit_code == 2 and "email: section" in r.output
    r = run(app, ["subscribers", "add", "https://hooks.example/b", "--service", "warehouse", *c])
    assert r.exit_code == 2 and "unknown service 'warehouse'" in r.output
    r = run(app, ["subscribers", "list", *c])
    assert "https://hooks.example/a" in r.output and "apprise" in r.output and "secret-topic" not in r.output
    assert run(app, ["subscribers", "remove", "1", *c]).exit_code == 0
    assert run(app, ["subscribers", "remove", "1", *c]).exit_code == 1
