"""The sandbox X: query language, wire format, paging, rate windows, auth, scenarios and texts."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Server
from monitor.sandbox.scenario import (
    Scenario,
    crash_scenario,
    day_scenario,
    demo_scenario,
)
from monitor.sandbox.texts import (
    BUILTIN,
    load_texts,
    normalise,
    render,
    shared_data_dir,
)
from monitor.sandbox.x_api import XWorld, iso, make_x_app
from monitor.sandbox.x_query import QueryError, parse_query

APP = {"Authorization": "Bearer sandbox-bearer"}
T0 = 1_760_000_000.0


# -- the query language (pure) ----------------------------------------------------------------

QUERY_CASES = [
    # query, tweet text, author, lang, is repost, expected
    ("acme", "I love ACME products", "carla", "en", False, True),
    ("acme", "I love acmes", "carla", "en", False, False),  # words, not substrings
    ("acme", "@acme help", "carla", "en", False, True),
    ("acme delay", "acme flight: delay again", "carla", "en", False, True),
    ("acme delay", "acme flight on time", "carla", "en", False, False),
    ('"flight delayed"', "my flight delayed by 3h", "carla", "en", False, True),
    ('"flight delayed"', "delayed flight", "carla", "en", False, False),
    ("refund OR chargeback", "I want a chargeback", "carla", "en", False, True),
    ("acme refund OR chargeback", "chargeback now", "carla", "en", False, True),  # AND before OR
    ("acme (refund OR chargeback)", "chargeback now", "carla", "en", False, False),
    ("acme (refund OR chargeback)", "acme chargeback now", "carla", "en", False, True),
    ("acme -is:retweet", "RT @dan: acme is down", "carla", "en", True, False),
    ("acme -is:retweet", "acme is down", "carla", "en", False, True),
    ("acme -from:acme", "acme status update", "acme", "en", False, False),
    ("acme -from:acme", "acme status update", "carla", "en", False, True),
    ("@acme", "hey @ACME where is it", "carla", "en", False, True),
    ("@acme", "hey acme where is it", "carla", "en", False, False),
    ("#acmefail", "again #AcmeFail", "carla", "en", False, True),
    ("#acmefail", "acmefail", "carla", "en", False, False),
    ("acme lang:de", "acme ist kaputt", "carla", "de", False, True),
    ("acme lang:de", "acme is broken", "carla", "en", False, False),
    ("acme -delay", "acme delay", "carla", "en", False, False),
    ('acme -"on time"', "acme on time for once", "carla", "en", False, False),
    ("from:carla", "anything", "carla", "en", False, True),
]


@pytest.mark.parametrize(("query", "text", "author", "lang", "repost", "expected"), QUERY_CASES)
def test_query_language(query: str, text: str, author: str, lang: str, repost: bool, expected: bool) -> None:
    world = XWorld(Clock(T0))
    world.add_user("dan")
    original = world.post("dan", text) if repost else None
    tid = world.post(author, text, lang=lang, repost_of=original)
    assert parse_query(query)(world.tweets[tid], world) is expected


@pytest.mark.parametrize("query", ["", "-is:retweet", "lang:en", "(acme", "acme)", '"acme', "acme OR",
                                   "foo:bar acme", "acme is:bogus", "x" * 513, "()"])
def test_invalid_queries_are_rejected(query: str) -> None:
    with pytest.raises(QueryError):
        parse_query(query)


# -- over HTTP --------------------------------------------------------------------------------


@dataclass
class Env:
    world: XWorld
    clock: Clock
    url: str
    http: aiohttp.ClientSession

    async def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> tuple[int, Any, Any]:
        async with self.http.get(self.url + path, params=params, headers=APP if headers is None else headers) as r:
            assert r.content_type == "application/json"  # tweepy cannot read anything else
            return r.status, await r.json(), r.headers

    async def post(self, path: str, body: Any, token: str) -> tuple[int, Any]:
        async with self.http.post(self.url + path, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.content_type == "application/json"
            return r.status, await r.json()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = Clock(T0)
    world = XWorld(clock)
    world.add_user("acme", "Acme", 250_000, True, token="acme-token")
    world.add_user("carla", "Carla", 1200)
    server = Server(make_x_app(world))
    url = await server.start()
    async with aiohttp.ClientSession() as http:
        yield Env(world, clock, url, http)
    await server.stop()


async def test_search_answers_newest_first_in_the_real_shape(env: Env) -> None:
    ids = [env.world.post("carla", f"@acme problem {i}", at=T0 - 10 + i) for i in range(3)]
    status, body, headers = await env.get("/2/tweets/search/recent", query="acme", expansions="author_id",
                                          **{"tweet.fields": "created_at,conversation_id,public_metrics,lang",
                                             "user.fields": "public_metrics,verified"})
    assert status == 200
    assert [t["id"] for t in body["data"]] == ids[::-1]
    tweet = body["data"][0]
    assert tweet["edit_history_tweet_ids"] == [tweet["id"]] and tweet["author_id"] == env.world.users[
        env.world.tweets[ids[-1]].author_id].id
    assert tweet["created_at"].endswith("Z") and tweet["conversation_id"] == tweet["id"] and tweet["lang"] == "en"
    assert set(tweet["public_metrics"]) >= {"retweet_count", "reply_count", "like_count", "quote_count"}
    assert body["includes"]["users"] == [{"id": tweet["author_id"], "name": "Carla", "username": "carla",
                                          "verified": False, "public_metrics": {
                                              "followers_count": 1200, "following_count": 0, "tweet_count": 3,
                                              "listed_count": 1, "like_count": 0}}]
    assert body["meta"] == {"result_count": 3, "newest_id": ids[-1], "oldest_id": ids[0]}
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(headers)


async def test_default_fields_are_only_id_text_and_edit_history(env: Env) -> None:
    env.world.post("carla", "acme hi")
    _, body, _ = await env.get("/2/tweets/search/recent", query="acme")
    assert set(body["data"][0]) == {"id", "text", "edit_history_tweet_ids"} and "includes" not in body


async def test_no_results_means_no_data_key(env: Env) -> None:
    status, body, _ = await env.get("/2/tweets/search/recent", query="nothing")
    assert status == 200 and body == {"meta": {"result_count": 0}}


async def test_future_posts_appear_when_the_clock_reaches_them(env: Env) -> None:
    later = env.world.post("carla", "@acme from the future", at=T0 + 60)
    assert "data" not in (await env.get("/2/tweets/search/recent", query="acme"))[1]
    env.clock.now = T0 + 60
    assert [t["id"] for t in (await env.get("/2/tweets/search/recent", query="acme"))[1]["data"]] == [later]


async def test_search_only_reaches_back_seven_days(env: Env) -> None:
    env.world.post("carla", "acme old news", at=T0 - 8 * 86400)
    recent = env.world.post("carla", "acme fresh", at=T0 - 86400)
    _, body, _ = await env.get("/2/tweets/search/recent", query="acme")
    assert [t["id"] for t in body["data"]] == [recent]


async def test_since_id_older_than_the_search_reach_is_refused(env: Env) -> None:
    old = env.world.post("carla", "acme ancient", at=T0 - 8 * 86400)
    status, body, _ = await env.get("/2/tweets/search/recent", query="acme", since_id=old)
    assert status == 400 and "since_id" in body["errors"][0]["parameters"]
    acme = env.world.user_by_username("acme")
    assert acme is not None  # the mentions timeline has no such limit
    assert (await env.get(f"/2/users/{acme.id}/mentions", since_id=old))[0] == 200


async def test_start_and_end_time(env: Env) -> None:
    ids = [env.world.post("carla", f"acme {i}", at=T0 - 100 + 10 * i) for i in range(5)]
    _, body, _ = await env.get("/2/tweets/search/recent", query="acme", start_time=iso(T0 - 80),
                               end_time=iso(T0 - 60))
    assert [t["id"] for t in body["data"]] == [ids[3], ids[2]]  # start inclusive, end exclusive
    assert (await env.get("/2/tweets/search/recent", query="acme", start_time="yesterday"))[0] == 400


async def test_paging_with_next_token_and_since_id_visits_each_tweet_once(env: Env) -> None:
    ids = [env.world.post("carla", f"acme {i}", at=T0 - 100 + i) for i in range(35)]
    seen: list[str] = []
    token = None
    while True:
        params = {"query": "acme", "max_results": "10", "since_id": ids[4]}
        if token:
            params["next_token"] = token
        _, body, _ = await env.get("/2/tweets/search/recent", **params)
        seen += [t["id"] for t in body["data"]]
        token = body["meta"].get("next_token")
        if not token:
            break
    assert seen == ids[5:][::-1]


@pytest.mark.parametrize(("params", "param"), [
    ({"query": "acme", "max_results": "5"}, "max_results"),
    ({"query": "acme", "max_results": "101"}, "max_results"),
    ({"query": "acme", "since_id": "abc"}, "since_id"),
    ({"query": "acme", "next_token": "!!"}, "next_token"),
    ({"query": "acme", "tweet.fields": "nonsense"}, "tweet.fields"),
    ({"query": "(acme"}, "query"),
    ({"query": ""}, "query"),
])
async def test_invalid_parameters_are_a_400_problem(env: Env, params: dict[str, str], param: str) -> None:
    status, body, _ = await env.get("/2/tweets/search/recent", **params)
    assert status == 400 and body["title"] == "Invalid Request"
    assert param in body["errors"][0]["parameters"]


@pytest.mark.parametrize("auth", ["Bearer wrong", "", "Basic abc"])
async def test_wrong_token_is_a_401_problem(env: Env, auth: str) -> None:
    status, body, _ = await env.get("/2/tweets/search/recent", headers={"Authorization": auth} if auth else {},
                                    query="acme")
    assert status == 401 and body["title"] == "Unauthorized" and body["status"] == 401


async def test_overspending_a_window_gets_429_until_it_resets(env: Env) -> None:
    env.world.limits["search_recent"] = 3
    remaining = []
    for _ in range(3):
        status, _, headers = await env.get("/2/tweets/search/recent", query="acme")
        assert status == 200
        remaining.append(headers["x-rate-limit-remaining"])
    assert remaining == ["2", "1", "0"]
    status, body, headers = await env.get("/2/tweets/search/recent", query="acme")
    assert status == 429 and body["title"] == "Too Many Requests"
    assert headers["x-rate-limit-remaining"] == "0" and headers["x-rate-limit-reset"] == str(int(T0 + 900))
    # other endpoints have their own window
    assert (await env.get("/2/users/by/username/acme"))[0] == 200
    env.clock.now = T0 + 900
    status, _, headers = await env.get("/2/tweets/search/recent", query="acme")
    assert status == 200 and headers["x-rate-limit-remaining"] == "2"


async def test_monthly_read_cap(env: Env) -> None:
    env.world.monthly_read_cap = 3
    for i in range(5):
        env.world.post("carla", f"acme {i}", at=T0 - 10 + i)
    status, body, _ = await env.get("/2/tweets/search/recent", query="acme", max_results="10")
    assert status == 200 and env.world.reads == 5
    status, body, _ = await env.get("/2/tweets/search/recent", query="acme")
    assert status == 429 and body["title"] == "UsageCapExceeded"


async def test_mentions_timeline(env: Env) -> None:
    acme = env.world.user_by_username("acme")
    assert acme is not None
    ids = [env.world.post("carla", f"hey @Acme number {i}", at=T0 - 20 + i) for i in range(7)]
    env.world.post("carla", "acme without the at sign", at=T0 - 1)
    status, body, _ = await env.get(f"/2/users/{acme.id}/mentions", max_results="5")
    assert status == 200 and [t["id"] for t in body["data"]] == ids[::-1][:5]
    _, page2, _ = await env.get(f"/2/users/{acme.id}/mentions", max_results="5",
                                pagination_token=body["meta"]["next_token"])
    assert [t["id"] for t in page2["data"]] == ids[1::-1] and "next_token" not in page2["meta"]
    _, since, _ = await env.get(f"/2/users/{acme.id}/mentions", since_id=ids[-2])
    assert [t["id"] for t in since["data"]] == [ids[-1]]


async def test_user_lookup_and_me(env: Env) -> None:
    status, body, _ = await env.get("/2/users/by/username/ACME", **{"user.fields": "public_metrics,verified"})
    assert status == 200 and body["data"]["username"] == "acme" and body["data"]["verified"] is True
    assert body["data"]["public_metrics"]["followers_count"] == 250_000
    status, body, _ = await env.get("/2/users/by/username/ghost")
    assert status == 200 and "data" not in body and body["errors"][0]["title"] == "Not Found Error"
    status, body, _ = await env.get("/2/users/me", headers={"Authorization": "Bearer acme-token"})
    assert status == 200 and body["data"]["username"] == "acme"
    status, body, _ = await env.get("/2/users/me")  # app-only bearer
    assert status == 403 and body["title"] == "Unsupported Authentication"


async def test_create_tweet_joins_the_world_as_a_reply(env: Env) -> None:
    complaint = env.world.post("carla", "@acme my order is late", at=T0 - 5)
    status, body = await env.post("/2/tweets", {"text": "So sorry! DM us.", "reply": {
        "in_reply_to_tweet_id": complaint}}, "acme-token")
    assert status == 201
    reply = env.world.tweets[body["data"]["id"]]
    assert body["data"]["text"] == "@carla So sorry! DM us." == reply.text
    assert reply.conversation_id == complaint and reply.reply_to == complaint
    assert int(reply.id) > int(complaint)
    carla = env.world.user_by_username("carla")
    assert carla is not None
    _, mentions, _ = await env.get(f"/2/users/{carla.id}/mentions")
    assert [t["id"] for t in mentions["data"]] == [reply.id]
    assert (await env.post("/2/tweets", {"text": "So sorry! DM us.", "reply": {
        "in_reply_to_tweet_id": complaint}}, "acme-token"))[0] == 403  # duplicate content
    assert (await env.post("/2/tweets", {"text": "hi"}, "sandbox-bearer"))[0] == 403  # needs a user
    assert (await env.post("/2/tweets", {"text": "hi", "reply": {"in_reply_to_tweet_id": "1"}}, "acme-token"))[0] == 400


async def test_tweepy_reads_the_sandbox(env: Env) -> None:
    """The real client, pointed at the sandbox by rewriting its hard-coded host."""
    from tweepy.asynchronous import AsyncClient
    from yarl import URL

    class Rebased:
        def request(self, method: str, url: Any, **kw: Any) -> Any:
            u = URL(url)
            return env.http.request(method, URL(env.url + u.raw_path, encoded=True), **kw)

    env.world.post("carla", "@acme lost my bag", at=T0 - 1)
    client = AsyncClient(bearer_token="sandbox-bearer")
    client.session = Rebased()
    resp = await client.search_recent_tweets("acme -is:retweet", expansions="author_id",
                                             user_fields=["public_metrics"])
    assert resp.data[0].text == "@acme lost my bag"
    assert resp.includes["users"][0].username == "carla"
    assert resp.meta["result_count"] == 1


# -- scenarios --------------------------------------------------------------------------------


def test_demo_scenario_has_every_ingredient_and_is_deterministic() -> None:
    sc = demo_scenario("acme", duration_s=60, seed=7)
    kinds = [p.kind for p in sc.posts]
    keys = {p.key for p in sc.posts}
    assert {"thread-root", "thread-brand-reply", "thread-customer-reply", "brand-status", "repost", "quote",
            "spam", "hostile"} <= keys
    assert sum(1 for p in sc.posts if p.author == "acme") == 2
    reddit = [p for p in sc.posts if p.platform == "reddit"]
    assert {p.extra["subreddit"] for p in reddit} == {"acme", "travel"}
    assert all(p.reply_to for p in reddit if "title" not in p.extra)  # comments hang under a submission
    assert sum(1 for p in sc.posts if "@acme" not in p.text and "acme" in p.text.lower()) >= 3  # keyword posts
    burst = [p for p in sc.posts if 24 <= p.offset <= 29 and p.kind in ("outage", "delay")]
    assert len(burst) >= 10
    assert "<!channel>" in sc.by_key("hostile").text
    assert not any(a <= p.offset < b for p in sc.posts for a, b in sc.quiet)
    assert all(0 <= p.offset <= 60 for p in sc.posts) and kinds
    assert [p.text for p in demo_scenario("acme", 60, 7).posts] == [p.text for p in sc.posts]
    assert [p.text for p in demo_scenario("acme", 60, 8).posts] != [p.text for p in sc.posts]


def test_schedule_plays_a_scenario_into_the_world() -> None:
    clock = Clock(T0)
    world = XWorld(clock)
    sc = demo_scenario("acme", duration_s=60, seed=7)
    ids = world.schedule(sc, start_at=T0)
    assert set(ids) == {p.key for p in sc.posts if p.platform == "x"}
    assert world.visible() == [] or all(t.at <= T0 for t in world.visible())
    clock.now = T0 + 30
    half = {t.id for t in world.visible()}
    clock.now = T0 + 61
    assert half < {t.id for t in world.visible()} == set(ids.values())
    root, reply = world.tweets[ids["thread-root"]], world.tweets[ids["thread-customer-reply"]]
    assert reply.conversation_id == root.id and reply.text.startswith("@acme ")
    assert world.tweets[ids["repost"]].text.startswith("RT @")
    assert world.tweets[ids["quote"]].quote_of == ids["brand-status"]
    ordered = sorted((p for p in sc.posts if p.platform == "x"), key=lambda p: p.offset)
    assert [ids[p.key] for p in ordered] == sorted(ids.values(), key=int)  # ids follow time
    brand = world.user_by_username("acme")
    assert brand is not None and world.user_tokens[sc.brand_token or ""] == brand.id


async def test_scenario_outage_and_token_expiry(env: Env) -> None:
    sc = Scenario("acme")
    sc.add(1, "carla", "@acme one")
    sc.outage(10, 5)
    sc.token_expiry(30)
    env.world.schedule(sc, start_at=T0)
    env.clock.now = T0 + 12
    assert (await env.get("/2/tweets/search/recent", query="acme"))[0] == 503
    env.clock.now = T0 + 16
    assert (await env.get("/2/tweets/search/recent", query="acme"))[0] == 200
    env.clock.now = T0 + 31
    assert (await env.get("/2/tweets/search/recent", query="acme"))[0] == 401


def test_scenario_refuses_dangling_references() -> None:
    sc = Scenario("acme")
    with pytest.raises(ValueError):
        sc.add(1, "carla", "hi", reply_to="nope")
    sc.add(1, "carla", "hi", key="a")
    with pytest.raises(ValueError):
        sc.add(2, "carla", "again", key="a")


def test_day_scenario_follows_the_daily_curve() -> None:
    sc = day_scenario("acme", posts_per_day=3000, seed=2)
    per_hour = [0] * 24
    for p in sc.posts:
        per_hour[int(p.offset // 3600)] += 1
    assert 2700 < len(sc.posts) < 3500  # 3000 ± Poisson noise, plus the burst
    assert sum(per_hour[2:5]) * 5 < sum(per_hour[14:17])  # quiet night, busy afternoon
    assert per_hour[15] > per_hour[14]  # the burst
    keyword = sum(1 for p in sc.posts if "@acme" not in p.text)
    assert 0.2 < keyword / len(sc.posts) < 0.4


def test_crash_scenario_posts_are_distinct_mentions() -> None:
    sc = crash_scenario("acme", n_posts=300, spread_s=30, seed=3)
    assert len(sc.posts) == 300 and len({p.text for p in sc.posts}) == 300
    assert all("@acme" in p.text.lower() for p in sc.posts)
    assert all(0 <= p.offset <= 30 for p in sc.posts)
    assert [p.offset for p in sc.posts] == sorted(p.offset for p in sc.posts)


# -- texts ------------------------------------------------------------------------------------


def test_builtin_texts_cover_the_kinds_the_demo_needs() -> None:
    kinds = {t.kind for t in BUILTIN}
    assert {"outage", "billing", "delay", "praise", "question", "spam", "hostile"} <= kinds
    assert 25 <= len(BUILTIN) <= 40
    hostile = next(t for t in BUILTIN if t.kind == "hostile")
    assert "<!channel>" in hostile.text and "<@U123>" in hostile.text
    texts = load_texts(use_shared=False)
    assert texts == BUILTIN


COMPLAINT_KINDS = {"outage", "billing", "delay", "security", "safety", "complaint", "hostile"}


@pytest.mark.parametrize("sample", BUILTIN, ids=[t.text[:40] for t in BUILTIN])
def test_triage_reads_each_builtin_text_as_its_kind(sample) -> None:
    """Without the shared data, the demo plays these: a complaint the shipped triage missed would open
    no ticket (the demo's thread then shows no follow-up joining it); nothing else may read as one."""
    from monitor.triage import load_triage

    v = load_triage().classify_text(render(sample, "acme"))
    assert v.complaint is (sample.kind in COMPLAINT_KINDS), (sample.kind, v)


@pytest.mark.parametrize(("raw", "expected"), [
    ("<cust__ __company__ why was my bag lost __cust>".replace("<cust__", "").replace("__cust>", ""),
     "@__brand__ why was my bag lost"),
    ("@united my flight is late", "@__brand__ my flight is late"),
    ("@JetBlue thanks!", "@__brand__ thanks!"),
    ("Flying Southwest again", "Flying __brand__ again"),
    ("United States is big", "United States is big"),
    ("a &amp; b", "a & b"),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_render_for_a_brand() -> None:
    assert render("@__brand__ help, __brand__ app down", "@acme") == "@acme help, acme app down"
    assert render("@__brand__ help", "acme", as_mention=False) == "acme help"
    assert render("no brand here", "acme") == "@acme no brand here"
    assert render("no brand here", "acme", as_mention=False) == "acme: no brand here"


@pytest.mark.skipif(shared_data_dir() is None, reason="shared data folder (../shared/data) is absent")
def test_real_texts_are_loaded_and_normalised() -> None:
    texts = load_texts()
    sources = {t.source for t in texts}
    assert {"airline-sentiment", "twcs-asapp", "twcs-kaggle"} <= sources
    assert len(texts) > 10_000
    assert not any("__company__" in t.text or "<cust__" in t.text for t in texts)
    assert not any("Cancelled Flight" in t.text for t in texts if t.source == "airline-sentiment")
    assert not any(re.search(r"@(united|jetblue|usairways|americanair)\b", t.text, re.I) for t in texts)
