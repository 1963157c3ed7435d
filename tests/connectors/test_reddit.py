"""RedditSource over real sockets: real praw/prawcore against the Reddit sandbox on port 0."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import prawcore
import pytest
import requests
from praw.exceptions import RedditAPIException

from connectors.base import AuthError, BadPayload, ConfigError, Source, TransientError
from connectors.reddit import RedditConfig, RedditSource, _translate
from connectors.reddit_things import (
    Mark,
    Thing,
    is_new,
    parse_thing,
    reached,
    to_mention,
)
from monitor.models import Batch, Cursor, Mention
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.reddit_api import RedditWorld, make_reddit_app
from monitor.sandbox.scenario import demo_scenario

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def world(clock: Clock) -> RedditWorld:
    w = RedditWorld(clock=clock)
    w.add_app("cid", "s3cret")
    w.add_user("AcmeCare", "pw")
    for sub in ("acme", "acmehelp", "gadgets"):
        w.add_subreddit(sub)
    return w


@pytest.fixture
async def base(world: RedditWorld) -> AsyncIterator[str]:
    server = Server(make_reddit_app(world))
    url = await server.start()
    yield url
    await server.stop()


@pytest.fixture
async def make_source(base: str, clock: Clock) -> AsyncIterator[Callable[..., RedditSource]]:
    made: list[RedditSource] = []

    def make(**overrides: Any) -> RedditSource:
        fields: dict[str, Any] = {
            "type": "reddit", "client_id": "cid", "client_secret": "s3cret", "username": "AcmeCare",
            "password": "pw", "api_base": base, "www_base": base, "queries": ['"acme app"'],
            "subreddits": ["acme"], "timeout": 0.2, "retry_pause": 0.0,
        }
        fields.update(overrides)
        own = fields.pop("own_handles", ("acme_official",))
        src = RedditSource(RedditConfig(**fields), own_handles=own, config_path="sources[0]", clock=clock)
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


def apply(cursors: dict[str, Cursor], batch: Batch) -> dict[str, Cursor]:
    """What the pipeline does after storing a batch."""
    return {**cursors, **{c.stream: c for c in batch.cursors}}


def ids(batch: Batch) -> list[str]:
    return sorted(m.external_id for m in batch.mentions)


# ---- streams ------------------------------------------------------------------------------------


async def test_it_is_a_source(make_source: Callable[..., RedditSource]) -> None:
    src = make_source()
    assert isinstance(src, Source)
    assert src.streams() == ["inbox", "sub:acme", 'search:"acme app"']


async def test_keyword_search_finds_posts_with_what_triage_needs(
    world: RedditWorld, base: str, make_source: Callable[..., RedditSource]
) -> None:
    hit = world.add_submission("gadgets", "Acme app keeps crashing", "since the update", author="alice", score=7)
    world.add_submission("gadgets", "Unrelated post", author="bob")
    src = make_source(subreddits=[], username=None, password=None)

    batch = await src.fetch({})

    assert ids(batch) == [hit["name"]]
    m = batch.mentions[0]
    assert m.source == "reddit" and m.stream == 'search:"acme app"'
    assert m.text == "Acme app keeps crashing\n\nsince the update"
    assert m.author.username == "alice" and m.author.followers == 0
    assert m.conversation_id == hit["name"] and m.in_reply_to == ""
    assert m.url == base + hit["permalink"]
    assert m.created_at.timestamp() == T0
    assert m.metrics == {"score": 7, "ups": 7, "num_comments": 0}
    assert not m.is_own
    assert batch.requests == 1
    assert batch.rate_limit_remaining == 99 and batch.rate_limit_reset is not None
    search = world.recorder.matching("/r/all/search")[0]
    assert search.query["q"] == '"acme app"' and search.query["sort"] == "new"
    assert search.query["raw_json"] == "1"


async def test_second_fetch_returns_only_new_things(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    first = world.add_submission("gadgets", "acme app is slow")
    src = make_source(subreddits=[], username=None, password=None)
    cursors = apply({}, b1 := await src.fetch({}))
    assert ids(b1) == [first["name"]]
    assert Mark.decode(cursors['search:"acme app"'].value) == Mark(T0, first["name"])

    clock.advance(30)
    second = world.add_submission("gadgets", "acme app login broken")
    b2 = await src.fetch(cursors)
    assert ids(b2) == [second["name"]]

    # a fresh process (nothing remembered) with the stored cursors: the lookback may repeat a
    # recent post for the store to dedupe; with no lookback nothing old comes back at all
    again = make_source(subreddits=[], username=None, password=None, search_lookback=0)
    assert ids(await again.fetch(apply(cursors, b2))) == []


async def test_paging_reads_back_to_the_cursor_and_only_then_advances(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    for i in range(3):
        world.add_submission("acme", f"old {i}")
        clock.advance(1)
    src = make_source(queries=[], username=None, password=None, page_size=2, max_pages=2)
    cursors = apply({}, await src.fetch({}))  # first run: one page is the baseline
    assert len(cursors) == 1

    new = [world.add_submission("acme", f"new {i}")["name"] for i in range(5)]
    for _ in range(5):
        clock.advance(1)
    cut_short = await src.fetch(cursors)  # 2 pages of 2 < 5 new: the cursor must wait
    assert sorted(new[1:]) == ids(cut_short)
    assert cut_short.cursors == []

    src.cfg.max_pages = 5
    rest = await src.fetch(cursors)
    assert ids(rest) == sorted(new)  # what was missing comes now (the store dedupes the rest)
    assert Mark.decode(rest.cursors[0].value).name == new[-1]  # type: ignore[union-attr]
    pages = world.recorder.matching("/r/acme/new")
    assert pages[-1].query.get("after")  # it paged


async def test_search_lookback_catches_late_indexed_posts_without_duplicates(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source(subreddits=[], username=None, password=None, search_lookback=300)
    world.add_submission("gadgets", "acme app down")
    clock.advance(100)
    cursors = apply({}, await src.fetch({}))
    late = world.add_submission("gadgets", "acme app crashed", created_utc=T0 + 50)  # indexed late
    clock.advance(10)
    b = await src.fetch(cursors)
    assert ids(b) == [late["name"]]
    assert ids(await src.fetch(apply(cursors, b))) == []


async def test_subreddit_stream_brings_posts_and_comments_with_thread_and_parent(
    world: RedditWorld, base: str, make_source: Callable[..., RedditSource]
) -> None:
    post = world.add_submission("acme", "Billing question", "charged twice", author="dana")
    first = world.add_comment(post["name"], "same for me", author="erin")
    src = make_source(queries=[], username=None, password=None)
    cursors = apply({}, await src.fetch({}))
    answer = world.add_comment(first["name"], "did you get a refund?", author="fred")

    batch = await src.fetch(cursors)

    assert ids(batch) == [answer["name"]]
    m = batch.mentions[0]
    assert m.stream == "sub:acme"
    assert m.conversation_id == post["name"] and m.in_reply_to == first["name"]
    assert m.url == base + answer["permalink"]
    assert m.raw["parent"] == {"id": first["name"], "author": "erin", "text": "same for me"}
    assert m.raw["link_title"] == "Billing question"
    assert world.recorder.matching("/api/info")[-1].query["id"] == first["name"]
    assert batch.requests == 3  # new + comments + info


async def test_inbox_mention_and_reply_to_the_bot(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source(queries=[], subreddits=[])
    cursors = apply({}, await src.fetch({}))
    mention = world.mention("AcmeCare", "my order never arrived", subreddit="gadgets", author="gina")

    batch = await src.fetch(cursors)

    assert ids(batch) == [mention["name"]]
    m = batch.mentions[0]
    assert m.stream == "inbox" and m.text.startswith("u/AcmeCare")
    assert m.conversation_id == mention["link_id"] and m.in_reply_to == mention["parent_id"]
    assert m.url.endswith(mention["permalink"])
    assert m.raw["type"] == "username_mention"


async def test_own_accounts_are_flagged_and_our_reply_is_never_a_new_mention(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source(queries=[])
    cursors = apply({}, await src.fetch({}))
    post = world.add_submission("acme", "Announcement", author="Acme_Official")
    question = world.add_comment(post["name"], "when is the fix?", author="hank")
    batch = await src.fetch(cursors)
    cursors = apply(cursors, batch)
    by_id = {m.external_id: m for m in batch.mentions}
    assert by_id[post["name"]].is_own and not by_id[question["name"]].is_own

    reply_id = await src.reply(by_id[question["name"]], "Tomorrow morning.", key="k1")
    again = await src.reply(by_id[question["name"]], "Tomorrow morning.", key="k1")  # a retried delivery
    assert again == reply_id
    assert len(world.comments_by("AcmeCare")) == 1

    echo = await src.fetch(cursors)
    assert [(m.external_id, m.is_own) for m in echo.mentions] == [(reply_id, True)]


async def test_reply_after_the_token_expired(world: RedditWorld, make_source: Callable[..., RedditSource]) -> None:
    world.add_submission("acme", "hi")
    src = make_source(queries=[])
    mention = (await src.fetch({})).mentions[0]
    issued = world.tokens_issued
    world.faults.add("/api/comment", Fault("401"))  # the token expires between the check and the POST
    reply_id = await src.reply(mention, "hello", key="k")
    assert world.thing(reply_id)["parent_id"] == mention.external_id
    assert [r.status for r in world.recorder.matching("/api/comment")] == [401, 200]
    assert world.tokens_issued == issued + 1


async def test_a_batch_the_pipeline_did_not_store_comes_again(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source(username=None, password=None)
    world.add_submission("gadgets", "acme app old news")
    cursors = apply({}, await src.fetch({}))
    clock.advance(5)
    post = world.add_submission("acme", "acme app broke", author="jo")
    lost = await src.fetch(cursors)  # ... and the transaction that should store it fails
    assert post["name"] in ids(lost)
    again = await src.fetch(cursors)
    assert ids(again) == ids(lost)
    assert ids(await src.fetch(apply(cursors, again))) == []  # stored now: nothing twice


async def test_a_failing_stream_loses_nothing_read_by_the_others(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source(username=None, password=None)
    cursors = apply({}, await src.fetch({}))
    clock.advance(5)
    post = world.add_submission("acme", "acme app broke", author="jo")
    world.faults.add("/r/all/search", Fault("503", times=3))

    batch = await src.fetch(cursors)  # Reddit search is down; the subreddit still delivers

    assert ids(batch) == [post["name"]]
    assert [(stream, type(e)) for stream, e in src.last_errors] == [('search:"acme app"', TransientError)]
    assert [c.stream for c in batch.cursors] == ["sub:acme"]
    later = await src.fetch(apply(cursors, batch))
    assert [c.stream for c in later.cursors] == ['search:"acme app"'] and src.last_errors == []


async def test_an_auth_error_stops_the_other_streams(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source()
    world.faults.add("/message/inbox", Fault("401", times=3))  # prawcore retries a 401 twice itself
    with pytest.raises(AuthError):
        await src.fetch({})
    assert world.recorder.matching("/r/") == []  # same token: not tried
    assert [stream for stream, _ in src.last_errors] == src.streams()


async def test_an_unreachable_host_is_not_asked_again_by_the_next_stream(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source()
    world.faults.add("/message/inbox", Fault("drop", times=3))
    with pytest.raises(TransientError):
        await src.fetch({})
    assert world.recorder.matching("/r/") == []
    await src.close()
    await src.close()  # twice is harmless


async def test_a_listing_that_ends_before_the_cursor_reports_the_gap(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    world.listing_cap = 3
    src = make_source(queries=[], username=None, password=None, page_size=2)
    world.add_submission("acme", "seen")
    cursors = apply({}, await src.fetch({}))
    assert src.gaps == []
    for i in range(5):
        clock.advance(10)
        world.add_submission("acme", f"burst {i}")
    batch = await src.fetch(cursors)
    assert len(batch.mentions) == 3 and batch.cursors  # all it can reach; the cursor moves on
    assert [(g.stream, g.start, g.end) for g in src.gaps] == [("sub:acme", T0, T0 + 30)]


async def test_a_scripted_reddit_thread_lands_as_one_conversation(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    keys = world.schedule(demo_scenario("acme", duration_s=100), start_at=T0)
    src = make_source(queries=[], username=None, password=None)
    cursors: dict[str, Cursor] = {}
    seen: list[Mention] = []
    for _ in range(10):  # polls every 10 s while the thread unfolds
        clock.advance(10)
        batch = await src.fetch(cursors)
        cursors = apply(cursors, batch)
        seen += batch.mentions
    thread = [keys[k] for k in keys if k.startswith("reddit-thread")]
    assert sorted(m.external_id for m in seen) == sorted(thread)  # every post and comment, once
    assert {m.conversation_id for m in seen} == {keys["reddit-thread"]}  # one ticket


# ---- check ----------------------------------------------------------------------------------------


async def test_check_passes_with_good_config(make_source: Callable[..., RedditSource]) -> None:
    await make_source(subreddits=["acme", "acmehelp"]).check()


@pytest.mark.parametrize(
    ("overrides", "error", "path"),
    [
        ({"subreddits": ["acme", "nosuchsub"]}, ConfigError, "sources[0].subreddits[1]"),
        ({"search_subreddits": ["gadgets", "nosuchsub"]}, ConfigError, "sources[0].search_subreddits[1]"),
        ({"client_secret": "wrong"}, AuthError, ""),
        ({"password": "wrong"}, AuthError, ""),
        ({"client_secret": "wrong", "username": None, "password": None}, AuthError, ""),
    ],
)
async def test_check_names_what_is_wrong(
    make_source: Callable[..., RedditSource], overrides: dict[str, Any], error: type[Exception], path: str
) -> None:
    with pytest.raises(error) as info:
        await make_source(**overrides).check()
    if path:
        assert info.value.path == path  # type: ignore[attr-defined]


async def test_unknown_subreddit_during_fetch_is_a_config_error(make_source: Callable[..., RedditSource]) -> None:
    src = make_source(queries=[], subreddits=["acme", "gone"], username=None, password=None)
    batch = await src.fetch({})  # r/acme answers (empty: it starts from now); r/gone is the failing stream
    assert [c.stream for c in batch.cursors] == ["sub:acme"]
    (stream, err), = src.last_errors
    assert stream == "sub:gone" and isinstance(err, ConfigError) and err.path == "sources[0].subreddits[1]"


def test_username_without_password_is_refused() -> None:
    cfg = RedditConfig(type="reddit", client_id="c", client_secret="s", username="bot")
    with pytest.raises(ConfigError, match="sources.3.password"):
        RedditSource(cfg, config_path="sources.3")


# ---- faults ------------------------------------------------------------------------------------------

# (fault, times, error, requests that fault path sees) — prawcore retries 5xx, drops, timeouts
# and 401s twice itself, so a fault must last three attempts to reach us.
FAULTS = [
    (Fault("429", reset_in=42), 1, TransientError, 1),
    (Fault("429-no-reset"), 1, TransientError, 1),
    (Fault("401"), 3, AuthError, 3),
    (Fault("403"), 1, ConfigError, 1),  # a 403 without a challenge is the resource's: that stream fails
    (Fault("403-private"), 1, ConfigError, 1),
    (Fault("401-bare"), 3, AuthError, 3),  # prawcore raised a bare KeyError
    (Fault("500"), 3, TransientError, 3),
    (Fault("503"), 3, TransientError, 3),
    (Fault("timeout", delay=0.5), 3, TransientError, 3),
    (Fault("malformed"), 1, TransientError, 1),
    (Fault("drop"), 3, TransientError, 3),
]


@pytest.mark.parametrize(("fault", "times", "error", "attempts"), FAULTS, ids=[f[0].kind for f in FAULTS])
async def test_fault_table(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource],
    fault: Fault, times: int, error: type[Exception], attempts: int,
) -> None:
    src = make_source(queries=[], username=None, password=None)
    cursors = apply({}, await src.fetch({}))
    before = dict(cursors)
    clock.advance(5)
    waiting = world.add_submission("acme", "checkout fails", author="ivy")

    fault.times = times
    world.faults.add("/r/acme/new", fault)
    world.recorder.clear()
    with pytest.raises(error) as info:
        await src.fetch(cursors)
    assert len(world.recorder.matching("/r/acme/new")) == attempts
    assert cursors == before  # nothing to save: the pipeline keeps what it has
    if fault.kind == "429":
        assert info.value.retry_after == 42  # type: ignore[attr-defined]
    if fault.kind == "429-no-reset":
        assert info.value.retry_after is None  # type: ignore[attr-defined]

    # the fault clears: the same cursors bring what arrived meanwhile, nothing lost
    after = await src.fetch(cursors)
    assert ids(after) == [waiting["name"]]
    assert after.cursors and Mark.decode(after.cursors[0].value).name == waiting["name"]  # type: ignore[union-attr]


async def test_one_server_error_is_absorbed_by_prawcores_retry(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    post = world.add_submission("acme", "hello")
    src = make_source(queries=[], username=None, password=None)
    world.faults.add("/r/acme/new", Fault("503", times=1))
    batch = await src.fetch({})
    assert post["name"] in ids(batch)
    assert batch.requests == 3  # new (503), new again, comments


async def test_token_expired_mid_run_reauthenticates_transparently(
    world: RedditWorld, clock: Clock, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source(queries=[])
    cursors = apply({}, await src.fetch({}))
    issued = world.tokens_issued
    clock.advance(5)
    post = world.add_submission("acme", "still broken")
    world.expire_tokens()

    batch = await src.fetch(cursors)

    assert post["name"] in ids(batch)
    assert world.tokens_issued == issued + 1  # one re-auth, not one per call
    statuses = [r.status for r in world.recorder.requests if r.path != "/api/v1/access_token"]
    assert statuses.count(401) == 1


async def test_revoked_credentials_are_an_auth_error(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    src = make_source(queries=[])
    cursors = apply({}, await src.fetch({}))
    world.add_user("AcmeCare", "rotated")  # someone changed the password
    world.expire_tokens()
    with pytest.raises(AuthError):
        await src.fetch(cursors)


async def test_spent_budget_goes_back_to_the_scheduler_without_a_429(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    world.rate_limit = 3
    src = make_source(queries=[], subreddits=["acme", "acmehelp"], username=None, password=None)
    await src.fetch({})  # needs 4 calls; the 3rd answer says none remain: r/acme is read, r/acmehelp waits
    (stream, err), = src.last_errors
    assert stream == "sub:acmehelp" and isinstance(err, TransientError)
    assert 0 < err.retry_after <= 60  # type: ignore[operator]
    sent = len(world.recorder.requests)
    with pytest.raises(TransientError):
        await src.fetch({})
    assert len(world.recorder.requests) == sent  # nothing sent while the window is spent
    assert world.rate_limited == 0


async def test_malformed_items_are_skipped_and_counted(
    world: RedditWorld, make_source: Callable[..., RedditSource]
) -> None:
    good = world.add_submission("acme", "fine")
    broken = world.add_submission("acme", "broken")
    world.corrupt(broken["name"], created_utc="yesterday")
    batch = await make_source(queries=[], username=None, password=None).fetch({})
    assert ids(batch) == [good["name"]] and batch.skipped_bad == 1


async def test_reply_refused_by_reddit(world: RedditWorld, make_source: Callable[..., RedditSource]) -> None:
    post = world.add_submission("acme", "hi")
    src = make_source(queries=[])
    mention = (await src.fetch({})).mentions[0]
    world.faults.add("/api/comment", Fault("drop"))
    with pytest.raises(TransientError):
        await src.reply(mention, "hello", key="k")
    assert len(world.recorder.matching("/api/comment")) == 1  # a POST is never retried blindly
    world.delete(post["name"])  # the post was deleted meanwhile
    with pytest.raises(BadPayload, match="DELETED_COMMENT"):
        await src.reply(mention, "hello", key="k")


# ---- pure parts --------------------------------------------------------------------------------------


def thing(name: str, created: float, **data: Any) -> Thing:
    t = parse_thing({"kind": name[:2], "data": {"name": name, "created_utc": created, **data}})
    assert t is not None
    return t


@pytest.mark.parametrize(
    ("name", "created", "mark", "lookback", "returned", "new", "stop"),
    [
        ("t3_b", 100, None, 0, (), True, False),
        ("t3_b", 101, Mark(100, "t3_a"), 0, (), True, False),
        ("t3_b", 100, Mark(100, "t3_a"), 0, (), True, False),  # same second: cannot be ordered
        ("t1_0", 100, Mark(100, "t3_z"), 0, (), True, False),  # ... nor across kinds
        ("t1_0", 100, Mark(100, "t3_z"), 0, ("t1_0",), False, False),  # ... unless returned already
        ("t3_a", 100, Mark(100, "t3_a"), 0, (), False, False),  # the cursor itself
        ("t1_z", 99, Mark(100, "t3_a"), 0, (), False, True),
        ("t3_c", 80, Mark(100, "t3_a"), 30, (), True, False),  # late-indexed, within lookback
        ("t3_c", 80, Mark(100, "t3_a"), 30, ("t3_c",), False, False),  # ... already returned
        ("t3_c", 60, Mark(100, "t3_a"), 30, (), False, True),
        ("t3_d", 200, Mark(100, "t3_a"), 0, ("t3_d",), False, False),
    ],
)
def test_cursor_rules(name: str, created: float, mark: Mark | None, lookback: float,
                      returned: tuple[str, ...], new: bool, stop: bool) -> None:
    t = thing(name, created)
    assert is_new(t, mark, lookback, returned) is new
    assert reached(t, mark, lookback) is stop


@pytest.mark.parametrize(
    ("value", "mark"),
    [
        ("1700000000.0:t3_abc", Mark(1_700_000_000.0, "t3_abc")),
        ("12.5:t1_zz9", Mark(12.5, "t1_zz9")),
        ("garbage", None),
        ("1700000000.0:t5_abc", None),
        ("soon:t3_abc", None),
    ],
)
def test_mark_decoding(value: str, mark: Mark | None) -> None:
    assert Mark.decode(value) == mark
    if mark is not None:
        assert Mark.decode(mark.encode()) == mark


@pytest.mark.parametrize(
    "child",
    [None, {"kind": "t3"}, {"data": {"name": "t3_a"}}, {"data": {"name": "x", "created_utc": 1}},
     {"data": {"name": "t3_a", "created_utc": True}}, {"data": {"name": "t3_a", "created_utc": "1"}}],
)
def test_unusable_children_are_rejected(child: Any) -> None:
    assert parse_thing(child) is None


@pytest.mark.parametrize(
    ("data", "conversation", "reply_to", "url"),
    [
        ({"author": "a", "title": "T", "permalink": "/r/x/comments/p1/t/"}, "t3_p1", "", "https://w/r/x/comments/p1/t/"),
        ({"author": None, "body": "b", "link_id": "t3_p1", "parent_id": "t1_c0",
          "permalink": "/r/x/comments/p1/t/c1/"}, "t3_p1", "t1_c0", "https://w/r/x/comments/p1/t/c1/"),
        ({"author": "a", "body": "u/bot hi", "parent_id": "t3_p1",
          "context": "/r/x/comments/p1/t/c2/?context=3"}, "t3_p1", "t3_p1", "https://w/r/x/comments/p1/t/c2/"),
    ],
)
def test_things_become_mentions(data: dict[str, Any], conversation: str, reply_to: str, url: str) -> None:
    name = "t3_p1" if "title" in data else "t1_c9"
    m = to_mention(thing(name, 5, **data), source="r", stream="s", www_base="https://w/", own=frozenset({"a"}))
    assert (m.conversation_id, m.in_reply_to, m.url) == (conversation, reply_to, url)
    assert m.is_own is (data["author"] == "a")
    assert m.author.username == (data["author"] or "[deleted]")


TOKEN_URL = "https://www.reddit.com/api/v1/access_token"


def response(status: int, headers: dict[str, str] | None = None, body: bytes = b"{}",
             url: str = "https://oauth.reddit.com/r/x/new?raw_json=1") -> requests.Response:
    r = requests.Response()
    r.status_code, r._content, r.url = status, body, url
    r.headers.update(headers or {})
    return r


CHALLENGE = {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'}


def _bare_challenge() -> KeyError:
    """What prawcore raises for a 401 that has no www-authenticate header."""
    from prawcore.util import authorization_error_class

    try:
        authorization_error_class(response(401))
    except KeyError as e:
        return e
    raise AssertionError("prawcore no longer raises KeyError on a bare 401")
TRANSLATIONS = [
    (prawcore.TooManyRequests(response(429, {"retry-after": "7"})), TransientError, "", 7.0),
    (prawcore.TooManyRequests(response(429, {"x-ratelimit-reset": "30"})), TransientError, "", 30.0),
    (prawcore.TooManyRequests(response(429, {"x-ratelimit-reset": "0"})), TransientError, "", 1.0),
    (prawcore.TooManyRequests(response(429)), TransientError, "", None),
    (prawcore.ServerError(response(503)), TransientError, "", None),
    (prawcore.BadJSON(response(200, body=b"{")), TransientError, "", None),
    (prawcore.RequestException(requests.ConnectionError("reset"), (), {}), TransientError, "", None),
    (prawcore.InvalidToken(response(401, CHALLENGE)), AuthError, "", None),
    (prawcore.Forbidden(response(403)), ConfigError, "s.subreddits[0]", None),
    (prawcore.Forbidden(response(403, url=TOKEN_URL)), AuthError, "", None),
    (prawcore.InsufficientScope(response(403, {"www-authenticate": 'Bearer error="insufficient_scope"'})),
     AuthError, "", None),
    (_bare_challenge(), AuthError, "", None),
    (prawcore.ResponseException(response(429, {"x-ratelimit-reset": "12"}, url=TOKEN_URL)), TransientError, "", 12.0),
    (prawcore.OAuthException(response(200), "invalid_grant"), AuthError, "", None),
    (prawcore.ResponseException(response(401)), AuthError, "", None),
    (prawcore.Redirect(response(302, {"location": "/subreddits/search.json?q=x"})), ConfigError, "s.subreddits[0]", None),
    (prawcore.NotFound(response(404)), ConfigError, "s.subreddits[0]", None),
    (prawcore.BadRequest(response(400)), ConfigError, "s.queries[2]", None),
    (prawcore.ResponseException(response(418)), TransientError, "", None),
    (RedditAPIException([["RATELIMIT", "Take a break for 9 minutes before trying again.", "ratelimit"]]),
     TransientError, "", 540.0),
    (RedditAPIException([["THREAD_LOCKED", "that thread is locked", "parent"]]), BadPayload, "", None),
]


@pytest.mark.parametrize(("exc", "ours", "path", "retry_after"), TRANSLATIONS,
                         ids=[f"{type(t[0]).__name__}-{i}" for i, t in enumerate(TRANSLATIONS)])
def test_translate(exc: Exception, ours: type[Exception], path: str, retry_after: float | None) -> None:
    got = _translate(exc, path="s.subreddits[0]", bad_request_path="s.queries[2]")
    assert type(got) is ours
    if path:
        assert got.path == path  # type: ignore[union-attr]
    if isinstance(got, TransientError):
        assert got.retry_after == retry_after


def test_translate_leaves_our_bugs_alone() -> None:
    assert _translate(KeyError("x"), path="") is None
