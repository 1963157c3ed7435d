"""What real platforms serve, through Poller + ingest on a real database: [deleted]/[removed]
things are stored as what they are and never triaged, ticketed or alerted; a private message in
the inbox is passed over; a long X post is triaged whole and its withholding recorded."""
from __future__ import annotations

from sqlalchemy import select

from connectors.reddit import RedditConfig, RedditSource
from connectors.x import XConfig, XSource
from monitor.ingest import AlertPolicy
from monitor.metrics import Metrics
from monitor.poller import Poller
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Server
from monitor.sandbox.reddit_api import RedditWorld, make_reddit_app
from monitor.sandbox.x_api import XWorld, make_x_app
from monitor.storage.schema import mentions, outbox
from monitor.triage import load_triage

T0 = 1_760_000_000.0
POLICY = AlertPolicy({"critical": "#care-urgent", "high": "#care-urgent", "normal": "#care", "low": "#care"}, "low")


def poller(src, name: str, engine, clock: Clock) -> Poller:
    return Poller(src, name=name, engine=engine, triage=load_triage(), policy=POLICY, metrics=Metrics(), holder="t",
                  lease_ttl=30, clock=clock)


async def rows(engine):
    async with engine.connect() as conn:
        stored = {r.external_id: r for r in (await conn.execute(select(mentions))).all()}
        alerts = (await conn.execute(select(outbox.c.key))).scalars().all()
    return stored, alerts


async def test_removed_and_deleted_reddit_things_are_stored_never_triaged_or_alerted(engine) -> None:
    clock = Clock(T0)
    world = RedditWorld(clock=clock)
    world.add_app("cid", "s3cret")
    world.add_user("AcmeCare", "pw")
    world.add_subreddit("acme")
    server = Server(make_reddit_app(world))
    url = await server.start()
    src = RedditSource(RedditConfig(type="reddit", client_id="cid", client_secret="s3cret", username="AcmeCare",
                                    password="pw", api_base=url, www_base=url, subreddits=["acme"], queries=[],
                                    timeout=2, retry_pause=0, fetch_parents=False), clock=clock)
    p = poller(src, "reddit", engine, clock)
    try:
        await p.poll()  # empty: every stream starts from now
        clock.now += 10
        post = world.add_submission("acme", "acme charged my card twice", "still no refund, this is fraud",
                                    author="ana")
        gone = world.add_comment(post["name"], "the acme app crashed and I lost my booking", author="ben")
        removed = world.add_comment(post["name"], "acme is a scam, they stole my money", author="cy")
        world.remove(gone["name"], by="author")
        world.remove(removed["name"], by="moderator")
        world.message("AcmeCare", "help", "my account was hacked, please call me", author="dee")
        clock.now += 10
        await p.poll()
    finally:
        await src.close()
        await server.stop()
    stored, alerts = await rows(engine)
    assert set(stored) == {post["name"], gone["name"], removed["name"]}  # the private message is not a mention
    for name, text in ((gone["name"], "[deleted]"), (removed["name"], "[removed]")):
        r = stored[name]
        assert r.removed and r.text == text and r.author_username == "[deleted]"
        assert r.urgency is None and r.ticket_id is None
    assert not stored[post["name"]].removed and stored[post["name"]].urgency is not None
    assert alerts and all(gone["name"] not in k and removed["name"] not in k for k in alerts)
    assert p.health.bad_items == 0


async def test_a_long_x_post_is_triaged_whole_and_its_withholding_recorded(engine) -> None:
    clock = Clock(T0)
    world = XWorld(clock, bearer_token="b")
    world.add_user("acme", "Acme")
    world.add_user("carla", "Carla", 900)
    server = Server(make_x_app(world))
    url = await server.start()
    src = XSource(XConfig(type="x", bearer_token="b", api_base=url, handles=["acme"]), clock=clock)
    p = poller(src, "x", engine, clock)
    text = "@acme " + "I tried to check in online this morning and then again at the airport kiosk, " * 4 + \
        "and now I see someone hacked my account and booked flights with my card"
    assert len(text) > 280 and "hacked" not in text[:280]  # only the whole post says what is wrong
    try:
        await p.poll()
        clock.now += 120
        tid = world.post("carla", text, withheld_in=["DE"])
        await p.poll()
    finally:
        await src.close()
        await server.stop()
    stored, alerts = await rows(engine)
    r = stored[tid]
    assert r.text == text and r.withheld == "DE"
    assert r.category == "security" and r.urgency in ("critical", "high"), (r.category, r.urgency)
    assert any(tid in k for k in alerts)
