"""What the real X and Reddit APIs do that a tidy sandbox never did, each over real sockets with
the real clients (tweepy, praw): errors-only 200s, a private subreddit's 403, a 401 without a
challenge, the token endpoint's own rate pool and 429, [deleted]/[removed] things, private
messages in the inbox, long and withheld posts."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.base import AuthError, ConfigError, TransientError
from connectors.reddit import RedditConfig, RedditSource
from connectors.x import XConfig, XSource
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.reddit_api import TOKEN_PATH, RedditWorld, make_reddit_app
from monitor.sandbox.x_api import XWorld, make_x_app
from monitor.triage import load_triage

T0 = 1_760_000_000.0


# ---- X ------------------------------------------------------------------------------------


@pytest.fixture
async def x() -> AsyncIterator[tuple[XWorld, Clock, Any]]:
    clock = Clock(T0)
    world = XWorld(clock, bearer_token="b")
    world.add_user("acme", "Acme")
    world.add_user("acmehelp", "Acme Help")
    world.add_user("carla", "Carla", 1200)
    server = Server(make_x_app(world))
    url = await server.start()
    made: list[XSource] = []

    def source(**kw: Any) -> XSource:
        cfg = {"type": "x", "bearer_token": "b", "api_base": url, "handles": ["acme", "acmehelp"],
               "queries": [], "max_results": 10, **kw}
        src = XSource(XConfig(**cfg), config_path="sources[0]", clock=clock)
        made.append(src)
        return src

    yield world, clock, source
    for s in made:
        await s.close()
    await server.stop()


async def test_x_errors_only_200_is_a_failing_stream_and_the_cursor_stays(x) -> None:
    world, clock, source = x
    src = source()
    first = await src.fetch({})  # both handles resolved and started from "now"
    cursors = {c.stream: c for c in first.cursors}
    world.suspend("acme")
    clock.now += 5
    world.post("carla", "@acmehelp where is my refund")

    batch = await src.fetch(cursors)

    assert [m.text for m in batch.mentions] == ["@acmehelp where is my refund"]
    assert "mentions:acme" not in {c.stream for c in batch.cursors}, "a suspended handle's cursor must not move"
    (stream, err), = src.last_errors
    assert stream == "mentions:acme" and isinstance(err, ConfigError)
    assert "sources[0].handles[0]" in str(err) and "suspended" in str(err)


async def test_x_errors_only_on_the_first_poll_writes_no_now_cursor(x) -> None:
    world, _, source = x
    world.suspend("acme")
    src = source(handles=["acme"])
    src._user_ids["acme"] = world.user_by_username("acme").id  # resolved before the suspension
    with pytest.raises(ConfigError, match="suspended"):
        await src.fetch({})


async def test_x_partial_errors_beside_data_are_kept_logged_and_counted(x) -> None:
    world, clock, source = x
    src = source(handles=["acme"])
    cursors = {c.stream: c for c in (await src.fetch({})).cursors}
    clock.now += 1
    world.post("carla", "@acme my card was charged twice")
    world.suspend("carla")  # the author X will not show: left out of includes, with an error beside data
    batch = await src.fetch(cursors)
    assert [m.text for m in batch.mentions] == ["@acme my card was charged twice"]
    assert src.partial_errors == 1 and src.last_errors == []


async def test_x_long_posts_are_read_whole_and_withheld_is_recorded(x) -> None:
    world, clock, source = x
    src = source(handles=["acme"])
    cursors = {c.stream: c for c in (await src.fetch({})).cursors}
    long_text = "@acme " + "the flight was fine but " * 12 + "my card was charged twice and nobody answers"
    assert len(long_text) > 280
    clock.now += 1
    world.post("carla", long_text, withheld_in=["DE", "FR"])
    (m,), = [(await src.fetch(cursors)).mentions]
    assert m.text == long_text
    assert m.raw["tweet"]["withheld"]["country_codes"] == ["DE", "FR"] and m.raw["withheld_in"] == ["DE", "FR"]
    asked = world.recorder.matching("/2/users/")[-1].query["tweet.fields"].split(",")
    assert {"note_tweet", "withheld"} <= set(asked)
    verdict = load_triage().classify(m)
    assert verdict.category == "billing", verdict  # the words past 280 characters were triaged


# ---- Reddit -------------------------------------------------------------------------------


@pytest.fixture
async def reddit() -> AsyncIterator[tuple[RedditWorld, Clock, Any]]:
    clock = Clock(T0)
    world = RedditWorld(clock=clock)
    world.add_app("cid", "s3cret")
    world.add_user("AcmeCare", "pw")
    for sub in ("acme", "acmeprivate"):
        world.add_subreddit(sub)
    server = Server(make_reddit_app(world))
    url = await server.start()
    made: list[RedditSource] = []

    def source(**kw: Any) -> RedditSource:
        cfg = {"type": "reddit", "client_id": "cid", "client_secret": "s3cret", "username": "AcmeCare",
               "password": "pw", "api_base": url, "www_base": url, "queries": ["acme"],
               "subreddits": ["acme", "acmeprivate"], "timeout": 0.5, "retry_pause": 0.0, "fetch_parents": False,
               **kw}
        src = RedditSource(RedditConfig(**cfg), config_path="sources[1]", clock=clock)
        made.append(src)
        return src

    yield world, clock, source
    for s in made:
        await s.close()
    await server.stop()


async def test_reddit_403_on_one_subreddit_fails_that_stream_only(reddit) -> None:
    world, clock, source = reddit
    world.restrict("acmeprivate", "private")
    world.add_submission("acme", "acme app down again", author="ana")
    src = source()
    batch = await src.fetch({})
    assert [m.text for m in batch.mentions if m.stream == "sub:acme"]
    assert {c.stream for c in batch.cursors} >= {"sub:acme", "search:acme"}
    (stream, err), = src.last_errors
    assert stream == "sub:acmeprivate" and isinstance(err, ConfigError) and not isinstance(err, AuthError)
    assert "sources[1].subreddits[1]" in str(err) and "private" in str(err)


async def test_reddit_quarantined_and_banned_subreddits_are_stream_failures_too(reddit) -> None:
    world, _, source = reddit
    world.restrict("acmeprivate", "quarantined")
    world.add_submission("acme", "acme app down again", author="ana")
    src = source()
    await src.fetch({})
    assert [(s, type(e)) for s, e in src.last_errors] == [("sub:acmeprivate", ConfigError)]
    world.restrict("acmeprivate", "banned")
    await src.fetch({})
    assert [(s, type(e)) for s, e in src.last_errors] == [("sub:acmeprivate", ConfigError)]


async def test_reddit_401_without_www_authenticate_is_an_auth_error(reddit) -> None:
    world, _, source = reddit
    src = source()
    await src.fetch({})
    world.faults.add("/message/", Fault("401-bare", times=5))
    with pytest.raises(AuthError, match="www-authenticate"):
        await src.fetch({})


async def test_reddit_token_endpoint_headers_do_not_overwrite_the_apis(reddit) -> None:
    world, _, source = reddit
    world.token_rate_limit = 5  # the token pool: 5 a window, so its headers say "1 left" after 4
    world.tokens_issued = 0
    src = source()
    await src.fetch({})
    api = src.rate_limits["api"]
    assert api.limit == 100 and api.remaining > 90, api  # the API's window, not the token endpoint's


async def test_reddit_token_429_is_a_rate_limit_asked_once_per_fetch(reddit) -> None:
    world, _, source = reddit
    src = source()
    await src.fetch({})
    world.expire_tokens()
    world.faults.add(TOKEN_PATH, Fault("429", times=10, reset_in=42))
    before = len(world.recorder.matching(TOKEN_PATH))
    with pytest.raises(TransientError) as caught:
        await src.fetch({})
    assert caught.value.rate_limited and caught.value.retry_after == 42
    assert "unexpected" not in str(caught.value)
    # prawcore re-authenticates on the 401 once (and retries it); the other streams do not ask again
    asked = len(world.recorder.matching(TOKEN_PATH)) - before
    assert asked == 1, asked


async def test_reddit_deleted_and_removed_things_are_marked_and_not_triaged(reddit) -> None:
    world, clock, source = reddit
    src = source(subreddits=["acme"], queries=[])
    post = world.add_submission("acme", "acme charged me twice", "refund please", author="ana")
    gone = world.add_comment(post["name"], "this is a scam, acme stole my money", author="ben")
    left = world.add_comment(post["name"], "same here, my card was charged twice", author="cy")
    world.remove(gone["name"], by="moderator")
    world.remove(post["name"], by="author")
    batch = await src.fetch({})
    by_id = {m.external_id: m for m in batch.mentions}
    assert by_id[gone["name"]].removed and by_id[gone["name"]].text == "[removed]"
    assert by_id[gone["name"]].author.username == "[deleted]"
    assert by_id[post["name"]].removed
    assert not by_id[left["name"]].removed
    assert load_triage().classify(by_id[gone["name"]]).urgency == "ignore"


async def test_reddit_private_messages_in_the_inbox_are_passed_over_cleanly(reddit) -> None:
    world, clock, source = reddit
    src = source(subreddits=[], queries=[])
    cursors = {c.stream: c for c in (await src.fetch({})).cursors}
    clock.now += 10
    world.message("AcmeCare", "refund", "hi, where is my refund?", author="ana")
    clock.now += 10
    comment = world.mention("AcmeCare", "the app is down", author="ben")
    batch = await src.fetch(cursors)
    assert [m.external_id for m in batch.mentions] == [comment["name"]]
    assert batch.skipped_bad == 0 and src.last_errors == []

