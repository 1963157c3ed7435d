"""A local X (Twitter) API v2 that tweepy's AsyncClient cannot tell from the real one.

`XWorld` is the in-memory state (users, tweets, tokens, rate windows, read counter) with an
injectable clock; `make_x_app(world)` serves it. Only what the monitor uses is served, but that
part follows the real wire format: errors are `application/json` problem documents, tweets carry
`edit_history_tweet_ids`, `data` is absent when nothing matched, results are newest first, and
every answer carries the endpoint's `x-rate-limit-*` headers (15-minute windows; a client that
overspends gets the real 429).

Search understands a small but real subset of X's query language (see `x_query.parse_query`).
"""
from __future__ import annotations

import base64
import bisect
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.sandbox.core import Faults, Recorder, json_response, make_middleware
from monitor.sandbox.x_query import QueryError, parse_query, words_of

if TYPE_CHECKING:
    from monitor.sandbox.scenario import Scenario

WINDOW_S = 15 * 60
SEARCH_RECENT_S = 7 * 24 * 3600  # recent search only reaches back seven days
MENTIONS_CAP = 800  # the mentions timeline returns at most the 800 newest
TEXT_LIMIT = 280  # a longer post (note tweet) has only this much in `text`; the rest is in `note_tweet`
TWEPOCH_MS = 1288834974657  # X's snowflake epoch

# Per-endpoint requests per 15-minute window, per principal (the app token or a user).
DEFAULT_LIMITS: dict[str, int] = {
    "search_recent": 450,
    "mentions": 450,
    "user_by_username": 300,
    "users_me": 75,
    "create_tweet": 200,
    "dm_create": 200,  # POST /2/dm_conversations/with/:participant_id/messages (per user, 15 min)
}

_TWEET_FIELDS = {
    "attachments", "author_id", "context_annotations", "conversation_id", "created_at", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang", "non_public_metrics",
    "note_tweet", "organic_metrics", "possibly_sensitive", "promoted_metrics", "public_metrics",
    "referenced_tweets", "reply_settings", "source", "text", "withheld",
}
_USER_FIELDS = {
    "created_at", "description", "entities", "id", "location", "most_recent_tweet_id", "name",
    "pinned_tweet_id", "profile_image_url", "protected", "public_metrics", "url", "username", "verified",
    "verified_type", "withheld",
}
_EXPANSIONS = {
    "author_id", "referenced_tweets.id", "referenced_tweets.id.author_id", "in_reply_to_user_id",
    "attachments.media_keys", "attachments.poll_ids", "geo.place_id", "entities.mentions.username",
    "edit_history_tweet_ids",
}


# ---------------------------------------------------------------------------------------------
# The world


@dataclass
class User:
    id: str
    username: str
    name: str
    followers: int = 0
    following: int = 0
    verified: bool = False
    created_at: float = 1262304000.0  # 2010-01-01
    description: str = ""
    suspended: bool = False  # X then answers 200 with only `errors` about it (no data, no meta)


@dataclass
class Tweet:
    id: str
    author_id: str
    text: str
    at: float  # epoch seconds; invisible until the world's clock reaches it
    lang: str = "en"
    conversation_id: str = ""
    reply_to: str | None = None
    in_reply_to_user_id: str | None = None
    quote_of: str | None = None
    repost_of: str | None = None
    likes: int = 0
    withheld_in: tuple[str, ...] = ()  # country codes where X hides it (rendered as `withheld`)

    # Cached: search evaluates these for every tweet it scans.
    @cached_property
    def mentions(self) -> set[str]:
        return {m.lower() for m in re.findall(r"@(\w+)", self.text)}

    @cached_property
    def hashtags(self) -> set[str]:
        return {h.lower() for h in re.findall(r"[#$](\w+)", self.text)}

    @cached_property
    def words(self) -> list[str]:
        return words_of(self.text)


