"""The Reddit sandbox speaks what praw/prawcore really call: real praw and raw HTTP over port 0."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
import praw
import prawcore
import pytest
from multidict import CIMultiDict

from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.reddit_api import RedditWorld, _matches, make_reddit_app
from monitor.sandbox.scenario import Scenario, demo_scenario

T0 = 1_700_000_000.0
R = TypeVar("R")
BASIC = {"Authorization": aiohttp.encode_basic_auth("cid", "sec")}
RATE_HEADERS = ("x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def world(clock: Clock) -> RedditWorld:
    w = RedditWorld(clock=clock)
    w.add_app("cid", "sec")
    w.add_user("BrandBot", "pw")
    return w


@pytest.fixture
async def base(world: RedditWorld) -> AsyncIterator[str]:
    server = Server(make_reddit_app(world))
    yield await server.start()
    await server.stop()


@pytest.fixture
async def http(base: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base) as session:
        yield session


async def token(http: aiohttp.ClientSession, **form: str) -> str:
    form = form or {"grant_type": "password", "username": "BrandBot", "password": "pw"}
    async with http.post("/api/v1/access_token", data=form, headers=BASIC) as resp:
        return (await resp.json())["access_token"]


async def get(http: aiohttp.ClientSession, tok: str, path: str, **params: Any) -> tuple[int, CIMultiDict[str], Any]:
    async with http.get(path, params=params, headers={"Authorization": f"bearer {tok}"},
                        allow_redirects=False) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, resp.headers.copy(), body


def names(listing: dict[str, Any]) -> list[str]:
    return [c["data"]["name"] for c in listing["data"]["children"]]


def praw_client(base: str, **kw: Any) -> praw.Reddit:
    args: dict[str, Any] = {"client_id": "cid", "client_secret": "sec", "username": "BrandBot", "password": "pw"}
    args.update(kw)
    return praw.Reddit(user_agent="sandbox-test/1.0", oauth_url=base, reddit_url=base, short_url=base,
                       check_for_updates=False, check_for_async=False, **args)


async def in_thread(fn: Callable[[], R]) -> R:
    # praw blocks: run it off the loop that serves the sandbox
    with ThreadPoolExecutor(max_workers=1) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)


# ---- praw's own calls -----------------------------------------------------------------------------


async def test_praw_reads_and_replies_through_the_sandbox(world: RedditWorld, base: str) -> None:
    post = world.add_submission("acme", "Acme app is down", "since 9am", author="alice")
    world.add_submission("other", "nothing to see", author="bob")
    comment = world.add_comment(post["name"], "same here", author="carol")
    mention = world.mention("BrandBot", "please look", author="dan")
    reddit = praw_client(base)

    def use() -> dict[str, Any]:
        return {
            "search": [s.id for s in reddit.subreddit("all").search("acme", sort="new", limit=5)],
            "restricted": [s.id for s in reddit.subreddit("other").search("acme", sort="new")],
            "new": [s.title for s in reddit.subreddit("acme").new(limit=5)],
            "comments": [c.body for c in reddit.subreddit("acme").comments(limit=5)],
            "tree": [c.body for c in reddit.submission(post["id"]).comments.list()],
            "mentions": [(m.body, m.subject) for m in reddit.inbox.mentions(limit=5)],
            "info": [t.fullname for t in reddit.info(fullnames=[comment["name"], post["name"]])],
            "me": reddit.user.me().name,
            "limits": reddit.auth.limits,
            "reply": (lambda r: (r.body, r.parent_id, str(r.author)))(reddit.comment(comment["id"]).reply("On it.")),
        }

    got = await in_thread(use)

    assert got["search"] == [post["id"]]
    assert got["restricted"] == []
    assert got["new"] == ["Acme app is down"]
    assert got["comments"] == ["same here"]
    assert got["tree"] == ["same here"]
    assert got["mentions"] == [(mention["body"], "username mention")]
    assert got["info"] == [comment["name"], post["name"]]
    assert got["me"] == "BrandBot"
    assert got["reply"] == ("On it.", comment["name"], "BrandBot")
    assert got["limits"]["used"] == len(world.recorder.requests) - 2  # all but the token request and the reply
    assert all(r.query.get("raw_json") == "1" for r in world.recorder.requests[1:])


async def test_praw_auth_failures(base: str) -> None:
    def me(**kw: Any) -> Any:
        return praw_client(base, **kw).user.me()

    with pytest.raises(prawcore.OAuthException, match="invalid_grant"):
        await in_thread(lambda: me(password="nope"))
    with pytest.raises(prawcore.ResponseException, match="401"):
        await in_thread(lambda: me(client_secret="nope"))


async def test_unknown_subreddit_redirects_like_reddit(world: RedditWorld, base: str) -> None:
    reddit = praw_client(base)
    with pytest.raises(prawcore.Redirect) as info:
        await in_thread(lambda: list(reddit.subreddit("nosuchsub").new(limit=1)))
    assert info.value.path == "/subreddits/search"


# ---- the wire -----------------------------------------------------------------------------------------


async def test_tokens_by_grant(http: aiohttp.ClientSession) -> None:
    async with http.post("/api/v1/access_token", data={"grant_type": "client_credentials"},
                         headers=BASIC) as resp:
        body = await resp.json()
    assert resp.status == 200 and body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    app_only = body["access_token"]
    status, _, _ = await get(http, app_only, "/message/mentions")
    assert status == 403  # no account behind an app-only token
    status, _, _ = await get(http, await token(http), "/message/mentions")
    assert status == 200


async def test_every_api_answer_carries_all_three_rate_headers(world: RedditWorld, http: aiohttp.ClientSession) -> None:
    world.add_submission("acme", "x")
    tok = await token(http)
    for path in ("/r/acme/new", "/r/acme/comments", "/r/all/search?q=x", "/api/info?id=t3_1",
                 "/message/inbox", "/api/v1/me", "/r/nosuchsub/new", "/no/such/route"):
        status, headers, _ = await get(http, tok, path)
        assert all(h in headers for h in RATE_HEADERS), (path, status)


async def test_rate_window_per_client_answers_429_when_overspent(
    world: RedditWorld, clock: Clock, http: aiohttp.ClientSession
) -> None:
    world.rate_limit, world.rate_window = 2, 60
    clock.now = T0 - T0 % 60 + 10  # 10 s into a window (windows are aligned on the clock)
    tok = await token(http)
    seen = [await get(http, tok, "/r/all/new") for _ in range(3)]
    assert [s for s, _, _ in seen] == [200, 200, 429]
    assert [(h["x-ratelimit-used"], h["x-ratelimit-remaining"], h["x-ratelimit-reset"]) for _, h, _ in seen] == [
        ("1", "1.0", "50"), ("2", "0.0", "50"), ("2", "0.0", "50")]
    assert world.rate_limited == 1
    clock.now += 50
    assert (await get(http, tok, "/r/all/new"))[0] == 200


async def test_expired_tokens_get_reddits_401(world: RedditWorld, http: aiohttp.ClientSession) -> None:
    tok = await token(http)
    assert (await get(http, tok, "/r/all/new"))[0] == 200
    world.expire_tokens()
    status, headers, body = await get(http, tok, "/r/all/new")
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    assert body == {"message": "Unauthorized", "error": 401}


async def test_token_lifetime_follows_the_clock(world: RedditWorld, clock: Clock, http: aiohttp.ClientSession) -> None:
    tok = await token(http)
    clock.now += world.token_lifetime + 1
    assert (await get(http, tok, "/r/all/new"))[0] == 401


async def test_injected_401_carries_the_challenge_prawcore_needs(world: RedditWorld, http: aiohttp.ClientSession) -> None:
    tok = await token(http)
    world.faults.add("/r/all/new", Fault("401"))
    status, headers, _ = await get(http, tok, "/r/all/new")
    assert status == 401 and "invalid_token" in headers["www-authenticate"]


async def test_unknown_subreddit_is_a_302(http: aiohttp.ClientSession) -> None:
    status, headers, _ = await get(http, await token(http), "/r/nosuchsub/about")
    assert status == 302 and headers["Location"].startswith("/subreddits/search")


@pytest.mark.parametrize(
    ("params", "expected", "after", "before"),
    [
        ({"limit": "2"}, [4, 3], 3, None),
        ({"limit": "2", "after": 3}, [2, 1], 1, 2),
        ({"limit": "2", "after": 1}, [0], None, 0),
        ({"limit": "10", "before": 2}, [4, 3], 3, 4),
        ({"limit": "1", "before": 2}, [3], 3, 3),
        ({"after": "t3_unknown"}, [], None, None),
        ({}, [4, 3, 2, 1, 0], None, None),
    ],
)
async def test_listing_pagination(
    world: RedditWorld, clock: Clock, http: aiohttp.ClientSession,
    params: dict[str, Any], expected: list[int], after: int | None, before: int | None,
) -> None:
    posts = []
    for i in range(5):
        posts.append(world.add_submission("acme", f"post {i}")["name"])
        clock.now += 1
    q = {k: posts[v] if isinstance(v, int) else v for k, v in params.items()}
    _, _, body = await get(http, await token(http), "/r/acme/new", **q)
    assert names(body) == [posts[i] for i in expected]
    assert body["data"]["after"] == (posts[after] if after is not None else None)
    assert body["data"]["before"] == (posts[before] if before is not None else None)


async def test_search_time_filter_and_scope(world: RedditWorld, clock: Clock, http: aiohttp.ClientSession) -> None:
    old = world.add_submission("acme", "acme outage", created_utc=T0 - 2 * 86400)
    new = world.add_submission("gadgets", "acme outage again")
    tok = await token(http)
    assert names((await get(http, tok, "/r/all/search", q="acme", sort="new", t="day"))[2]) == [new["name"]]
    assert names((await get(http, tok, "/r/all/search", q="acme", sort="new", t="week"))[2]) == [new["name"], old["name"]]
    body = (await get(http, tok, "/r/acme/search", q="acme", restrict_sr="on"))[2]
    assert names(body) == [old["name"]]
    body = (await get(http, tok, "/r/acme+gadgets/search", q="outage", restrict_sr="on"))[2]
    assert names(body) == [new["name"], old["name"]]


async def test_inbox_boxes(world: RedditWorld, http: aiohttp.ClientSession) -> None:
    ours = world.add_submission("acme", "Status update", author="BrandBot")
    reply = world.add_comment(ours["name"], "thanks!", author="erin")
    mention = world.mention("brandbot", "help", author="fay")  # names are case-insensitive
    self_mention = world.mention("BrandBot", "note to self", author="BrandBot")
    tok = await token(http)
    inbox = (await get(http, tok, "/message/inbox"))[2]
    assert names(inbox) == [mention["name"], reply["name"]]
    assert self_mention["name"] not in names(inbox)
    kinds = {c["data"]["name"]: c["data"]["type"] for c in inbox["data"]["children"]}
    assert kinds == {mention["name"]: "username_mention", reply["name"]: "post_reply"}
    assert names((await get(http, tok, "/message/mentions"))[2]) == [mention["name"]]
    assert names((await get(http, tok, "/message/unread"))[2]) == [mention["name"], reply["name"]]
    item = inbox["data"]["children"][0]["data"]
    assert item["context"].startswith(mention["permalink"]) and item["was_comment"] is True


@pytest.mark.parametrize(
    ("query", "title", "hit"),
    [
        ("acme", "ACME is down", True),
        ("acme outage", "acme had an outage", True),
        ("acme outage", "acme is fine", False),
        ('"acme app"', "the acme app crashed", True),
        ('"acme app"', "app by acme", False),
        ("acme OR widgetco", "widgetco rocks", True),
        ("acme -job", "acme job offer", False),
        ("acme -job", "acme broke", True),
    ],
)
def test_search_syntax(query: str, title: str, hit: bool) -> None:
    assert _matches(query, {"title": title, "selftext": ""}) is hit


# ---- scripted scenarios ---------------------------------------------------------------------------


async def test_a_scenario_thread_appears_on_time(world: RedditWorld, clock: Clock, http: aiohttp.ClientSession) -> None:
    sc = demo_scenario("acme", duration_s=100)
    keys = world.schedule(sc, start_at=T0)
    assert sorted(keys) == sorted(p.key for p in sc.posts if p.platform == "reddit")
    root = world.thing(keys["reddit-thread"])
    assert root["subreddit"] == "acme" and root["created_utc"] == T0 + 20
    tok = await token(http)
    listing = (await get(http, tok, "/r/acme/new"))[2]
    assert listing["data"]["children"] == []  # nothing has happened yet
    clock.now = T0 + 100
    assert names((await get(http, tok, "/r/acme/new"))[2]) == [keys["reddit-thread"]]
    comments = [c["data"] for c in (await get(http, tok, "/r/acme/comments"))[2]["data"]["children"]]
    assert len(comments) == 4 and {c["link_id"] for c in comments} == {keys["reddit-thread"]}


async def test_scripted_outage_and_token_expiry(world: RedditWorld, clock: Clock, http: aiohttp.ClientSession) -> None:
    sc = Scenario("acme")
    sc.outage(10, 5, platform="reddit", status=503)
    sc.token_expiry(20, platform="reddit")
    sc.outage(30, 5, platform="x")  # another platform's: not ours
    world.schedule(sc, start_at=T0)
    tok = await token(http)
    clock.now = T0 + 12
    assert (await get(http, tok, "/r/all/new"))[0] == 503
    clock.now = T0 + 16
    assert (await get(http, tok, "/r/all/new"))[0] == 200
    clock.now = T0 + 21
    assert (await get(http, tok, "/r/all/new"))[0] == 401
    assert (await get(http, await token(http), "/r/all/new"))[0] == 200  # a new token works
    clock.now = T0 + 31
    assert (await get(http, tok, "/r/all/new"))[0] == 401
