"""XSource end to end: tweepy's real AsyncClient against the sandbox X over a real socket."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.base import AuthError, ConfigError, Source, TransientError
from connectors.x import StreamCursor, XConfig, XSource
from monitor.models import Cursor
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.x_api import XWorld, make_x_app

BEARER = "sandbox-bearer"
QUERY = "acme -is:retweet"


@dataclass
class Env:
    world: XWorld
    url: str
    clock: Clock
    sources: list[XSource]

    def source(self, *, clock: Any = None, path: str = "sources[0]", own: tuple[str, ...] = (), **cfg: Any) -> XSource:
        settings: dict[str, Any] = {"type": "x", "bearer_token": BEARER, "api_base": self.url, "handles": ["acme"],
                                    "queries": [QUERY], "max_results": 10}
        settings.update(cfg)
        src = XSource(XConfig(**settings), own_handles=own, config_path=path, clock=clock or self.clock)
        self.sources.append(src)
        return src

    def post(self, author: str, text: str, **kw: Any) -> str:
        self.clock.now += 1
        return self.world.post(author, text, **kw)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = Clock(1_760_000_000.0)
    world = XWorld(clock, bearer_token=BEARER)
    world.add_user("acme", "Acme", 250_000, True, token="acme-user-token")
    world.add_user("carla", "Carla", 1200)
    world.add_user("dan", "Dan", 15, verified=False)
    server = Server(make_x_app(world))
    url = await server.start()
    e = Env(world, url, clock, [])
    try:
        yield e
    finally:
        for s in e.sources:
            await s.close()
        await server.stop()


def cursors_of(batch: Any) -> dict[str, Cursor]:
    return {c.stream: c for c in batch.cursors}


def requests(world: XWorld, prefix: str) -> list[Any]:
    return [r for r in world.recorder.requests if r.path.startswith(prefix)]


async def test_implements_the_source_protocol(env: Env) -> None:
    assert isinstance(env.source(), Source)
    assert XSource.name == "x"


async def test_fetch_returns_new_posts_with_authors_and_thread_fields(env: Env) -> None:
    root = env.post("acme", "Our new acme app is live")
    reply = env.post("carla", "@acme the app crashes on login", reply_to=root)
    quote = env.post("dan", "acme strikes again", quote_of=root, lang="de")
    src = env.source()

    batch = await src.fetch({})

    by_id = {m.external_id: m for m in batch.mentions}
    assert set(by_id) == {root, reply, quote}
    r = by_id[reply]
    assert (r.author.username, r.author.name, r.author.followers) == ("carla", "Carla", 1200)
    assert r.text == "@acme the app crashes on login"
    assert r.conversation_id == root and r.in_reply_to == root
    assert r.url == f"https://x.com/carla/status/{reply}"
    assert r.stream == "mentions:acme" and r.source == "x"
    assert r.created_at.timestamp() == pytest.approx(env.world.tweets[reply].at, abs=0.001)
    assert r.metrics["like_count"] == 0 and "retweet_count" in r.metrics
    assert not r.is_own and not r.is_repost
    q = by_id[quote]
    assert q.quoted_id == root and q.lang == "de" and q.stream == "search:acme -is:retweet"
    assert by_id[root].author.verified and by_id[root].is_own  # the brand's own post: stored, never triaged
    assert cursors_of(batch) == {"mentions:acme": Cursor("mentions:acme", reply),
                                 f"search:{QUERY}": Cursor(f"search:{QUERY}", quote)}
    assert batch.requests == 3  # one handle lookup, one page per stream
    assert batch.rate_limit_remaining is not None and batch.rate_limit_reset is not None


async def test_second_fetch_sends_since_id_and_returns_only_new_posts(env: Env) -> None:
    first = env.post("carla", "@acme where is my parcel")
    src = env.source()
    batch1 = await src.fetch({})
    assert [m.external_id for m in batch1.mentions] == [first]
    second = env.post("dan", "@acme same here, nothing arrived")

    batch2 = await src.fetch(cursors_of(batch1))

    assert [m.external_id for m in batch2.mentions] == [second]
    last_mentions = requests(env.world, "/2/users/")[-1]
    assert last_mentions.path.endswith("/mentions") and last_mentions.query["since_id"] == first
    last_search = requests(env.world, "/2/tweets/search/recent")[-1]
    assert last_search.query["since_id"] == first and last_search.query["query"] == QUERY
    assert cursors_of(batch2)["mentions:acme"].value == second


async def test_query_reaches_the_server_exactly_as_written(env: Env) -> None:
    query = '("acme app" OR #acmefail) -from:acme lang:en @acme'
    env.post("carla", "@acme the acme app is down #acmefail")
    src = env.source(handles=[], queries=[query])
    batch = await src.fetch({})
    assert len(batch.mentions) == 1
    assert requests(env.world, "/2/tweets/search/recent")[-1].query["query"] == query


async def test_pages_through_everything_and_advances_the_cursor(env: Env) -> None:
    ids = [env.post("carla", f"@acme complaint number {i}") for i in range(25)]
    src = env.source(queries=[], max_pages=5)
    batch = await src.fetch({})
    assert sorted(m.external_id for m in batch.mentions) == sorted(ids)
    pages = requests(env.world, "/2/users/1")
    assert len(pages) == 3 and "pagination_token" not in pages[0].query
    assert all("pagination_token" in p.query for p in pages[1:])
    assert cursors_of(batch)["mentions:acme"].value == ids[-1]


async def test_paging_cut_short_keeps_since_and_resumes_below_what_was_read(env: Env) -> None:
    old = env.post("carla", "@acme an old one")
    src = env.source(queries=[], max_pages=2)
    first = await src.fetch({})
    ids = [env.post("dan", f"@acme new complaint {i}") for i in range(25)]

    cut = await src.fetch(cursors_of(first))

    assert [m.external_id for m in cut.mentions] == ids[:4:-1]  # the newest 20
    state = StreamCursor.parse(cursors_of(cut)["mentions:acme"].value)
    assert state == StreamCursor(since=old, below=ids[5], top=ids[-1], read=20)  # since_id itself did not move
    assert src.last_errors == []
    newer = env.post("carla", "@acme meanwhile")

    rest = await src.fetch(cursors_of(cut))

    sent = requests(env.world, "/2/users/1")[-1].query
    assert (sent["since_id"], sent["until_id"]) == (old, ids[5])
    assert [m.external_id for m in rest.mentions] == ids[4::-1]
    assert cursors_of(rest)["mentions:acme"].value == ids[-1]  # caught up: a plain since_id again
    last = await src.fetch(cursors_of(rest))
    assert [m.external_id for m in last.mentions] == [newer]


async def test_first_poll_starts_from_now_instead_of_backfilling(env: Env) -> None:
    ids = [env.post("dan", f"@acme complaint {i}") for i in range(25)]
    batch = await env.source(queries=[], max_pages=2).fetch({})
    assert len(batch.mentions) == 20
    assert cursors_of(batch)["mentions:acme"].value == ids[-1]


@pytest.mark.parametrize("value", ["", "garbage", "1:2", "a:1:2", ":x:3"])
def test_unreadable_cursor_values_start_from_now(value: str) -> None:
    assert StreamCursor.parse(value) == StreamCursor(None)


@pytest.mark.parametrize("state", [StreamCursor("5"), StreamCursor("5", "9", "20"), StreamCursor(None, "9", "20")])
def test_cursor_values_round_trip(state: StreamCursor) -> None:
    assert StreamCursor.parse(state.render()) == state


async def test_no_new_posts_keeps_cursor_and_is_not_an_error(env: Env) -> None:
    env.post("carla", "@acme hello")
    src = env.source()
    first = await src.fetch({})
    again = await src.fetch(cursors_of(first))
    assert again.mentions == [] and again.cursors == []


async def test_own_posts_are_flagged_by_handle_and_by_own_handles(env: Env) -> None:
    env.world.add_user("acme_help", "Acme Help")
    brand = env.post("acme", "Status: the @acme app is back")
    helper = env.post("acme_help", "We're here 24/7 @acme")
    customer = env.post("carla", "@acme thanks!")
    batch = await env.source(own=("acme_help",)).fetch({})
    own = {m.external_id: m.is_own for m in batch.mentions}
    assert own == {brand: True, helper: True, customer: False}


async def test_our_reply_through_the_api_comes_back_as_our_own(env: Env) -> None:
    import aiohttp

    src = env.source()
    complaint = env.post("carla", "@acme my order is late")
    batch = await src.fetch({})
    async with aiohttp.ClientSession() as s:
        resp = await s.post(f"{env.url}/2/tweets", headers={"Authorization": "Bearer acme-user-token"},
                            json={"text": "Sorry! DM us your order number, acme team", "reply": {
                                "in_reply_to_tweet_id": complaint}})
        assert resp.status == 201
        reply_id = (await resp.json())["data"]["id"]
    env.clock.now += 1
    echo = await src.fetch(cursors_of(batch))
    assert [(m.external_id, m.is_own) for m in echo.mentions] == [(reply_id, True)]


async def test_reposts_are_skipped_unless_asked_for(env: Env) -> None:
    original = env.post("carla", "@acme lost my bag")
    repost = env.post("dan", "", repost_of=original)
    skipped = await env.source(queries=[]).fetch({})
    assert [m.external_id for m in skipped.mentions] == [original]
    assert cursors_of(skipped)["mentions:acme"].value == repost  # the repost is read, so the cursor passes it
    kept = await env.source(queries=[], include_reposts=True).fetch({})
    assert {m.external_id: m.is_repost for m in kept.mentions} == {original: False, repost: True}


async def test_malformed_item_is_skipped_and_counted(env: Env) -> None:
    good = env.post("carla", "@acme fine")
    bad = env.post("dan", "@acme broken")
    src = env.source(queries=[])
    original = env.world.render_tweet

    def broken(t: Any, fields: set[str], expansions: set[str]) -> dict[str, Any]:
        out = original(t, fields, expansions)
        if t.id == bad:
            out["created_at"] = "yesterday-ish"
        return out

    env.world.render_tweet = broken  # type: ignore[method-assign]
    batch = await src.fetch({})
    assert [m.external_id for m in batch.mentions] == [good]
    assert batch.skipped_bad == 1
    assert cursors_of(batch)["mentions:acme"].value == bad  # the bad item was read: do not read it again


FAULTS = [
    # kind, error class, retry_after expectation
    ("429", TransientError, 30.0),
    ("429-no-reset", TransientError, None),
    ("401", AuthError, None),
    ("403", AuthError, None),
    ("500", TransientError, None),
    ("503", TransientError, None),
    ("timeout", TransientError, None),
    ("malformed", TransientError, None),
    ("drop", TransientError, None),
]


@pytest.mark.parametrize(("kind", "error", "retry_after"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_fault_table(env: Env, kind: str, error: type[Exception], retry_after: float | None) -> None:
    before = env.post("carla", "@acme before the fault")
    # The 429 fault's reset header is in wall-clock seconds, so this source reads the wall clock,
    # moved on by `later` when the test lets time pass.
    later = [0.0]
    src = env.source(clock=lambda: time.time() + later[0], timeout=0.25)
    first = await src.fetch({})
    during = env.post("dan", "@acme acme is down again")
    # Both streams fail; aiohttp retries a dropped keep-alive connection once, hence four.
    env.world.faults.add("/2/", Fault(kind, times=4, reset_in=30, delay=0.6))

    with pytest.raises(error) as caught:
        await src.fetch(cursors_of(first))

    if retry_after is None:
        assert getattr(caught.value, "retry_after", None) is None
    else:
        assert caught.value.retry_after == pytest.approx(retry_after, abs=2)  # type: ignore[attr-defined]
    env.world.faults.clear()
    later[0] += 31  # past any rate-limit reset: a client that honours it waits that long
    after = env.post("carla", "@acme and after it")
    recovered = await src.fetch(cursors_of(first))  # the cursor the failed fetch never moved
    assert {m.external_id for m in recovered.mentions} == {during, after}
    assert before not in {m.external_id for m in recovered.mentions}
    assert requests(env.world, "/2/users/1")[-1].query["since_id"] == before


async def test_one_failing_stream_does_not_lose_the_others(env: Env) -> None:
    src = env.source()
    first = await src.fetch({})
    mention = env.post("carla", "@acme still waiting")
    env.world.faults.add("/2/tweets/search/recent", Fault("503"))
    batch = await src.fetch(cursors_of(first))
    assert [m.external_id for m in batch.mentions] == [mention]
    assert set(cursors_of(batch)) == {"mentions:acme"}  # the search cursor did not move
    assert [(s, type(e)) for s, e in src.last_errors] == [(f"search:{QUERY}", TransientError)]


async def test_error_after_the_first_page_keeps_items_and_what_they_cover(env: Env) -> None:
    src = env.source(handles=[], max_pages=5)
    old = env.post("carla", "acme before")
    window_opened = env.clock.now
    first = await src.fetch({})
    env.world.limits["search_recent"] = 2  # the second page overspends the window: a real 429
    ids = [env.post("carla", f"acme complaint {i}") for i in range(15)]

    batch = await src.fetch(cursors_of(first))

    assert [m.external_id for m in batch.mentions] == ids[:4:-1]
    (stream, err), = src.last_errors
    assert stream == f"search:{QUERY}" and isinstance(err, TransientError)
    assert err.retry_after == pytest.approx(window_opened + 15 * 60 - env.clock.now, abs=1)  # the sandbox's window
    assert batch.rate_limit_remaining == 0
    assert StreamCursor.parse(batch.cursors[0].value) == StreamCursor(old, ids[5], ids[-1], read=10)
    env.clock.now += 15 * 60  # the window reopens
    rest = await src.fetch(cursors_of(batch))
    assert [m.external_id for m in rest.mentions] == ids[4::-1]
    assert cursors_of(rest)[f"search:{QUERY}"].value == ids[-1]


async def test_rate_limit_headers_reach_the_batch(env: Env) -> None:
    env.world.limits["mentions"] = 7
    batch = await env.source(queries=[]).fetch({})
    assert batch.rate_limit_remaining == 6
    assert batch.rate_limit_reset == pytest.approx(env.clock.now + 15 * 60, abs=2)


async def test_check_accepts_a_good_config(env: Env) -> None:
    await env.source().check()


@pytest.mark.parametrize(
    ("cfg", "error", "path"),
    [
        ({"handles": ["acme", "nosuchbrand"]}, ConfigError, "sources[2].handles[1]"),
        ({"handles": ["not a handle"]}, ConfigError, "sources[2].handles[0]"),
        ({"queries": ["ok", '"unbalanced']}, ConfigError, "sources[2].queries[1]"),
        ({"queries": ["(a OR b"]}, ConfigError, "sources[2].queries[0]"),
        ({"bearer_token": "expired"}, AuthError, None),
    ],
)
async def test_check_names_the_broken_field(env: Env, cfg: dict[str, Any], error: type[Exception],
                                            path: str | None) -> None:
    with pytest.raises(error) as caught:
        await env.source(path="sources[2]", **cfg).check()
    if path is not None:
        assert caught.value.path == path  # type: ignore[attr-defined]
        assert str(caught.value).startswith(path)


async def test_a_query_x_rejects_is_a_config_error_at_fetch(env: Env) -> None:
    src = env.source(handles=[], queries=["-is:retweet"])  # nothing standalone: X answers 400
    with pytest.raises(ConfigError) as caught:
        await src.fetch({})
    assert caught.value.path == "sources[0].queries[0]"


async def test_unknown_handle_at_fetch_is_a_config_error(env: Env) -> None:
    with pytest.raises(ConfigError) as caught:
        await env.source(handles=["ghost"], queries=[]).fetch({})
    assert caught.value.path == "sources[0].handles[0]"


async def test_token_revoked_mid_run_is_an_auth_error(env: Env) -> None:
    src = env.source()
    await src.fetch({})
    env.world.bearer_tokens.clear()
    spent = len(env.world.recorder.requests)
    with pytest.raises(AuthError):
        await src.fetch({})
    assert len(env.world.recorder.requests) == spent + 1  # no further stream spent a request on a dead token
    assert [(s, type(e)) for s, e in src.last_errors] == [("mentions:acme", AuthError), (f"search:{QUERY}", AuthError)]


async def test_secret_is_not_in_repr_or_errors(env: Env) -> None:
    src = env.source(bearer_token="very-secret-token")
    with pytest.raises(AuthError) as caught:
        await src.fetch({})
    assert "very-secret-token" not in str(caught.value) and "very-secret-token" not in repr(src.cfg)


async def test_cursor_older_than_search_reach_reads_what_it_can_and_reports_the_gap(env: Env) -> None:
    week = 7 * 24 * 3600
    stale = env.world.post("carla", "acme long ago")  # the cursor, then a long downtime
    env.clock.now += week + 3600
    lost = env.world.post("carla", "acme in the hole", at=env.clock.now - week - 600)  # older than X's reach
    fresh = [env.post("dan", f"acme back again {i}") for i in range(3)]
    src = env.source(handles=[])
    batch = await src.fetch({f"search:{QUERY}": Cursor(f"search:{QUERY}", stale)})
    assert "since_id" not in requests(env.world, "/2/tweets/search/recent")[-1].query  # X would answer 400
    assert sorted(m.external_id for m in batch.mentions) == sorted(fresh) and lost not in fresh
    assert cursors_of(batch)[f"search:{QUERY}"].value == fresh[-1]
    (gap,) = src.gaps
    assert gap.stream == f"search:{QUERY}"
    assert gap.start == pytest.approx(env.world.tweets[stale].at, abs=0.01)
    assert gap.end == pytest.approx(env.clock.now - week, abs=1)
    again = await src.fetch(cursors_of(batch))
    assert again.mentions == [] and src.gaps == []


@pytest.mark.parametrize("auth", [
    {"user_token": "acme-user-token"},  # OAuth 2.0 user context
    {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "acme-user-token",
     "access_token_secret": "ats"},  # OAuth 1.0a, as tweepy signs it
])
async def test_reply_posts_into_the_thread_and_a_retry_finds_it(env: Env, auth: dict[str, str]) -> None:
    complaint = env.post("carla", "@acme my parcel never came")
    src = env.source(**auth)
    (mention,) = [m for m in (await src.fetch({})).mentions if m.external_id == complaint]

    reply_id = await src.reply(mention, "So sorry! Please DM us your order number.", key="outbox-1")

    reply = env.world.tweets[reply_id]
    assert reply.reply_to == complaint and reply.conversation_id == complaint
    assert env.world.users[reply.author_id].username == "acme"
    post = env.world.recorder.matching("/2/tweets", "POST")[-1]
    assert post.json() == {"text": "So sorry! Please DM us your order number.",
                           "reply": {"in_reply_to_tweet_id": complaint}}
    assert post.headers["Authorization"].startswith("OAuth " if "consumer_key" in auth else "Bearer acme-user")
    # A retry of the same outbox row (the first attempt's answer was lost): X refuses the duplicate,
    # and the reply that did land is found instead of a second one being posted.
    again = await src.reply(mention, "So sorry! Please DM us your order number.", key="outbox-1")
    assert again == reply_id
    assert sum(1 for t in env.world.tweets.values() if t.reply_to == complaint) == 1
    assert await src.find_reply(mention) == reply_id


async def test_reply_without_user_credentials_is_a_config_error(env: Env) -> None:
    complaint = env.post("carla", "@acme hello")
    src = env.source()
    (mention,) = (await src.fetch({})).mentions
    assert mention.external_id == complaint
    with pytest.raises(ConfigError) as caught:
        await src.reply(mention, "hi", key="k")
    assert caught.value.path == "sources[0]"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_traffic_and_faults_lose_nothing(env: Env, seed: int) -> None:
    """Bursts bigger than max_pages can hold, faults on any page of any stream: once the faults
    stop, everything posted has been fetched, and the cursors are plain since_ids again."""
    import random

    rng = random.Random(seed)
    env.clock.now = time.time()  # 429 faults reset in wall-clock seconds: one clock for everything
    src = env.source(max_pages=2, timeout=0.5)
    cursors = cursors_of(await src.fetch({}))  # nothing posted yet: the cursors say "from now on"
    assert set(cursors) == {"mentions:acme", f"search:{QUERY}"}
    posted: set[str] = set()
    fetched: set[str] = set()
    for _ in range(40):
        env.clock.now += 2  # lets any rate-limit reset pass
        for _ in range(rng.choice([0, 0, 1, 3, 12, 35])):
            posted.add(env.post(rng.choice(["carla", "dan"]), f"@acme acme thing {len(posted)}"))
        if rng.random() < 0.4:
            path = rng.choice(["/2/users/", "/2/tweets/search/recent", "/2/"])
            env.world.faults.add(path, Fault(rng.choice(["503", "429", "malformed", "drop", "401"]),
                                             times=rng.randint(1, 2), reset_in=1))
        try:
            batch = await src.fetch(cursors)
        except (TransientError, AuthError):
            continue
        cursors.update(cursors_of(batch))
        fetched |= {m.external_id for m in batch.mentions}
    env.world.faults.clear()
    env.clock.now += 2
    for _ in range(10):
        batch = await src.fetch(cursors)
        cursors.update(cursors_of(batch))
        fetched |= {m.external_id for m in batch.mentions}
    assert fetched == posted
    assert all(c.value.isdigit() for c in cursors.values())


async def test_a_spent_window_is_not_asked_again_until_it_resets(env: Env) -> None:
    env.world.limits["mentions"] = 2
    src = env.source(queries=[])
    await src.fetch({})  # the handle lookup, then mentions: 1 of 2 left
    await src.fetch({})  # 0 left
    asked = len(requests(env.world, "/2/users/1"))
    with pytest.raises(TransientError) as caught:
        await src.fetch({})
    assert len(requests(env.world, "/2/users/1")) == asked  # no request, so no 429
    assert caught.value.retry_after == pytest.approx(15 * 60, abs=5)
    assert not any(r.status == 429 for r in env.world.recorder.requests)
    env.clock.now += 15 * 60
    await src.fetch({})
    assert len(requests(env.world, "/2/users/1")) == asked + 1


async def test_fetch_can_poll_only_some_streams(env: Env) -> None:
    env.post("carla", "@acme acme hi")
    batch = await env.source().fetch({}, streams=[f"search:{QUERY}"])
    assert {m.stream for m in batch.mentions} == {f"search:{QUERY}"}
    assert not requests(env.world, "/2/users/")


@pytest.mark.parametrize(("base", "url", "expected"), [
    ("http://127.0.0.1:8080", "https://api.twitter.com/2/tweets/search/recent",
     "http://127.0.0.1:8080/2/tweets/search/recent"),
    ("http://127.0.0.1:8080/x/", "https://api.twitter.com/2/users/me", "http://127.0.0.1:8080/x/2/users/me"),
    # OAuth 1.0a requests arrive signed and already encoded: not one byte of the query may change
    ("http://127.0.0.1:9", "https://api.twitter.com/2/users/me?a=1%3A2&q=%22acme%20app%22",
     "http://127.0.0.1:9/2/users/me?a=1%3A2&q=%22acme%20app%22"),
    ("https://api.twitter.com", "https://api.twitter.com/2/users/me", "https://api.twitter.com/2/users/me"),
])
async def test_requests_are_sent_to_api_base(base: str, url: str, expected: str) -> None:
    import aiohttp
    from yarl import URL

    from connectors.x import _TweepySession

    async with aiohttp.ClientSession() as raw:
        session = _TweepySession(raw, base, timeout=1)
        assert str(session.rebase(URL(url, encoded=True))) == expected