@dataclass
class _Window:
    start: float
    used: int = 0


@dataclass
class Outage:
    """A timed condition: between `start` and `end` (world clock) every request gets `status`."""

    start: float
    end: float
    status: int = 503


class XWorld:
    """Users, tweets and tokens of the sandbox X. Tests and scenarios drive it directly."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        bearer_token: str = "sandbox-bearer",
        limits: dict[str, int] | None = None,
        monthly_read_cap: int | None = None,
    ) -> None:
        self.clock = clock
        self.bearer_tokens: set[str] = {bearer_token}
        self.user_tokens: dict[str, str] = {}  # OAuth access token (1.0a or 2.0 user context) -> user id
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.monthly_read_cap = monthly_read_cap
        self.reads = 0  # posts returned this month, as X bills them
        self.users: dict[str, User] = {}
        self.tweets: dict[str, Tweet] = {}
        self.outages: list[Outage] = []
        self.dms: list[dict[str, str]] = []  # direct messages sent: {"id", "from", "to", "text"}
        self.closed_dms: set[str] = set()  # user ids that accept no DMs from accounts they don't follow
        self.token_expiries: list[tuple[float, str]] = []  # (at, token): revoked once the clock passes
        self.recorder = Recorder()
        self.faults = Faults()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._ids_per_ms: dict[int, int] = {}
        self._next_user_id = 1_000_001
        # Indexes, so a request costs what it reads rather than the size of the world.
        self._order: list[int] = []  # tweet ids, ascending
        self._ms: list[int] = []  # their `at` in milliseconds, in the same order (ids follow time)
        self._children: dict[str, list[str]] = {}  # tweet id -> replies, quotes and reposts of it
        self._by_author: dict[str, list[str]] = {}

    # -- building the world ---------------------------------------------------------------

    def add_user(
        self,
        username: str,
        name: str | None = None,
        followers: int = 0,
        verified: bool = False,
        *,
        token: str | None = None,
        description: str = "",
    ) -> User:
        """Create (or return the existing) account. `token` lets it act through the API as itself."""
        existing = self.user_by_username(username)
        if existing is not None:
            if token:
                self.user_tokens[token] = existing.id
            return existing
        user = User(str(self._next_user_id), username.lstrip("@"), name or username.lstrip("@"), followers,
                    verified=verified, description=description)
        self._next_user_id += 1
        self.users[user.id] = user
        if token:
            self.user_tokens[token] = user.id
        return user

    def suspend(self, username: str, suspended: bool = True) -> None:
        """Suspend (or reinstate) an account: its mentions timeline and lookup answer 200 with only
        an `errors` list, and its posts' author is left out of `includes` with a partial error."""
        user = self.user_by_username(username)
        if user is None:
            raise KeyError(username)
        user.suspended = suspended

    def user_by_username(self, username: str) -> User | None:
        wanted = username.lstrip("@").lower()
        return next((u for u in self.users.values() if u.username.lower() == wanted), None)

    def post(
        self,
        user: User | str,
        text: str,
        at: float | None = None,
        reply_to: str | None = None,
        quote_of: str | None = None,
        repost_of: str | None = None,
        lang: str = "en",
        likes: int = 0,
        withheld_in: tuple[str, ...] | list[str] = (),
    ) -> str:
        """Add a tweet (visible once the clock reaches `at`, default now). Returns its id.

        A text longer than 280 characters is a long post: X's `text` shows its first 280 and
        `note_tweet.text` the whole. `withheld_in`: countries where X hides it.

        Like X, a reply's text starts with the parent author's @handle and a repost's with
        `RT @author:`; ids are snowflakes, so they increase with `at`.
        """
        author = self.author(user)
        at = self.clock() if at is None else at
        tid = self._snowflake(at)
        in_reply_to_user_id = None
        conversation_id = tid
        text = self.compose(author, text, reply_to=reply_to, repost_of=repost_of)
        if reply_to is not None:
            parent = self.tweets[reply_to]
            in_reply_to_user_id = parent.author_id
            conversation_id = parent.conversation_id
        if quote_of is not None and quote_of not in self.tweets:
            raise KeyError(f"quoted tweet {quote_of} does not exist")
        self.tweets[tid] = Tweet(tid, author.id, text, at, lang, conversation_id, reply_to,
                                 in_reply_to_user_id, quote_of, repost_of, likes, tuple(withheld_in))
        i = bisect.bisect_right(self._order, int(tid))
        self._order.insert(i, int(tid))
        self._ms.insert(i, int(at * 1000))
        for parent in {reply_to, quote_of, repost_of} - {None}:
            self._children.setdefault(str(parent), []).append(tid)
        self._by_author.setdefault(author.id, []).append(tid)
        return tid

    def author(self, user: User | str) -> User:
        return user if isinstance(user, User) else self.user_by_username(user) or self.add_user(user)

    def compose(self, author: User, text: str, *, reply_to: str | None = None, repost_of: str | None = None) -> str:
        """The text X stores: `RT @author: …` for a repost, the parent's @handle first for a reply."""
        if repost_of is not None:
            original = self.tweets[repost_of]
            return f"RT @{self.users[original.author_id].username}: {original.text}"
        if reply_to is not None:
            parent_author = self.users[self.tweets[reply_to].author_id]
            mentioned = {m.lower() for m in re.findall(r"@(\w+)", text)}
            if parent_author.id != author.id and parent_author.username.lower() not in mentioned:
                return f"@{parent_author.username} {text}"
        return text

    def schedule(self, scenario: Scenario, start_at: float | None = None) -> dict[str, str]:
        """Load a scenario's X posts (and its timed outages/token expiries) relative to `start_at`.

        Returns the scenario's post keys mapped to tweet ids.
        """
        start = self.clock() if start_at is None else start_at
        brand = self.add_user(scenario.brand_handle, scenario.brand_name or scenario.brand_handle,
                              followers=250_000, verified=True)
        if scenario.brand_token:
            self.user_tokens[scenario.brand_token] = brand.id
        for profile in scenario.authors.values():
            self.add_user(profile.username, profile.name, profile.followers, profile.verified)
        ids: dict[str, str] = {}
        for p in sorted((p for p in scenario.posts if p.platform == "x"), key=lambda p: p.offset):
            ref = lambda key: None if key is None else ids[key]  # noqa: E731
            ids[p.key] = self.post(p.author, p.text, at=start + p.offset, reply_to=ref(p.reply_to),
                                   quote_of=ref(p.quote_of), repost_of=ref(p.repost_of), lang=p.lang,
                                   likes=p.likes, withheld_in=tuple(p.extra.get("withheld_in", ())))
        for ev in scenario.events:
            if ev.platform != "x":
                continue
            if ev.kind == "outage":
                self.outages.append(Outage(start + ev.offset, start + ev.offset + ev.duration, ev.status))
            elif ev.kind == "token_expiry":
                for token in sorted(self.bearer_tokens):
                    self.token_expiries.append((start + ev.offset, token))
        return ids

    def visible(self) -> list[Tweet]:
        """Tweets whose time has come, newest first."""
        return list(self.newest_first())

    def newest_first(self) -> Iterator[Tweet]:
        """Lazily, the tweets whose time has come, newest first."""
        now = self.clock()
        for i in range(bisect.bisect_right(self._ms, int(now * 1000)) - 1, -1, -1):
            t = self.tweets[str(self._order[i])]
            if t.at <= now:  # same millisecond as now, but a little later
                yield t

    def _snowflake(self, at: float) -> str:
        ms = int(at * 1000)
        # A test clock near zero would make every id collide; fall back to raw milliseconds.
        ts = ms - TWEPOCH_MS if ms >= TWEPOCH_MS else ms
        n = self._ids_per_ms.get(ts, 0)
        self._ids_per_ms[ts] = n + 1
        return str((ts << 22) + n)

    # -- auth and budgets -----------------------------------------------------------------

    def _expire_tokens(self) -> None:
        now = self.clock()
        for at, token in list(self.token_expiries):
            if at <= now:
                self.bearer_tokens.discard(token)
                self.user_tokens.pop(token, None)
                self.token_expiries.remove((at, token))

    def principal(self, authorization: str) -> tuple[str, User | None] | None:
        """("app", None) for the app bearer, (user id, user) for a user token, None when invalid."""
        self._expire_tokens()
        if authorization.startswith("Bearer "):
            token = authorization[len("Bearer "):].strip()
            if token in self.bearer_tokens:
                return "app", None
            if token in self.user_tokens:
                uid = self.user_tokens[token]
                return uid, self.users.get(uid)
            return None
        if authorization.startswith("OAuth "):
            m = re.search(r'oauth_token="([^"]*)"', authorization)
            token = m.group(1) if m else ""
            from urllib.parse import unquote

            uid = self.user_tokens.get(unquote(token))
            return (uid, self.users.get(uid)) if uid else None
        return None

    def spend(self, endpoint: str, principal: str) -> tuple[bool, dict[str, str]]:
        """Count one request against its window. Returns (allowed, x-rate-limit headers)."""
        now = self.clock()
        key = (endpoint, principal)
        win = self._windows.get(key)
        if win is None or now >= win.start + WINDOW_S:
            win = self._windows[key] = _Window(now)
        limit = self.limits[endpoint]
        allowed = win.used < limit
        if allowed:
            win.used += 1
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - win.used)),
            "x-rate-limit-reset": str(int(win.start + WINDOW_S)),
        }
        return allowed, headers

    def outage_now(self) -> Outage | None:
        now = self.clock()
        return next((o for o in self.outages if o.start <= now < o.end), None)

    # -- rendering ------------------------------------------------------------------------

    def public_metrics(self, t: Tweet) -> dict[str, int]:
        now = self.clock()
        others = [o for o in map(self.tweets.__getitem__, self._children.get(t.id, ())) if o.at <= now]
        return {
            "retweet_count": sum(1 for o in others if o.repost_of == t.id),
            "reply_count": sum(1 for o in others if o.reply_to == t.id),
            "like_count": t.likes,
            "quote_count": sum(1 for o in others if o.quote_of == t.id),
            "bookmark_count": 0,
            "impression_count": t.likes * 40 + 10,
        }

    def render_tweet(self, t: Tweet, fields: set[str], expansions: set[str]) -> dict[str, Any]:
        text = t.text if len(t.text) <= TEXT_LIMIT else t.text[:TEXT_LIMIT - 1] + "…"
        out: dict[str, Any] = {"id": t.id, "text": text, "edit_history_tweet_ids": [t.id]}
        if "note_tweet" in fields and len(t.text) > TEXT_LIMIT:
            out["note_tweet"] = {"text": t.text}
        if "withheld" in fields and t.withheld_in:
            out["withheld"] = {"copyright": False, "country_codes": list(t.withheld_in)}
        if "author_id" in fields or "author_id" in expansions:
            out["author_id"] = t.author_id
        if "created_at" in fields:
            out["created_at"] = iso(t.at)
        if "conversation_id" in fields:
            out["conversation_id"] = t.conversation_id
        if "lang" in fields:
            out["lang"] = t.lang
        if "in_reply_to_user_id" in fields and t.in_reply_to_user_id:
            out["in_reply_to_user_id"] = t.in_reply_to_user_id
        if "public_metrics" in fields:
            out["public_metrics"] = self.public_metrics(t)
        if "possibly_sensitive" in fields:
            out["possibly_sensitive"] = False
        if "referenced_tweets" in fields and (refs := referenced(t)):
            out["referenced_tweets"] = refs
        if "entities" in fields:
            entities: dict[str, Any] = {}
            if t.mentions:
                entities["mentions"] = [{"username": m} for m in sorted(t.mentions)]
            if t.hashtags:
                entities["hashtags"] = [{"tag": h} for h in sorted(t.hashtags)]
            if entities:
                out["entities"] = entities
        return out

    def render_user(self, u: User, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": u.id, "name": u.name, "username": u.username}
        if "public_metrics" in fields:
            now = self.clock()
            tweets = sum(1 for tid in self._by_author.get(u.id, ()) if self.tweets[tid].at <= now)
            out["public_metrics"] = {"followers_count": u.followers, "following_count": u.following,
                                     "tweet_count": tweets, "listed_count": u.followers // 1000,
                                     "like_count": 0}
        if "verified" in fields:
            out["verified"] = u.verified
        if "verified_type" in fields:
            out["verified_type"] = "blue" if u.verified else "none"
        if "created_at" in fields:
            out["created_at"] = iso(u.created_at)
        if "description" in fields:
            out["description"] = u.description
        if "protected" in fields:
            out["protected"] = False
        return out


def referenced(t: Tweet) -> list[dict[str, str]]:
    refs = []
    if t.repost_of:
        refs.append({"type": "retweeted", "id": t.repost_of})
    if t.quote_of:
        refs.append({"type": "quoted", "id": t.quote_of})
    if t.reply_to:
        refs.append({"type": "replied_to", "id": t.reply_to})
    return refs


def snowflake_time(tweet_id: str) -> float:
    """When a snowflake id was minted (epoch seconds)."""
    return ((int(tweet_id) >> 22) + TWEPOCH_MS) / 1000


def iso(epoch: float) -> str:
    dt = datetime.fromtimestamp(epoch, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------------------------
# HTTP


def _problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": type_, "status": status, **extra}


def _invalid(param: str, value: str, message: str) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {param: [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def _suspended_error(user: User, parameter: str, section: str | None = None) -> dict[str, Any]:
    """X's own words for a suspended account (a `resource-not-found` problem titled Forbidden)."""
    err = {"value": user.id if parameter != "username" else user.username,
           "detail": f"User has been suspended: [{user.id if parameter != 'username' else user.username}].",
           "title": "Forbidden", "resource_type": "user", "parameter": parameter,
           "resource_id": user.id if parameter != "username" else user.username,
           "type": "https://api.twitter.com/2/problems/resource-not-found"}
    if section:
        err["section"] = section
    return err


def _csv(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def _encode_token(tweet_id: str) -> str:
    return base64.b32encode(f"u{tweet_id}".encode()).decode().rstrip("=").lower()


def _decode_token(token: str) -> str | None:
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return raw[1:] if raw.startswith("u") and raw[1:].isdigit() else None


class _Reject(Exception):
    def __init__(self, body: dict[str, Any], status: int) -> None:
        self.body, self.status = body, status


def _fields(request: web.Request) -> tuple[set[str], set[str], set[str]]:
    tf, uf, ex = _csv(request.query.get("tweet.fields")), _csv(request.query.get("user.fields")), _csv(
        request.query.get("expansions"))
    for name, given, allowed in (("tweet.fields", tf, _TWEET_FIELDS), ("user.fields", uf, _USER_FIELDS),
                                 ("expansions", ex, _EXPANSIONS)):
        bad = sorted(given - allowed)
        if bad:
            raise _Reject(_invalid(name, bad[0], f"The `{name}` query parameter value [{bad[0]}] is not one "
                                   f"of [{','.join(sorted(allowed))}]"), 400)
    return tf, uf, ex


def _timeline(world: XWorld, request: web.Request, tweets: Iterable[Tweet], *, page_param: str,
              min_results: int, oldest: float | None = None) -> dict[str, Any]:
    """Page a newest-first list of tweets the way X does (since_id/until_id, max_results, tokens)."""
    q = request.query
    tf, uf, ex = _fields(request)
    raw_max = q.get("max_results", "10")
    if not raw_max.isdigit() or not min_results <= int(raw_max) <= 100:
        raise _Reject(_invalid("max_results", raw_max, f"The `max_results` query parameter value [{raw_max}] "
                               f"is not between {min_results} and 100"), 400)
    since_id, until_id = q.get("since_id"), q.get("until_id")
    for name, value in (("since_id", since_id), ("until_id", until_id)):
        if value is not None and not value.isdigit():
            raise _Reject(_invalid(name, value, f"The `{name}` query parameter value [{value}] is not valid"), 400)
    if since_id is not None and oldest is not None and snowflake_time(since_id) < oldest:
        # Real X refuses a since_id older than the search reach instead of answering from the horizon.
        raise _Reject(_invalid("since_id", since_id, f"Invalid 'since_id':'{since_id}'. 'since_id' must be a "
                               f"tweet id created after {iso(oldest)}."), 400)
    bounds: dict[str, float] = {}
    for name in ("start_time", "end_time"):
        if name in q:
            try:
                bounds[name] = datetime.fromisoformat(q[name].replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise _Reject(_invalid(name, q[name], f"The `{name}` query parameter value [{q[name]}] is not a "
                                       "valid RFC 3339 time"), 400) from None
    token = q.get(page_param)
    if token is not None:
        below = _decode_token(token)
        if below is None:
            raise _Reject(_invalid(page_param, token, f"The `{page_param}` query parameter value [{token}] "
                                   "is not valid"), 400)
        until_id = below if until_id is None else str(min(int(until_id), int(below)))

    def selected() -> Iterator[Tweet]:  # newest first, so since_id ends the scan
        for t in tweets:
            if since_id is not None and int(t.id) <= int(since_id):
                return
            if "start_time" in bounds and t.at < bounds["start_time"]:
                return
            if (until_id is None or int(t.id) < int(until_id)) and t.at < bounds.get("end_time", float("inf")):
                yield t

    taken = list(islice(selected(), int(raw_max) + 1))
    page, rest = taken[: int(raw_max)], taken[int(raw_max):]
    world.reads += len(page)
    body: dict[str, Any] = {}
    if page:
        body["data"] = [world.render_tweet(t, tf, ex) for t in page]
        includes = _includes(world, page, uf, ex, tf)
        if "errors" in includes:
            body["errors"] = includes.pop("errors")
        if includes:
            body["includes"] = includes
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
    if page and rest:
        meta["next_token"] = _encode_token(page[-1].id)
    body["meta"] = meta
    return body


def _includes(world: XWorld, page: list[Tweet], uf: set[str], ex: set[str], tf: set[str]) -> dict[str, Any]:
    users: dict[str, User] = {}
    tweets: dict[str, Tweet] = {}
    for t in page:
        if "author_id" in ex:
            users[t.author_id] = world.users[t.author_id]
        if "in_reply_to_user_id" in ex and t.in_reply_to_user_id:
            users[t.in_reply_to_user_id] = world.users[t.in_reply_to_user_id]
        if "referenced_tweets.id" in ex or "referenced_tweets.id.author_id" in ex:
            for ref in referenced(t):
                target = world.tweets.get(ref["id"])
                if target is not None and target.at <= world.clock():
                    tweets[target.id] = target
                    if "referenced_tweets.id.author_id" in ex:
                        users[target.author_id] = world.users[target.author_id]
    out: dict[str, Any] = {}
    gone = [u for u in users.values() if u.suspended]
    users = {uid: u for uid, u in users.items() if not u.suspended}
    if gone:  # X leaves them out and says so beside the data (partial errors)
        out["errors"] = [_suspended_error(u, "author_id", section="includes") for u in gone]
    if users:
        out["users"] = [world.render_user(u, uf) for u in users.values()]
    if tweets:
        out["tweets"] = [world.render_tweet(t, tf, ex) for t in tweets.values()]
    return out


def make_x_app(world: XWorld) -> web.Application:
    app = web.Application(middlewares=[make_middleware(world.recorder, world.faults, style="x")])

    def endpoint(name: str, *, user_context: bool = False):  # type: ignore[no-untyped-def]
        """Auth, timed outages, the rate window and its headers, shared by every route."""

        def wrap(handler: Callable[[web.Request, User | None], Any]):  # type: ignore[no-untyped-def]
            async def run(request: web.Request) -> web.StreamResponse:
                outage = world.outage_now()
                if outage is not None:
                    return json_response(_problem(outage.status, "Service Unavailable", "Service Unavailable"),
                                         outage.status)
                who = world.principal(request.headers.get("Authorization", ""))
                if who is None:
                    return json_response(_problem(401, "Unauthorized", "Unauthorized"), 401)
                principal, user = who
                allowed, headers = world.spend(name, principal)
                if not allowed:
                    return json_response(_problem(429, "Too Many Requests", "Too Many Requests"), 429, headers)
                if user_context and user is None:
                    return json_response(_problem(
                        403, "Unsupported Authentication",
                        "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
                        "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
                        "https://api.twitter.com/2/problems/unsupported-authentication"), 403, headers)
                if name in ("search_recent", "mentions") and world.monthly_read_cap is not None \
                        and world.reads >= world.monthly_read_cap:
                    return json_response(_problem(429, "UsageCapExceeded", "Usage cap exceeded: Monthly product cap",
                                                  "https://api.twitter.com/2/problems/usage-capped",
                                                  period="Monthly", scope="Product"), 429, headers)
                try:
                    body, status = await handler(request, user)
                except _Reject as rej:
                    body, status = rej.body, rej.status
                return json_response(body, status, headers)

            return run

        return wrap

    @endpoint("search_recent")
    async def search_recent(request: web.Request, _: User | None) -> tuple[dict[str, Any], int]:
        query = request.query.get("query")
        if not query:
            raise _Reject(_invalid("query", "", "The `query` query parameter can not be empty"), 400)
        try:
            pred = parse_query(query)
        except QueryError as e:
            raise _Reject(_invalid("query", query, f"There were errors processing your request: {e}"), 400)
        horizon = world.clock() - SEARCH_RECENT_S

        def matches() -> Iterator[Tweet]:
            for t in world.newest_first():
                if t.at < horizon:
                    return
                if pred(t, world):
                    yield t

        return _timeline(world, request, matches(), page_param="next_token", min_results=10, oldest=horizon), 200

    @endpoint("mentions")
    async def mentions(request: web.Request, _: User | None) -> tuple[dict[str, Any], int]:
        uid = request.match_info["id"]
        target = world.users.get(uid)
        if target is None:
            return {"errors": [{"value": uid, "detail": f"Could not find user with id: [{uid}].",
                                "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                                "resource_id": uid, "type": "https://api.twitter.com/2/problems/resource-not-found"}],
                    "meta": {"result_count": 0}}, 200
        if target.suspended:  # 200, only errors: no data, no meta
            return {"errors": [_suspended_error(target, "id")]}, 200
        handle = target.username.lower()
        timeline = islice((t for t in world.newest_first() if handle in t.mentions), MENTIONS_CAP)
        return _timeline(world, request, timeline, page_param="pagination_token", min_results=5), 200

    @endpoint("user_by_username")
    async def user_by_username(request: web.Request, _: User | None) -> tuple[dict[str, Any], int]:
        username = request.match_info["username"]
        if not re.fullmatch(r"\w{1,15}", username):
            raise _Reject(_invalid("username", username, f"The `username` query parameter value [{username}] "
                                   "does not match ^[A-Za-z0-9_]{1,15}$"), 400)
        _, uf, _ = _fields(request)
        user = world.user_by_username(username)
        if user is not None and user.suspended:
            return {"errors": [_suspended_error(user, "username")]}, 200
        if user is None:
            return {"errors": [{"value": username, "detail": f"Could not find user with username: [{username}].",
                                "title": "Not Found Error", "resource_type": "user", "parameter": "username",
                                "resource_id": username,
                                "type": "https://api.twitter.com/2/problems/resource-not-found"}]}, 200
        return {"data": world.render_user(user, uf)}, 200

    @endpoint("users_me", user_context=True)
    async def users_me(request: web.Request, user: User | None) -> tuple[dict[str, Any], int]:
        _, uf, _ = _fields(request)
        assert user is not None
        return {"data": world.render_user(user, uf)}, 200

    @endpoint("create_tweet", user_context=True)
    async def create_tweet(request: web.Request, user: User | None) -> tuple[dict[str, Any], int]:
        assert user is not None
        try:
            payload = await request.json()
        except ValueError:
            raise _Reject(_problem(400, "Invalid Request", "Request body is not valid JSON",
                                   "https://api.twitter.com/2/problems/invalid-request"), 400)
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise _Reject(_invalid("text", "", "The `text` field is required"), 400)
        if len(text) > 280:
            raise _Reject(_problem(403, "Forbidden", "Your Tweet text is too long."), 403)
        reply_to = (payload.get("reply") or {}).get("in_reply_to_tweet_id")
        quote_of = payload.get("quote_tweet_id")
        for param, ref in (("reply.in_reply_to_tweet_id", reply_to), ("quote_tweet_id", quote_of)):
            if ref is not None and (ref not in world.tweets or world.tweets[ref].at > world.clock()):
                raise _Reject(_invalid(param, str(ref), f"The tweet {ref} you are replying to or quoting "
                                       "does not exist or is not visible to you."), 400)
        final = world.compose(user, text, reply_to=reply_to)
        if any(t.author_id == user.id and t.text == final for t in world.tweets.values()):
            raise _Reject(_problem(403, "Forbidden",
                                   "You are not allowed to create a Tweet with duplicate content."), 403)
        tid = world.post(user, text, reply_to=reply_to, quote_of=quote_of)
        return {"data": {"id": tid, "text": world.tweets[tid].text, "edit_history_tweet_ids": [tid]}}, 201

    app.router.add_get("/2/tweets/search/recent", search_recent)
    app.router.add_get("/2/users/me", users_me)
    app.router.add_get("/2/users/by/username/{username}", user_by_username)
    app.router.add_get("/2/users/{id}/mentions", mentions)
    @endpoint("dm_create", user_context=True)
    async def dm_create(request: web.Request, user: User | None) -> tuple[dict[str, Any], int]:
        """X's "send a DM to a participant": 201 with the conversation and event ids."""
        assert user is not None
        to = request.match_info["participant_id"]
        try:
            payload = await request.json()
        except ValueError:
            raise _Reject(_problem(400, "Invalid Request", "Request body is not valid JSON",
                                   "https://api.twitter.com/2/problems/invalid-request"), 400)
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise _Reject(_invalid("text", "", "The `text` field is required"), 400)
        if to not in world.users:
            raise _Reject(_invalid("participant_id", to, f"Could not find user with id: [{to}]."), 400)
        if to in world.closed_dms:
            raise _Reject(_problem(403, "Forbidden", "You cannot send messages to this user."), 403)
        event = world._snowflake(world.clock())
        conv = "-".join(sorted([user.id, to]))
        world.dms.append({"id": event, "from": user.id, "to": to, "text": text})
        return {"data": {"dm_conversation_id": conv, "dm_event_id": event}}, 201

    app.router.add_post("/2/tweets", create_tweet)
    app.router.add_post("/2/dm_conversations/with/{participant_id}/messages", dm_create)
    return app
