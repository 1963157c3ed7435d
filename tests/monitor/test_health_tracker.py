"""monitor.health.Tracker on both backends: readings → persisted state → one incident, one Slack thread."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from monitor import incidents as inc
from monitor.health import Tracker, Watched
from monitor.health_config import ServiceConfig
from monitor.models import HealthReading
from monitor.sandbox.clock import ManualClock
from monitor.storage.schema import alert_states, incident_updates, outbox

SERVICES = {
    "payments": ServiceConfig(name="payments", public_name="Payments"),
    "checkout": ServiceConfig(name="checkout", public_name="Checkout", depends_on=["payments"]),
}


def _tracker(engine, clock) -> Tracker:
    t = Tracker(engine, SERVICES, "#incidents", clock=clock)
    t.watch("api", Watched("checkout", failure_threshold=3, success_threshold=2, label="HTTP check api"))
    t.watch("pay", Watched("payments", failure_threshold=1, success_threshold=1))
    return t


def _r(check: str, ok: bool, clock: ManualClock, detail: str = "HTTP 503 from 10.0.0.7") -> HealthReading:
    return HealthReading(check, ok, datetime.fromtimestamp(clock(), UTC), detail)


async def _slack_rows(engine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        return [(r.key, r.target) for r in (await conn.execute(
            select(outbox.c.key, outbox.c.target).where(outbox.c.kind == "slack.message").order_by(outbox.c.id)))]


async def test_outage_opens_once_survives_restart_and_resolves(engine) -> None:
    clock = ManualClock()
    t = _tracker(engine, clock)
    actions = []
    for ok in (True, False, False, False, False):
        clock.advance(30)
        actions += [o.action for o in await t.apply([_r("api", ok, clock)])]
    assert actions == ["none", "none", "none", "open", "none"]

    t2 = _tracker(engine, clock)  # a restarted daemon: state comes from alert_states
    clock.advance(30)
    assert [o.action for o in await t2.apply([_r("api", False, clock)])] == ["none"]
    async with engine.connect() as conn:
        open_ = await inc.list_incidents(conn, open_only=True)
    assert [(i.service, i.status, i.opened_by, i.title) for i in open_] == [
        ("checkout", "investigating", "check:api", "Checkout is not working")]

    for ok in (True, True):
        clock.advance(30)
        await t2.apply([_r("api", ok, clock, "HTTP 200")])
    async with engine.connect() as conn:
        done = await inc.get(conn, open_[0].id)
        line = await inc.timeline(conn, open_[0].id)
        state = (await conn.execute(select(alert_states).where(alert_states.c.check == "api"))).mappings().one()
    assert done is not None and done.status == "resolved" and done.resolved_at == clock()
    assert [u.status for u in line] == ["investigating", "resolved"]
    assert "10.0.0.7" in line[0].note and "10.0.0.7" not in line[0].message  # internal detail stays internal
    assert (state["status"], state["triggered"], state["incident_id"]) == ("up", False, None)
    iid = open_[0].id
    assert await _slack_rows(engine) == [(f"incident:{iid}:opened", "#incidents"),
                                         (f"incident:{iid}:update:{line[1].id}", "#incidents")]


async def test_upstream_down_suppresses_the_dependent_incident(engine) -> None:
    clock = ManualClock()
    t = _tracker(engine, clock)
    clock.advance(30)
    assert [o.action for o in await t.apply([_r("pay", False, clock)])] == ["open"]
    acts = []
    for _ in range(4):
        clock.advance(30)
        acts += [o.action for o in await t.apply([_r("api", False, clock)])]
    assert acts == ["none", "none", "suppressed", "none"]
    async with engine.connect() as conn:
        open_ = await inc.list_incidents(conn, open_only=True)
        notes = (await conn.execute(select(incident_updates.c.message))).scalars().all()
    assert [i.service for i in open_] == ["payments"]  # one root cause, one incident
    assert "Checkout is affected too." in notes

    clock.advance(30)  # the upstream recovers but checkout is still down: now it is its own incident
    await t.apply([_r("pay", True, clock, "ok")])
    clock.advance(30)
    assert [o.action for o in await t.apply([_r("api", False, clock)])] == ["open"]


async def test_a_person_resolves_what_a_person_opened(engine) -> None:
    clock = ManualClock()
    async with engine.begin() as conn:
        opened, created = await inc.open_incident(conn, service="checkout", title="Checkout errors", by="person:ana",
                                                  message="We are looking into checkout errors.", now=clock(),
                                                  slack_channel="#incidents")
        again, created2 = await inc.open_incident(conn, service="checkout", title="x", by="check:api", note="503",
                                                  message="We are investigating problems with Checkout.", now=clock(),
                                                  slack_channel="#incidents")
    assert created and not created2 and again.id == opened.id
    async with engine.begin() as conn:
        await inc.update_incident(conn, opened.id, status="identified", message="A bad deploy; rolling back.",
                                  by="person:ana", now=clock() + 60, slack_channel="#incidents")
        await inc.resolve(conn, opened.id, message="Fixed.", by="person:ana", now=clock() + 120,
                          slack_channel="#incidents")
    async with engine.connect() as conn:
        line = await inc.timeline(conn, opened.id)
    assert [u.status for u in line] == ["investigating", "investigating", "identified", "resolved"]
    rows = await _slack_rows(engine)
    assert rows[0][0] == f"incident:{opened.id}:opened" and len(rows) == 4


MATCH = [
    ("checkout keeps failing", "complaint", "checkout"),
    ("cannot pay!!", "outage", "payments"),          # an alias
    ("rapid delivery, thanks", "praise", None),      # "api" inside a word is not the api
    ("site is down", "outage", None),                # two incidents open: an outage report alone is ambiguous
]


def test_match_table() -> None:
    open_ = [inc.OpenIncident(1, "checkout", ("checkout",), True), inc.OpenIncident(2, "payments", ("payments", "pay"), True)]
    for text, cat, want in MATCH:
        got = inc.match(text, cat, open_)
        assert (got.service if got else None) == want, text
    only = open_[:1]
    assert inc.match("site is down", "outage", only) is only[0]


async def test_ingest_attaches_complaints_to_the_open_incident_and_triage_names_it(engine) -> None:
    from monitor.ingest import ingest
    from monitor.models import Author, Batch, Mention
    from monitor.storage.schema import mentions
    from monitor.triage import load_triage

    async with engine.begin() as conn:
        opened, _ = await inc.open_incident(conn, service="checkout", title="Checkout is not working", by="check:api",
                                            message="We are investigating problems with Checkout.", now=1e9,
                                            slack_channel=None, terms=["Checkout", "basket"])

    def mention(eid: str, text: str) -> Mention:
        return Mention("x", eid, text, Author(eid, f"u{eid}"), datetime.fromtimestamp(1e9, UTC))

    batch = Batch([mention("1", "@acme my basket won't load, this is broken and useless"),
                   mention("2", "@acme love the new colours")], [])
    await ingest(engine, batch, source="x", triage=load_triage(), policy=None, clock=lambda: 1e9 + 5)
    async with engine.connect() as conn:
        rows = {r.external_id: r for r in (await conn.execute(select(mentions))).all()}
    assert rows["1"].incident_id == opened.id and rows["2"].incident_id is None
    assert any("about open incident 'basket'" in reason for reason in rows["1"].reasons)


async def test_leased_steady_checks_skip_the_database_until_they_fail(engine) -> None:
    from monitor.storage.schema import alert_states as states

    clock = ManualClock()
    t = _tracker(engine, clock)
    for _ in range(4):
        clock.advance(30)
        await t.apply([_r("api", True, clock, "HTTP 200")], leased=True)
    assert t._steady == {"api"}
    async with engine.begin() as conn:  # proof the cache answered: the row is not read
        await conn.execute(states.delete())
    clock.advance(30)
    assert [o.action for o in await t.apply([_r("api", True, clock)], leased=True)] == ["none"]
    async with engine.connect() as conn:
        assert (await conn.execute(select(states))).all() == []
    actions = []
    for _ in range(3):  # a failure goes to the database at once, and opens after the threshold
        clock.advance(30)
        actions += [o.action for o in await t.apply([_r("api", False, clock)], leased=True)]
    assert actions == ["none", "none", "open"] and t._steady == set()
    t.forget()


async def test_an_update_naming_a_host_is_held_and_the_team_told(engine) -> None:
    from monitor.notify_jobs import Notifier
    from outreach.notices import Subscriber
    from outreach.templates import Templates

    clock = ManualClock()
    n = Notifier(engine, [Subscriber("ana@example.net", "email")], Templates(forbidden=["checkout-api"]),
                 {"checkout": "Checkout"}, "Acme", "https://status.acme.test", 0, 1800, clock=clock,
                 slack_channel="#incidents")
    async with engine.begin() as conn:
        opened, _ = await inc.open_incident(conn, service="checkout", title="Checkout errors", by="person:ana",
                                            message="We are looking into checkout errors.", now=clock(),
                                            slack_channel="#incidents")
    assert await n.run() == 1
    async with engine.begin() as conn:
        await inc.update_incident(conn, opened.id, status="identified", message="Restarted lb-3.prod.internal",
                                  by="person:ana", now=clock(), slack_channel="#incidents")
    clock.advance(10)
    assert await n.run() == 1 and await n.run() == 0
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.key, outbox.c.kind).order_by(outbox.c.id))).all()
    assert [k for _, k in rows].count("email.notice") == 1  # the first notice only
    assert rows[-1].key.startswith(f"incident:{opened.id}:held:")
    async with engine.begin() as conn:
        await inc.update_incident(conn, opened.id, status="monitoring", message="A fix is in place.",
                                  by="person:ana", now=clock(), slack_channel="#incidents")
    assert await n.run() == 1  # the corrected update goes out
