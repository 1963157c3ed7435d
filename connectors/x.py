"""X (Twitter) API v2 through tweepy's AsyncClient: brand-handle mentions and keyword searches.

Streams: `mentions:<handle>` for each configured handle (`get_users_mentions`) and `search:<query>`
for each query (`search_recent_tweets`), each with its own `since_id` cursor.

Paging and cursors (state after records): X answers newest first, so `since_id` only moves to
the newest id read once paging has reached it. When paging is cut short (max_pages, or an error
after the first page) the items read are returned and `since_id` stays where it was; the cursor
then also records how far down the walk got (`StreamCursor`: since:below:top), and the next poll
continues below that point with `until_id` instead of re-reading the newest pages. (Keeping only
the old since_id would re-read the same top pages on every poll and, once more than
max_pages x max_results posts are newer than it, never finish: a stream stuck paying for the
same reads forever.) A stream's first poll (no cursor) starts from now: it reads up to max_pages
and does not backfill the past week; when it finds nothing, the cursor is "now" as an X id.

Partial failure: streams are fetched one after another (handles first: they matter most). A stream
that fails does not lose the others' results. `fetch` raises only when nothing useful came back
(no items and no cursor moved) — then the most serious error wins (auth > config > transient) so
the daemon backs off or alerts. Otherwise it returns the batch and leaves the errors in
`last_errors` (one entry per stream that failed or was not asked) for health reporting. After an
auth error no further stream is tried (same token); after a transient error the other streams of
the same endpoint are skipped (they would fail too).

Catch-up: recent search reaches back seven days and X refuses an older `since_id`. A search cursor
older than that is dropped for one poll, the cursor moves on, and the range that can no longer be
read is reported in `gaps`. The mentions timeline has no time limit but returns only the 800 newest
posts: a walk that ends after 800 posts without reaching its cursor reports the rest as a gap.

Replies (`reply`, the Replier protocol) act as the brand account: OAuth 1.0a keys or an OAuth 2.0
user token in the config. X has no idempotency key; a retried reply that X refuses as a duplicate
is looked up in the thread instead of being posted twice.

tweepy's host is hard-coded to https://api.twitter.com; `_TweepySession` sends its requests to
`api_base` instead and applies the timeout. Library errors become our vocabulary in `_translate`.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import aiohttp
import structlog
import tweepy
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from yarl import URL

from connectors.base import (
    AuthError,
    BadPayload,
    ConfigError,
    Gap,
    RateLimit,
    SourceError,
    TransientError,
    most_serious,
)
from monitor.models import Author, Batch, Cursor, Mention, bounded

log = structlog.get_logger("x")

REAL_API = "https://api.twitter.com"
# note_tweet: a post longer than 280 characters has only its first 280 in `text`; the whole of it is
# here (triage must read all of it). withheld: the countries where the post is hidden, recorded.
TWEET_FIELDS = ["author_id", "created_at", "conversation_id", "public_metrics", "referenced_tweets", "lang",
                "in_reply_to_user_id", "note_tweet", "withheld"]
USER_FIELDS = ["username", "name", "public_metrics", "verified"]
EXPANSIONS = ["author_id"]
RATE_WINDOW_S = 15 * 60.0
SEARCH_REACH_S = 7 * 24 * 3600  # recent search answers for the last seven days only
MENTIONS_CAP = 800  # the mentions timeline returns at most the 800 newest posts
TWEPOCH_MS = 1288834974657  # X's snowflake epoch
QUERY_MAX = 512  # X's limit for a recent-search query on the Basic and Pro tiers
STREAM_NAME_MAX = 120  # stored in columns of 128 characters (cursors.stream, mentions.stream)

Endpoint = Literal["search", "mentions", "users", "me", "tweets", "dm"]


def _fits(query: str) -> str:
    """Refused when the file is loaded: X refuses a longer query whatever else is right with it.
    (`check` finds the rest: empty queries, unbalanced quotes or parentheses.)"""
    if len(query) > QUERY_MAX:
        raise ValueError(f"the query is {len(query)} characters long; X allows {QUERY_MAX}")
    return query


class XBudget(BaseModel):
    """What this X app may spend. Requests are counted per endpoint in 15-minute windows (X's own
    accounting, app auth); reads are the posts X returns, billed against a monthly cap."""

    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(900.0, gt=0)
    mentions_requests: int = Field(450, ge=1)  # per window: GET /2/users/:id/mentions
    search_requests: int = Field(450, ge=1)  # per window: GET /2/tweets/search/recent
    monthly_post_reads: int | None = Field(None, ge=1)  # None: no cap
    min_interval: float | None = Field(None, gt=0)  # fastest poll while mentions flow; default interval/4
    max_interval: float | None = Field(None, gt=0)  # slowest while quiet; default interval*5


class XConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["x"]
    name: str = Field("x", min_length=1, max_length=64)  # stored with every mention (64)
    bearer_token: SecretStr
    api_base: str = "https://api.twitter.com"
    handles: list[str] = Field(default_factory=list)  # mentions of these accounts (without @)
    # X search queries, operators allowed; refused at load (with the YAML path) when X would refuse them
    queries: list[Annotated[str, AfterValidator(_fits)]] = Field(default_factory=list)
    interval: float = Field(60.0, gt=0)  # seconds between polls
    max_results: int = Field(100, ge=10, le=100)
    max_pages: int = Field(5, ge=1)
    include_reposts: bool = False
    timeout: float = Field(15.0, gt=0)
    budget: XBudget = Field(default_factory=XBudget)
    quiet_after: float | None = Field(7200.0, gt=0)  # no mention for this long, when some were due: alert
    quiet_min_expected: float = Field(5.0, gt=0)  # ... if at least this many were expected in that time
    # Replying needs user context: OAuth 1.0a keys of the brand account, or an OAuth 2.0 user token.
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    user_token: SecretStr | None = None

    @property
    def oauth1(self) -> bool:
        return None not in (self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret)


def snowflake_at(epoch: float) -> str:
    """The smallest X id minted at `epoch`: a since_id that means "from then on"."""
    return str(max(0, int(epoch * 1000) - TWEPOCH_MS) << 22)


def snowflake_time(tweet_id: str) -> float:
    """When an X id was minted (epoch seconds): ids are snowflakes with a millisecond timestamp."""
    return ((int(tweet_id) >> 22) + TWEPOCH_MS) / 1000


@dataclass(frozen=True, slots=True)
class StreamCursor:
    """A stream's cursor value. Plain `<since_id>` when everything up to it is stored; while a
    catch-up is under way, `<since_id>:<below_id>:<top_id>`: every post in (below, top] is stored,
    (since, below] is still to read, and `top` becomes the plain cursor once it is. A fourth part
    counts the posts read so far in the walk (the mentions timeline stops at the 800 newest)."""

    since: str | None
    below: str | None = None
    top: str | None = None
    read: int = 0

    @classmethod
    def parse(cls, value: str) -> StreamCursor:
        parts = value.split(":")
        if len(parts) == 1 and value.isdigit():
            return cls(value)
        if len(parts) in (3, 4) and all(p.isdigit() for p in parts[1:]) and (parts[0].isdigit() or not parts[0]):
            return cls(parts[0] or None, parts[1], parts[2], int(parts[3]) if len(parts) == 4 else 0)
        return cls(None)  # none yet, or unreadable: start from now

    def render(self) -> str:
        if not self.below:
            return self.since or ""
        return f"{self.since or ''}:{self.below}:{self.top}" + (f":{self.read}" if self.read else "")


@dataclass
class _StreamResult:
    mentions: list[Mention] = field(default_factory=list)
    cursor: Cursor | None = None  # where the stream now stands; None when nothing moved
    skipped_bad: int = 0
    error: SourceError | None = None  # an error after the first page: what was read is kept
    truncated: bool = False  # stopped at max_pages


class _OnlyErrors(Exception):
    """X answered 200 with an `errors` list and nothing else (a suspended, deleted or protected
    account on the mentions endpoint). Not a quiet stream: translated in `_translate`."""

    def __init__(self, errors: list[Any]) -> None:
        self.errors = [e for e in errors if isinstance(e, dict)]
        super().__init__(_errors_detail(self.errors))


def _errors_detail(errors: list[dict[str, Any]]) -> str:
    return "; ".join(str(e.get("detail") or e.get("title") or e.get("message") or e) for e in errors[:3])


# Problem types that mean "this resource cannot be read" (it will not fix itself by waiting).
_RESOURCE_PROBLEMS = ("resource-not-found", "not-authorized-for-resource", "resource-unavailable")


class DuplicatePost(SourceError):
    """X refused a post with the same text as one of ours (403 duplicate content)."""


def _translate(exc: BaseException, *, clock: Callable[[], float] = time.time) -> SourceError:
    """The one place where tweepy, aiohttp and JSON errors become our error vocabulary."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, _OnlyErrors):
        if any(str(e.get("type", "")).endswith(_RESOURCE_PROBLEMS) for e in exc.errors):
            return ConfigError(f"X answered only errors: {exc}")
        return TransientError(f"X answered only errors: {exc}")
    if isinstance(exc, tweepy.TooManyRequests):
        reset = getattr(exc, "reset_time", None)
        # X windows are 15 minutes: a reset further away than that is a skewed clock, not a longer wait
        retry_after = min(RATE_WINDOW_S, max(1.0, reset - clock())) if reset is not None else None
        return TransientError("X rate limit reached (429)", retry_after=retry_after, rate_limited=True)
    if isinstance(exc, tweepy.Forbidden) and any("duplicate content" in m for m in exc.api_messages):
        return DuplicatePost("X refused a duplicate of one of our posts")
    if isinstance(exc, (tweepy.Unauthorized, tweepy.Forbidden)):
        return AuthError(f"X refused the credentials ({exc.response.status}): {_detail(exc)}")
    if isinstance(exc, (tweepy.BadRequest, tweepy.NotFound)):
        return ConfigError(f"X rejected the request ({exc.response.status}): {_detail(exc)}")
    if isinstance(exc, tweepy.TwitterServerError):
        return TransientError(f"X server error ({exc.response.status})")
    if isinstance(exc, tweepy.HTTPException):
        return TransientError(f"X answered {exc.response.status}")
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's timeouts subclass it too
        return TransientError("X did not answer in time")
    if isinstance(exc, aiohttp.ClientError):
        return TransientError(f"network error talking to X: {type(exc).__name__}")
    if isinstance(exc, (ValueError, TypeError, KeyError)):  # json.JSONDecodeError is a ValueError
        return TransientError(f"X sent a malformed response: {exc}")
    raise exc


def _detail(exc: tweepy.HTTPException) -> str:
    return "; ".join(exc.api_messages) or exc.response.reason or ""


class _TweepySession:
    """What tweepy calls as `session`: sends its requests to `base` (tweepy hard-codes the real host)
    and applies our timeout. tweepy only ever calls `request(method, url, params=, json=, headers=)`."""

    def __init__(self, session: aiohttp.ClientSession, base: str, timeout: float) -> None:
        self._session = session
        self._base = base.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def rebase(self, url: str | URL) -> URL:
        u = url if isinstance(url, URL) else URL(url)
        if self._base == REAL_API:
            return u
        query = f"?{u.raw_query_string}" if u.raw_query_string else ""
        # encoded=True: keep the already-encoded query (OAuth 1.0a signs exactly those bytes).
        return URL(f"{self._base}{u.raw_path}{query}", encoded=True)

    def request(self, method: str, url: str | URL, **kw: Any) -> Any:
        kw.setdefault("timeout", self._timeout)
        return self._session.request(method, self.rebase(url), **kw)

    async def close(self) -> None:
        await self._session.close()


class XSource:
    name: ClassVar[str] = "x"

    def __init__(
        self,
        cfg: XConfig,
        *,
        own_handles: Sequence[str] = (),
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        config_path: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.source_name = cfg.name
        # The handles we watch for mentions are the brand's own accounts: their posts are ours too.
        self.own_handles = {h.lstrip("@").lower() for h in [*own_handles, *cfg.handles]}
        self._session_factory = session_factory
        self._path = f"{config_path}." if config_path else ""
        self._clock = clock
        self._client: Any = None  # tweepy.asynchronous.AsyncClient, imported when first needed
        self._user_client: Any = None  # the same, acting as the brand account (replies)
        self._me: str | None = None
        self._session: _TweepySession | None = None
        self._user_ids: dict[str, str] = {}  # handle (lower) -> user id
        self.rate_limits: dict[Endpoint, RateLimit] = {}
        self.last_errors: list[tuple[str, SourceError]] = []  # (stream, error) from the latest fetch
        self.gaps: list[Gap] = []  # ranges the latest fetch could not reach (cursor older than X's reach)
        self.requests_total = 0
        self.requests_by_pool: dict[str, int] = {}  # per endpoint: what the budget planner counts
        self.reads_total = 0  # posts X returned (what X bills against the monthly cap)
        self.partial_errors = 0  # `errors` entries X sent beside data (logged, counted)

    # -- streams ----------------------------------------------------------------------------

    def streams(self) -> list[str]:
        return list(self._stream_args())

    def _stream_args(self) -> dict[str, tuple[str, str, int]]:
        """stream name -> (kind, handle or query, index in the YAML list). Names are stored (128
        characters): a long query (X allows 512) keeps a readable head and a hash of the whole."""
        out: dict[str, tuple[str, str, int]] = {}
        for i, h in enumerate(self.cfg.handles):
            out[bounded(f"mentions:{h.lstrip('@')}", STREAM_NAME_MAX)] = ("mentions", h.lstrip("@"), i)
        for i, q in enumerate(self.cfg.queries):
            out[bounded(f"search:{q}", STREAM_NAME_MAX)] = ("search", q, i)
        return out

    def _stream_path(self, stream: str) -> str:
        kind, _, i = self._stream_args()[stream]
        return f"{self._path}{'handles' if kind == 'mentions' else 'queries'}[{i}]"

    # -- the Source protocol ----------------------------------------------------------------

    async def check(self) -> None:
        """Resolve every handle (proves the token too); reject queries X could never parse."""
        for i, query in enumerate(self.cfg.queries):
            problem = _query_problem(query)
            if problem:
                raise ConfigError(problem, path=f"{self._path}queries[{i}]")
        for i, handle in enumerate(self.cfg.handles):
            self._user_ids.pop(handle.lstrip("@").lower(), None)  # ask again: a cached id proves no token
            await self._user_id(handle, path=f"{self._path}handles[{i}]")
        if not self.cfg.handles:  # still prove the token works
            try:
                await self._call("users", lambda c: c.get_user(username="X"))
            except ConfigError:
                pass  # an answer about the account (even "not found") proves the token

    async def fetch(self, cursors: dict[str, Cursor], *, streams: Sequence[str] | None = None) -> Batch:
        """New posts of every stream (or only `streams`, for a planner that spreads the budget)."""
        self.last_errors = []
        self.gaps = []
        before = self.requests_total
        touched: set[Endpoint] = set()
        blocked: dict[Endpoint | Literal["all"], SourceError] = {}
        mentions: list[Mention] = []
        seen: set[str] = set()
        new_cursors: list[Cursor] = []
        skipped = 0
        partial: dict[str, int] = {}
        for stream in self.streams() if streams is None else [s for s in self.streams() if s in streams]:
            endpoint: Endpoint = "mentions" if stream.startswith("mentions:") else "search"
            if "all" in blocked or endpoint in blocked:  # not asked: it would fail the same way
                self.last_errors.append((stream, blocked.get("all") or blocked[endpoint]))
                continue
            touched.add(endpoint)
            partial_before = self.partial_errors
            try:
                result = await self._fetch_stream(stream, cursors.get(stream))
            except SourceError as e:
                result = _StreamResult(error=e)
            if self.partial_errors > partial_before:
                partial[stream] = self.partial_errors - partial_before
            for m in result.mentions:
                if m.external_id not in seen:  # a tweet can match several streams
                    seen.add(m.external_id)
                    mentions.append(m)
            skipped += result.skipped_bad
            if result.cursor is not None:
                new_cursors.append(result.cursor)
            if result.error is not None:
                self.last_errors.append((stream, result.error))
                if isinstance(result.error, AuthError):
                    blocked["all"] = result.error
                elif isinstance(result.error, TransientError):
                    blocked[endpoint] = result.error
        if self.last_errors and not mentions and not new_cursors:
            raise most_serious([e for _, e in self.last_errors])
        remaining, reset = self._tightest(touched)
        return Batch(mentions, new_cursors, requests=self.requests_total - before, rate_limit_remaining=remaining,
                     rate_limit_reset=reset, skipped_bad=skipped, partial_errors=partial)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._client = self._user_client = None

    # -- replying (the Replier protocol) ----------------------------------------------------

    async def reply(self, to: Mention, text: str, *, key: str) -> str:
        """Post `text` as the brand's public reply to `to` and return the new post's id.

        X has no idempotency key (`key` is the outbox's): when X refuses the post as a duplicate,
        an earlier attempt landed, and its id is looked up in the thread instead.
        """
        return await self._post(lambda c: c.create_tweet(
            text=text, in_reply_to_tweet_id=to.external_id, user_auth=self.cfg.oauth1), lambda: self.find_reply(to))

    async def _post(self, create: Callable[[Any], Awaitable[Any]], find: Callable[[], Awaitable[str | None]]) -> str:
        """POST /2/tweets; X refusing it as a duplicate means an earlier attempt landed: `find` returns it."""
        try:
            body = await self._call("tweets", create, user=True)
        except DuplicatePost:
            found = await find()
            if found is None:
                raise
            return found
        try:
            return str(body["data"]["id"])
        except (KeyError, TypeError) as e:
            raise _translate(e) from e

    async def post_status(self, text: str, *, key: str = "") -> str:
        """Post `text` on the brand's timeline (an incident's status post); returns the post's id.

        X has no idempotency key: when it refuses the text as a duplicate, an earlier attempt landed
        and that post's id is returned instead.
        """
        return await self._post(lambda c: c.create_tweet(text=text, user_auth=self.cfg.oauth1),
                                lambda: self.find_status(text))

    async def find_status(self, text: str) -> str | None:
        """Our post with exactly this text, if one landed (for an outbox row in doubt). Recent search: seven days."""
        me = await self._my_username()
        body = await self._call("search", lambda c: c.search_recent_tweets(
            f"from:{me} -is:reply", max_results=100, tweet_fields=["referenced_tweets"]))
        wanted = " ".join(text.split())
        for t in body.get("data") or []:
            if " ".join(str(t.get("text", "")).split()) == wanted:
                return str(t["id"])
        return None

    async def send_dm(self, user_id: str, text: str, *, key: str = "") -> str:
        """A direct message from the brand account to `user_id` (a private hand-off); returns its event id.

        X has no idempotency key: the caller sends a hand-off DM at most once per thread (its outbox
        key), and a DM is not looked up again after a crash — a second copy of a hand-off note is
        the lesser harm than none.
        """
        body = await self._call("dm", lambda c: c.create_direct_message(
            participant_id=user_id, text=text, user_auth=self.cfg.oauth1), user=True)
        try:
            return str(body["data"]["dm_event_id"])
        except (KeyError, TypeError) as e:
            raise _translate(e) from e

    async def find_reply(self, to: Mention) -> str | None:
        """Our reply to `to`, if one landed (for an outbox row in doubt). Recent search: seven days."""
        me = await self._my_username()
        query = f"conversation_id:{to.conversation_id or to.external_id} from:{me}"
        body = await self._call("search", lambda c: c.search_recent_tweets(
            query, max_results=100, tweet_fields=["referenced_tweets"]))
        for t in body.get("data") or []:
            if {"type": "replied_to", "id": to.external_id} in (t.get("referenced_tweets") or []):
                return str(t["id"])
        return None

    async def _my_username(self) -> str:
        if self._me is None:
            body = await self._call("me", lambda c: c.get_me(user_auth=self.cfg.oauth1), user=True)
            self._me = str(body["data"]["username"])
            self.own_handles.add(self._me.lower())  # whoever we post as is us: its posts are never triaged
        return self._me

    # -- paging -----------------------------------------------------------------------------

    async def _fetch_stream(self, stream: str, cursor: Cursor | None) -> _StreamResult:
        """Page one stream newest-first (see the module docstring for the cursor's states).

        An error on the first page raises; a later one is kept in the result with what was read.
        """
        kind, arg, _ = self._stream_args()[stream]
        state = StreamCursor.parse(cursor.value if cursor else "")
        since, below = state.since, state.below
        params: dict[str, Any] = {"max_results": self.cfg.max_results, "expansions": EXPANSIONS,
                                  "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
        # Recent search reaches back seven days and X refuses an older since_id (400): read what can
        # still be read, move on, and report the hole in `gaps`.
        horizon = self._clock() - SEARCH_REACH_S + 60
        beyond_reach = kind == "search" and since is not None and snowflake_time(since) < horizon
        if since and not beyond_reach:
            params["since_id"] = since
        if below:
            params["until_id"] = below
        if kind == "mentions":
            uid = await self._user_id(arg, path=self._stream_path(stream))

            def page(c: Any, token: str | None) -> Awaitable[Any]:
                return c.get_users_mentions(uid, pagination_token=token, **params)
            endpoint: Endpoint = "mentions"
        else:

            def page(c: Any, token: str | None) -> Awaitable[Any]:
                return c.search_recent_tweets(arg, next_token=token, **params)
            endpoint = "search"

        result = _StreamResult()
        top = state.top  # the newest id stored once this walk is done
        oldest: int | None = None
        token: str | None = None
        complete = False
        read = state.read  # posts read in this walk, over all its polls
        for n in range(self.cfg.max_pages):
            try:
                body = await self._call(endpoint, lambda c: page(c, token))
            except ConfigError as e:  # a query X cannot run: name it by its YAML path
                error: SourceError = ConfigError(str(e), path=self._stream_path(stream))
                if n == 0:
                    raise error from e
                result.error = error
                break
            except SourceError as e:
                if n == 0:
                    raise
                result.error = e
                break
            items, bad, ids, page_newest = self._parse_page(stream, body)
            result.mentions.extend(m for m in items if since is None or int(m.external_id) > int(since))
            result.skipped_bad += bad
            oldest = min([*ids, *([oldest] if oldest is not None else [])], default=None)
            read += len(ids)
            if n == 0 and top is None:
                top = page_newest
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                complete = True
                break
        result.truncated = not complete and result.error is None
        if complete and kind == "mentions" and since is not None and read >= MENTIONS_CAP \
                and oldest is not None and oldest > int(since) + 1:
            # The timeline ended at its 800 newest before reaching the cursor: the rest is dropped.
            self.gaps.append(Gap(stream, snowflake_time(since), snowflake_time(str(oldest))))
        result.cursor = self._next_cursor(stream, state, top, oldest, complete, beyond_reach, horizon, read)
        return result

    def _next_cursor(self, stream: str, state: StreamCursor, top: str | None, oldest: int | None, complete: bool,
                     beyond_reach: bool, horizon: float, read: int = 0) -> Cursor | None:
        """Where this stream stands after the walk; None when nothing moved."""
        since = state.since
        if complete or since is None or beyond_reach:
            # Done; or the first poll, which starts from now rather than backfilling; or the rest is
            # out of X's reach anyway.
            if beyond_reach and since is not None:
                missing_to = horizon - 60 if complete or oldest is None else snowflake_time(str(oldest))
                self.gaps.append(Gap(stream, snowflake_time(since), missing_to))
            if top is None and since is None and complete:
                # Nothing to read yet: remember "now" (a minute early, for clock skew) so the first
                # burst after a quiet start is read in full, not cut to max_pages.
                return Cursor(stream, snowflake_at(self._clock() - 60))
            if top is None or (since is not None and int(top) <= int(since)):
                return None
            return Cursor(stream, top)
        if oldest is None or top is None:
            return None  # nothing read: the cursor stands
        return Cursor(stream, StreamCursor(since, str(oldest), top, read).render())

    def _parse_page(self, stream: str, body: Any) -> tuple[list[Mention], int, list[int], str | None]:
        """Mentions, malformed-item count, the ids read, and the page's newest id (reposts and bad
        items count as read: the cursor may pass them)."""
        if not isinstance(body, dict):
            raise TransientError("X sent a page that is not a JSON object")
        data = body.get("data") or []
        if not isinstance(data, list):
            raise TransientError("X sent a page whose `data` is not a list")
        users = {u.get("id"): u for u in (body.get("includes") or {}).get("users", []) if isinstance(u, dict)}
        out: list[Mention] = []
        bad = 0
        ids: list[int] = []
        for item in data:
            try:
                ids.append(int(item["id"]))
                mention = self._to_mention(stream, item, users)
            except (BadPayload, KeyError, TypeError, ValueError):
                bad += 1
                continue
            if mention.is_repost and not self.cfg.include_reposts:
                continue
            out.append(mention)
        newest = (body.get("meta") or {}).get("newest_id") or (str(max(ids)) if ids else None)
        return out, bad, ids, str(newest) if newest is not None else None

    def _to_mention(self, stream: str, t: dict[str, Any], users: dict[Any, dict[str, Any]]) -> Mention:
        tid, text, author_id = str(t["id"]), t["text"], str(t["author_id"])
        note = t.get("note_tweet")
        if isinstance(note, dict) and isinstance(note.get("text"), str) and note["text"]:
            text = note["text"]  # a long post: `text` holds only its first 280 characters
        if not tid.isdigit() or not isinstance(text, str):
            raise BadPayload(f"tweet {tid!r} has no usable id or text")
        created_at = datetime.fromisoformat(str(t["created_at"]).replace("Z", "+00:00"))
        u = users.get(author_id) or {}
        followers = (u.get("public_metrics") or {}).get("followers_count", 0)
        author = Author(id=author_id, username=str(u.get("username", "")), name=str(u.get("name", "")),
                        followers=int(followers or 0), verified=bool(u.get("verified", False)))
        refs = {r.get("type"): str(r.get("id")) for r in t.get("referenced_tweets") or [] if isinstance(r, dict)}
        metrics = {k: int(v) for k, v in (t.get("public_metrics") or {}).items() if isinstance(v, int)}
        withheld = t.get("withheld") if isinstance(t.get("withheld"), dict) else {}
        codes = [str(c) for c in withheld.get("country_codes") or [] if isinstance(c, str)]
        url = (f"https://x.com/{author.username}/status/{tid}" if author.username
               else f"https://x.com/i/web/status/{tid}")
        return Mention(
            source=self.source_name, external_id=tid, text=text, author=author, created_at=created_at,
            stream=stream, url=url, conversation_id=str(t.get("conversation_id") or ""),
            in_reply_to=refs.get("replied_to", ""), quoted_id=refs.get("quoted", ""), lang=str(t.get("lang") or ""),
            metrics=metrics, is_own=author.username.lower() in self.own_handles or author_id in self._own_ids(),
            is_repost="retweeted" in refs, raw={"tweet": t, "author": u, **({"withheld_in": codes} if codes else {})},
        )

    def _own_ids(self) -> set[str]:
        return {uid for handle, uid in self._user_ids.items() if handle in self.own_handles}

    # -- calls ------------------------------------------------------------------------------

    async def _user_id(self, handle: str, *, path: str) -> str:
        key = handle.lstrip("@").lower()
        if key not in self._user_ids:
            try:
                body = await self._call("users", lambda c: c.get_user(username=key, user_fields=USER_FIELDS))
            except ConfigError as e:
                raise ConfigError(str(e), path=path) from e
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or "id" not in data:
                raise ConfigError(f"X has no account @{key}", path=path)
            self._user_ids[key] = str(data["id"])
        return self._user_ids[key]

    def _api(self, *, user: bool = False) -> Any:
        """The app client (bearer token), or with `user` one that acts as the brand account."""
        # Imported here so that loading a config never needs tweepy's async extra (async-lru).
        from tweepy.asynchronous import AsyncClient

        if self._session is None:
            raw = self._session_factory() if self._session_factory else aiohttp.ClientSession()
            self._session = _TweepySession(raw, self.cfg.api_base, self.cfg.timeout)

        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        if not user:
            if self._client is None:
                # wait_on_rate_limit=False: with it tweepy retries a 429 without reset headers in a tight loop.
                self._client = AsyncClient(bearer_token=secret(self.cfg.bearer_token),
                                           return_type=aiohttp.ClientResponse, wait_on_rate_limit=False)
                self._client.session = self._session
            return self._client
        if self._user_client is None:
            c = self.cfg
            if not c.oauth1 and c.user_token is None:
                raise ConfigError("replying needs consumer_key, consumer_secret, access_token and "
                                  "access_token_secret, or user_token", path=self._path.rstrip("."))
            self._user_client = AsyncClient(
                bearer_token=secret(c.user_token), consumer_key=secret(c.consumer_key),
                consumer_secret=secret(c.consumer_secret), access_token=secret(c.access_token),
                access_token_secret=secret(c.access_token_secret),
                return_type=aiohttp.ClientResponse, wait_on_rate_limit=False)
            self._user_client.session = self._session
        return self._user_client

    async def _call(self, endpoint: Endpoint, call: Callable[[Any], Awaitable[Any]], *, user: bool = False) -> Any:
        """One API request: count it, note its rate-limit headers, parse its JSON; translate failures.

        A window the headers say is spent is not asked again before it resets: X would answer 429,
        and every 429 is a request wasted (and, repeated, a reason for X to lock the app out).
        """
        known = self.rate_limits.get(endpoint)
        if known is not None and known.remaining <= 0 and known.reset > self._clock():
            raise TransientError(f"X {endpoint} window spent", retry_after=max(1.0, known.reset - self._clock()))
        self.requests_total += 1
        self.requests_by_pool[endpoint] = self.requests_by_pool.get(endpoint, 0) + 1
        try:
            response = await call(self._api(user=user))
            self._note_rate(endpoint, response.headers)
            body = json.loads(await response.text())  # the body is already read; read() would refuse
            errors = body.get("errors") if isinstance(body, dict) else None
            if errors and isinstance(errors, list):
                if "data" not in body:
                    raise _OnlyErrors(errors)
                # Partial errors beside data (an author or a referenced post X will not show): the
                # data is good; say what was left out and count it.
                self.partial_errors += len(errors)
                log.warning("x.partial_errors", endpoint=endpoint, count=len(errors), detail=_errors_detail(errors))
            if endpoint in ("search", "mentions") and isinstance(body, dict) and isinstance(body.get("data"), list):
                self.reads_total += len(body["data"])
            return body
        except Exception as exc:
            failed = getattr(exc, "response", None)
            if failed is not None and hasattr(failed, "headers"):
                self._note_rate(endpoint, failed.headers)
            raise _translate(exc, clock=self._clock) from exc

    def _note_rate(self, endpoint: Endpoint, headers: Any) -> None:
        try:
            # A reset more than one window away is a skewed clock: believe at most one window.
            reset = min(float(headers["x-rate-limit-reset"]), self._clock() + RATE_WINDOW_S)
            self.rate_limits[endpoint] = RateLimit(int(headers["x-rate-limit-limit"]),
                                                   int(headers["x-rate-limit-remaining"]), reset)
        except (KeyError, TypeError, ValueError):
            pass  # not every answer carries them (a 429 without reset, a proxy error page)

    def _tightest(self, endpoints: set[Endpoint]) -> tuple[int | None, float | None]:
        known = [self.rate_limits[e] for e in endpoints if e in self.rate_limits]
        if not known:
            return None, None
        tight = min(known, key=lambda r: r.remaining)
        return tight.remaining, tight.reset


def _query_problem(query: str) -> str:
    """What makes a query unusable before X is even asked (X allows 512 characters)."""
    if not query.strip():
        return "the query is empty"
    if len(query) > QUERY_MAX:
        return f"the query is {len(query)} characters long; X allows {QUERY_MAX}"
    if query.count('"') % 2:
        return "the query has an unbalanced quote"
    depth, quoted = 0, False
    for ch in query:
        quoted ^= ch == '"'
        if not quoted:  # a quoted phrase may hold any parenthesis
            depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        return "the query has unbalanced parentheses"
    return ""
