"""Reddit through praw (blocking, not thread-safe: one single-thread executor per instance).

Streams, each with its own cursor (`"<created_utc>:<fullname>#<nonce>"`, the newest thing seen):

    inbox            the bot account's inbox: u/ mentions and replies to its posts and comments
    sub:<name>       new submissions and new comments in one of the brand's own subreddits
    search:<query>   Reddit search, sort=new, in r/all (or `search_subreddits`); submissions only

A listing is read newest first, page by page, until it reaches the stream's cursor; only then (or
at the listing's end, when a skipped range is reported in `gaps`) is a new cursor returned. Things
from the cursor's own second are looked at again (they cannot be ordered against it), and search
streams look back `search_lookback` seconds more, because Reddit's search index lags. What a fetch
returned is remembered with the cursor value it returned (a nonce makes each value unique), and is
not returned again while the pipeline hands that value back, i.e. once it stored that batch. A
batch that was not stored comes again; the store's unique (source, external_id) absorbs overlap.
A stream's first read (no cursor) takes one page as its baseline and does not backfill; an empty
one starts from now (like X), so a later burst is read in full. A walk cut short at `max_pages`
leaves the cursor where it was; when that happens
`CUT_SHORT_LIMIT` polls in a row at the same cursor (more new things than the pages reach, e.g.
after downtime), the cursor moves to the newest and the unread range is reported in `gaps`,
rather than re-reading the same top pages forever.

A failing stream does not lose the others' results: `fetch` raises only when nothing useful came
back, and otherwise leaves the errors in `last_errors` (like connectors/x.py).

praw is used for what it is good at (OAuth, re-auth on 401, rate-limit headers) through its public
`Reddit.request`, which answers the raw JSON, so no lazy praw object ever fetches behind our back.
Every library error becomes one of ours in `_translate`, and nowhere else.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import praw
import prawcore
import requests
from praw.exceptions import PRAWException, RedditAPIException
from prawcore.sessions import RetryStrategy
from pydantic import BaseModel, ConfigDict, Field, SecretStr

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
from connectors.reddit_things import (
    FULLNAME,
    Mark,
    Thing,
    is_new,
    parent_context,
    parse_thing,
    reached,
    to_mention,
)
from monitor.models import Batch, Cursor, Mention

log = logging.getLogger(__name__)

CUT_SHORT_LIMIT = 3  # polls in a row that page max_pages without reaching the cursor, before moving on
_TOKEN_PATH = "/api/v1/access_token"
START_MARK = "t3_0"  # the mark of a stream that started empty: "from now on", no thing of its own
LISTING_REACH = 1000  # Reddit serves about this many things per listing, newest first


class RedditBudget(BaseModel):
    """Reddit allows an OAuth client 100 queries a minute, averaged over ten minutes."""

    model_config = ConfigDict(extra="forbid")

    queries_per_minute: float = Field(100.0, gt=0, le=100)
    average_over_s: float = Field(600.0, ge=60)
    min_interval: float | None = Field(None, gt=0)  # fastest poll while mentions flow; default interval/4
    max_interval: float | None = Field(None, gt=0)  # slowest while quiet; default interval*5


class RedditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["reddit"]
    name: str = Field("reddit", min_length=1, max_length=64)  # stored with every mention (64)
    client_id: str
    client_secret: SecretStr
    username: str | None = None  # a script app's account: enables the inbox stream and replies
    password: SecretStr | None = None
    user_agent: str = "outreach-monitor/0.1"
    api_base: str = "https://oauth.reddit.com"
    www_base: str = "https://www.reddit.com"  # token endpoint, and the base of mention URLs
    queries: list[str] = Field(default_factory=list)  # Reddit search syntax
    subreddits: list[str] = Field(default_factory=list)  # the brand's own: every post and comment
    search_subreddits: list[str] = Field(default_factory=lambda: ["all"])  # where `queries` search
    search_time_filter: Literal["hour", "day", "week", "month", "year", "all"] = "week"
    search_lookback: float = Field(600.0, ge=0)  # seconds re-read past a search cursor (index lag)
    inbox: bool = True  # read the account's inbox when username/password are set
    fetch_parents: bool = True  # one /api/info call per fetch for the text a comment answers
    interval: float = Field(60.0, gt=0)
    page_size: int = Field(100, ge=1, le=100)
    max_pages: int = Field(5, ge=1)  # per listing per fetch; beyond it the cursor waits (catch-up)
    timeout: float = Field(16.0, gt=0)  # per HTTP request (praw's own `timeout` option is ignored)
    retry_pause: float = Field(2.0, ge=0)  # prawcore retries 5xx/drops/401 twice: 0-1x, then 1-2x this
    max_rate_wait: float = Field(10.0, ge=0)  # longer rate-limit waits go back to the scheduler
    budget: RedditBudget = Field(default_factory=RedditBudget)
    quiet_after: float | None = Field(7200.0, gt=0)  # no mention for this long, when some were due: alert
    quiet_min_expected: float = Field(5.0, gt=0)  # ... if at least this many were expected in that time


# ---- errors: the one place praw's vocabulary becomes ours -----------------------------------


def _retry_after(response: requests.Response | None, header: str | None = None) -> float | None:
    """Retry-After if Reddit sent one, else the window's reset; at least a second (never a burst)."""
    for value in (header, response.headers.get("x-ratelimit-reset") if response is not None else None):
        try:
            if value is not None:
                return max(float(value), 1.0)
        except ValueError:
            pass
    return None


def _is_token_call(response: requests.Response | None) -> bool:
    return response is not None and str(response.url).split("?")[0].endswith(_TOKEN_PATH)


def _url_path(response: requests.Response) -> str:
    return "/" + str(response.url).split("?")[0].split("/", 3)[-1]


def _reason(response: requests.Response) -> str:
    """Reddit says why in the body: {"reason": "private" | "quarantined" | "banned", ...}."""
    try:
        reason = response.json().get("reason")
    except (ValueError, AttributeError):
        return ""
    return f" ({reason})" if isinstance(reason, str) and reason else ""


def _raised_in(exc: BaseException, function: str) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == function


def _posting_wait(message: str) -> float | None:
    """Reddit's RATELIMIT text: "Take a break for 9 minutes before trying again." -> 540."""
    m = re.search(r"(\d+) (minute|second)", message)
    return None if m is None else int(m.group(1)) * (60 if m.group(2) == "minute" else 1)


def _rate_limited(err: TransientError) -> TransientError:
    err.rate_limited = True  # type: ignore[attr-defined]  # counted by the poller's health
    return err


def _translate(exc: BaseException, *, path: str, bad_request_path: str = "") -> SourceError | None:
    """Our error for a praw/prawcore error, or None when it is not a library error (a bug: re-raise).

    `path` names the YAML setting that chose the URL (a subreddit), `bad_request_path` the one that
    chose the parameters (a query), so a ConfigError says what to fix.
    """
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, prawcore.TooManyRequests):
        return _rate_limited(TransientError("reddit: 429 too many requests",
                                            retry_after=_retry_after(exc.response, exc.retry_after)))
    if isinstance(exc, prawcore.BadJSON):
        return TransientError("reddit: the response was not valid JSON")
    if isinstance(exc, prawcore.ServerError):
        return TransientError(f"reddit: server error {exc.response.status_code} (after prawcore's retries)")
    if isinstance(exc, prawcore.RequestException):
        return TransientError(f"reddit: request failed: {type(exc.original_exception).__name__}")
    if isinstance(exc, prawcore.OAuthException):
        return AuthError(f"reddit: token refused: {exc.error}")
    if isinstance(exc, prawcore.Forbidden) and not _is_token_call(exc.response):
        # A 403 without an OAuth challenge is about the resource (a private, quarantined or banned
        # subreddit), not our credentials: that stream fails, the others go on.
        return ConfigError(f"reddit: 403 forbidden{_reason(exc.response)}: {_url_path(exc.response)}", path=path)
    if isinstance(exc, prawcore.InvalidToken | prawcore.Forbidden | prawcore.InsufficientScope):
        return AuthError(f"reddit: {exc.response.status_code} {type(exc).__name__}")
    if isinstance(exc, KeyError) and _raised_in(exc, "authorization_error_class"):
        # prawcore picks the exception class of a 401/403 from its www-authenticate header and
        # raises a bare KeyError when the header is missing or unknown (seen from Reddit's edge).
        return AuthError(f"reddit: {exc.args[0] if exc.args else '401'} without a usable www-authenticate challenge")
    if isinstance(exc, prawcore.Redirect | prawcore.NotFound | prawcore.UnavailableForLegalReasons):
        return ConfigError(f"reddit: no such subreddit or listing ({type(exc).__name__})", path=path)
    if isinstance(exc, prawcore.BadRequest):
        return ConfigError("reddit: 400 bad request (check the query)", path=bad_request_path or path)
    if isinstance(exc, prawcore.ResponseException):
        status = exc.response.status_code
        if status == 429:  # the token endpoint's own limit (prawcore raises it as a plain ResponseException)
            return _rate_limited(TransientError("reddit: 429 too many token requests",
                                                retry_after=_retry_after(exc.response,
                                                                         exc.response.headers.get("retry-after"))))
        if status in (401, 403):  # e.g. the token endpoint refusing the client secret
            return AuthError(f"reddit: {status} from {exc.response.url.split('?')[0]}")
        return TransientError(f"reddit: unexpected HTTP {status}")
    if isinstance(exc, RedditAPIException):
        kinds = {item.error_type for item in exc.items}
        if "RATELIMIT" in kinds:
            item = next(i for i in exc.items if i.error_type == "RATELIMIT")
            return _rate_limited(TransientError(f"reddit: {item.error_message}",
                                                retry_after=_posting_wait(item.message)))
        return BadPayload(f"reddit refused: {'; '.join(i.error_message for i in exc.items)}")
    if isinstance(exc, prawcore.InvalidInvocation | PRAWException):
        return ConfigError(f"reddit: {exc}", path=path)
    if isinstance(exc, prawcore.PrawcoreException):
        return TransientError(f"reddit: {exc}")
    return None


# ---- the wire: praw with our timeout, our retry pacing, and a request meter ------------------


@dataclass
class _Meter:
    """What crossed the wire; touched only on the worker thread, read after each call returns."""

    requests: int = 0  # API calls (token requests not counted: they do not spend the rate budget)
    remaining: int | None = None
    used: int | None = None
    reset_at: float | None = None  # epoch seconds
    clock: Callable[[], float] = time.time

    def saw(self, headers: Any) -> None:
        if "x-ratelimit-remaining" in headers:
            try:
                self.remaining = int(float(headers["x-ratelimit-remaining"]))
                self.used = int(float(headers.get("x-ratelimit-used", 0)))
                self.reset_at = self.clock() + float(headers["x-ratelimit-reset"])
            except (KeyError, ValueError):
                pass


class _Requestor(prawcore.Requestor):
    """praw's documented `requestor_class` hook: applies our timeout and counts requests.

    prawcore passes its import-time PRAWCORE_TIMEOUT to every API call, so the per-source
    `timeout` has to win here.
    """

    def __init__(self, *args: Any, meter: _Meter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = meter

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        url = str(args[1] if len(args) > 1 else kwargs.get("url", ""))
        token_call = url.endswith(_TOKEN_PATH)
        if not token_call:
            self.meter.requests += 1
        response = super().request(*args, timeout=self.timeout, **kwargs)
        if not token_call:  # the token endpoint has its own rate pool: its headers say nothing of the API's
            self.meter.saw(response.headers)
        return response


@dataclass(frozen=True)
class _Retry(RetryStrategy):
    """prawcore's schedule (retry twice: pause 0-2 s, then 2-4 s) with the pause scaled by config."""

    left: int = 2
    total: int = 2
    pause: float = 2.0

    def _sleep_seconds(self) -> float | None:
        done = self.total - self.left
        return None if done == 0 else self.pause * (done - 1 + random.random())

    def consume_available_retry(self) -> _Retry:
        return replace(self, left=self.left - 1)

    def should_retry_on_failure(self) -> bool:
        return self.left > 0


@dataclass(frozen=True)
class _Listing:
    path: str
    params: dict[str, str | int]
    where: str  # YAML path that chose this URL
    query_where: str = ""


@dataclass(frozen=True)
class _Stream:
    name: str
    listings: tuple[_Listing, ...]
    lookback: float = 0.0


@dataclass
class _StreamRead:
    things: list[Thing] = field(default_factory=list)
    complete: bool = True
    bad: int = 0
    gap: tuple[float, float] | None = None


@dataclass(frozen=True)
class _Memory:
    """The things returned with cursor value `cursor` (a nonce makes each value unique).

    Used only while the pipeline hands that exact value back, which proves it stored that batch;
    otherwise nothing is filtered (a batch that was not stored comes again, the store dedupes).
    """

    cursor: str
    names: dict[str, float]  # fullname -> created_utc, within the stream's lookback of the cursor


@dataclass
class _StreamResult:
    fresh: list[Thing]
    cursor: Cursor | None
    memory: _Memory | None
    bad: int
    gap: Gap | None = None


def _stream_name(prefix: str, value: str) -> str:
    """Stream names are stored (128 chars); a very long query keeps a readable head and a hash."""
    name = f"{prefix}:{value}"
    if len(name) <= 120:
        return name
    return f"{name[:100]}~{hashlib.sha1(value.encode()).hexdigest()[:12]}"


class RedditSource:
    name: ClassVar[str] = "reddit"

    def __init__(self, cfg: RedditConfig, *, own_handles: Sequence[str] = (), config_path: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        if bool(cfg.username) != bool(cfg.password):
            raise ConfigError("username and password go together (a script app's account)",
                              path=_at(config_path, "password" if cfg.username else "username"))
        self.cfg = cfg
        self.config_path = config_path
        own = {h.lower().removeprefix("@").removeprefix("u/") for h in own_handles}
        if cfg.username:
            own.add(cfg.username.lower())  # the bot's own replies are ours: stored, never triaged
        self.own = frozenset(own)
        self._streams: list[_Stream] = self._plan()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"praw-{cfg.name}")
        self._meter = _Meter(clock=clock)
        self._http = requests.Session()
        self._retries_on = True
        self._closed = False
        self._reddit = self._build()
        self._memory: dict[str, _Memory] = {}  # stream -> what the store holds at its cursor
        self._parents: dict[str, dict[str, Any]] = {}  # small cache: fullname -> parent context
        self._cut_short: dict[str, tuple[str, int]] = {}  # stream -> (cursor value, polls cut short at it)
        self.last_errors: list[tuple[str, SourceError]] = []  # (stream, error) from the latest fetch
        self.gaps: list[Gap] = []  # ranges the latest fetch could not reach

    # ---- construction -------------------------------------------------------------------------

    def _at(self, key: str, index: int | None = None) -> str:
        return _at(self.config_path, key if index is None else f"{key}[{index}]")

    def _plan(self) -> list[_Stream]:
        cfg = self.cfg
        streams: list[_Stream] = []
        if cfg.inbox and cfg.username:
            streams.append(_Stream("inbox", (_Listing("message/inbox/", {}, self._at("username")),)))
        for i, sub in enumerate(cfg.subreddits):
            where = self._at("subreddits", i)
            streams.append(_Stream(_stream_name("sub", sub), (
                _Listing(f"r/{sub}/new/", {}, where),
                _Listing(f"r/{sub}/comments/", {}, where),
            )))
        subs = [s for s in cfg.search_subreddits if s] or ["all"]
        scope = "all" if any(s.lower() == "all" for s in subs) else "+".join(subs)
        for i, q in enumerate(cfg.queries):
            params: dict[str, str | int] = {"q": q, "sort": "new", "t": cfg.search_time_filter,
                                            "restrict_sr": "false" if scope == "all" else "on"}
            streams.append(_Stream(_stream_name("search", q), (
                _Listing(f"r/{scope}/search/", params, self._at("search_subreddits"), self._at("queries", i)),
            ), lookback=cfg.search_lookback))
        return streams

    def _build(self) -> praw.Reddit:
        cfg = self.cfg
        reddit = praw.Reddit(
            client_id=cfg.client_id,
            client_secret=cfg.client_secret.get_secret_value(),
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            user_agent=cfg.user_agent,
            oauth_url=cfg.api_base.rstrip("/"),
            reddit_url=cfg.www_base.rstrip("/"),
            short_url=cfg.www_base.rstrip("/"),
            check_for_updates=False,  # it would call PyPI
            check_for_async=False,  # we call it from a worker thread on purpose
            requestor_class=_Requestor,
            requestor_kwargs={"meter": self._meter, "timeout": cfg.timeout, "session": self._http},
        )
        for core in {id(c): c for c in (reddit._read_only_core, reddit._authorized_core) if c}.values():
            # prawcore has no public knob for its retry pacing; without this its 0-6 s sleeps
            # hold our single worker thread. Fail loudly if a prawcore upgrade moves it.
            if not hasattr(core, "_retry_strategy_class"):
                raise RuntimeError("prawcore no longer has Session._retry_strategy_class; update connectors/reddit.py")
            core._retry_strategy_class = self._retry_strategy
        return reddit

    def _retry_strategy(self) -> _Retry:
        n = 2 if self._retries_on else 0
        return _Retry(left=n, total=n, pause=self.cfg.retry_pause)

    # ---- one API call, on the worker thread -----------------------------------------------------

    def _request_sync(self, method: str, path: str, params: dict[str, Any] | None,
                      data: dict[str, Any] | None) -> Any:
        limiter = self._reddit._core.rate_limiter  # type: ignore[union-attr]
        if limiter.next_request_timestamp_ns is not None:
            wait = (limiter.next_request_timestamp_ns - time.monotonic_ns()) / 1e9
            if wait > self.cfg.max_rate_wait:
                # prawcore would sleep it out on this thread; the scheduler waits instead.
                raise _rate_limited(TransientError(f"reddit: rate budget spent for {wait:.0f}s", retry_after=wait))
        try:
            return self._reddit.request(method=method, path=path, params=params, data=data)
        except prawcore.TooManyRequests:
            # The 429's wait goes to the scheduler as retry_after; prawcore would also sleep it
            # here before the next call, so the scheduler's retry would only meet a second gate.
            limiter.next_request_timestamp_ns = None
            raise

    async def _run(self, fn: Callable[..., Any], *args: Any, where: str = "", query_where: str = "") -> Any:
        """Run `fn` on this source's praw thread; its library errors come back as ours."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except Exception as exc:
            ours = _translate(exc, path=where or self.config_path, bad_request_path=query_where)
            if ours is None or ours is exc:
                raise
            raise ours from exc

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    data: dict[str, Any] | None = None, where: str = "", query_where: str = "") -> Any:
        return await self._run(self._request_sync, method, path, params, data, where=where, query_where=query_where)

    # ---- reading --------------------------------------------------------------------------------

    async def _read(self, listing: _Listing, mark: Mark | None, lookback: float) -> _StreamRead:
        out = _StreamRead()
        after: str | None = None
        for _ in range(self.cfg.max_pages if mark is not None else 1):
            params = {**listing.params, "limit": self.cfg.page_size}
            if after:
                params["after"] = after
            body = await self._call("GET", listing.path, params=params, where=listing.where,
                                    query_where=listing.query_where)
            children, after = _children(body)
            stop = False
            for child in children:
                if isinstance(child, dict) and child.get("kind") == "t4":
                    continue  # a private message in the inbox: not a public mention (not handled yet)
                thing = parse_thing(child)
                if thing is None:
                    out.bad += 1
                    continue
                out.things.append(thing)
                stop = stop or reached(thing, mark, lookback)
            if stop:
                return out
            if not after:
                # The listing ended above the cursor. Only a listing that served at least a full page
                # can have been cut off (Reddit keeps ~1000 per listing); a short one simply has
                # nothing older, e.g. the comments of a young subreddit under a submission's cursor.
                served = len(out.things) + out.bad
                # A "now" mark (a stream that started empty) is no thing of the listing: it ending
                # above it only means nothing older exists, unless it served all Reddit keeps.
                enough = LISTING_REACH if mark is not None and mark.name == START_MARK else self.cfg.page_size
                if mark is not None and out.things and served >= enough \
                        and min(t.created for t in out.things) > mark.created:
                    out.gap = (mark.created, min(t.created for t in out.things))
                return out
        # First run (no cursor): one page is the baseline. Otherwise the cursor was not reached.
        out.complete = mark is None
        return out

    async def _read_stream(self, stream: _Stream, cursor: Cursor | None) -> _StreamResult:
        mark = Mark.decode(cursor.value) if cursor is not None else None
        if cursor is not None and mark is None:
            log.warning("reddit: ignoring unreadable cursor %r for stream %s", cursor.value, stream.name)
        things: list[Thing] = []
        complete, bad, gap = True, 0, None
        unreached: float | None = None  # the oldest thing read by a listing that stopped above the cursor
        for listing in stream.listings:
            read = await self._read(listing, mark, stream.lookback)
            things += read.things
            complete &= read.complete
            bad += read.bad
            if read.gap is not None:
                gap = Gap(stream.name, *read.gap) if gap is None else Gap(
                    stream.name, min(gap.start, read.gap[0]), max(gap.end, read.gap[1]))
            if not read.complete and read.things:
                unreached = max(unreached or 0.0, min(t.created for t in read.things))
        if mark is not None and cursor is not None and unreached is not None:
            # Cut short at max_pages: the cursor waits, and the next poll pages from the top again.
            # When that happens poll after poll (more new things than max_pages reach, e.g. after
            # downtime), it would never reach the cursor: move on, and report what may be missing.
            key, times = self._cut_short.get(stream.name, ("", 0))
            times = times + 1 if key == cursor.value else 1
            self._cut_short[stream.name] = (cursor.value, times)
            if times >= CUT_SHORT_LIMIT:
                del self._cut_short[stream.name]
                complete = True
                missing = Gap(stream.name, mark.created, unreached)
                gap = missing if gap is None else Gap(stream.name, min(gap.start, missing.start),
                                                      max(gap.end, missing.end))
        else:
            self._cut_short.pop(stream.name, None)
        memory = self._memory.get(stream.name)
        returned = memory.names if memory is not None and cursor is not None and cursor.value == memory.cursor else {}
        fresh: dict[str, Thing] = {}
        for t in things:
            if t.name not in fresh and is_new(t, mark, stream.lookback, returned):
                fresh[t.name] = t
        newest = max(things, key=lambda t: t.key, default=None)
        if mark is None and newest is None and bad == 0:
            # An empty stream's first read starts from now (a minute early, for clock skew), as X's
            # does: a burst that comes later is then paged back to this mark in full, and anything
            # a catch-up limit drops is reported as a gap, not lost silently under a one-page baseline.
            value = Mark(self._meter.clock() - 60, START_MARK).encode(secrets.token_hex(3))
            return _StreamResult([], Cursor(stream.name, value), _Memory(value, {}), bad, gap)
        if not complete or newest is None or (not fresh and mark is not None and newest.key <= mark.key):
            return _StreamResult(list(fresh.values()), None, None, bad, gap)
        top = Mark(newest.created, newest.name)
        new_mark = top if mark is None or top.key > mark.key else mark
        horizon = new_mark.created - stream.lookback
        # Once this batch is stored, everything read is stored: fresh things now, the rest before.
        names = {n: c for n, c in {**returned, **{t.name: t.created for t in things}}.items() if c >= horizon}
        value = new_mark.encode(secrets.token_hex(3))
        return _StreamResult(list(fresh.values()), Cursor(stream.name, value), _Memory(value, names), bad, gap)

    async def _parent_context(self, things: Iterable[Thing], known: set[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted({str(t.data.get("parent_id")) for t in things if t.name.startswith("t1_")
                         and FULLNAME.match(str(t.data.get("parent_id") or ""))} - known - set(self._parents))
        for i in range(0, len(wanted), 100):
            body = await self._call("GET", "api/info/", params={"id": ",".join(wanted[i:i + 100])})
            children, _ = _children(body)
            for child in children:
                parent = parse_thing(child)
                if parent is not None:
                    self._parents[parent.name] = parent_context(parent)
        if len(self._parents) > 2000:  # context only; forget the oldest half
            for name in list(self._parents)[:1000]:
                del self._parents[name]
        return self._parents

    def streams(self) -> list[str]:
        return [s.name for s in self._streams]

    @property
    def requests_total(self) -> int:
        """API calls since start, failed fetches included (Batch.requests only counts one fetch)."""
        return self._meter.requests

    reads_total = 0  # Reddit does not bill per post read

    @property
    def requests_by_pool(self) -> dict[str, int]:
        """Reddit counts every call of the client against one budget."""
        return {"api": self._meter.requests}

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        """What the latest `x-ratelimit-*` headers said, as {pool: RateLimit}."""
        m = self._meter
        if m.remaining is None or m.reset_at is None:
            return {}
        return {"api": RateLimit((m.used or 0) + m.remaining, m.remaining, m.reset_at)}

    # ---- the Source protocol ----------------------------------------------------------------------

    async def check(self) -> None:
        """Credentials work and every configured subreddit exists (ConfigError names the YAML path)."""
        if self.cfg.username:
            await self._call("GET", "api/v1/me", where=self._at("username"))
        else:
            await self._call("GET", "r/all/new/", params={"limit": 1})
        subs = [(self._at("subreddits", i), s) for i, s in enumerate(self.cfg.subreddits)]
        subs += [(self._at("search_subreddits", i), s)
                 for i, s in enumerate(self.cfg.search_subreddits) if s.lower() != "all"]
        for where, sub in subs:
            await self._call("GET", f"r/{sub}/about/", where=where)

    async def fetch(self, cursors: dict[str, Cursor], *, streams: Sequence[str] | None = None) -> Batch:
        """Every stream in turn (inbox, own subreddits, searches), or only `streams` (a planner
        spreading the budget); a failing stream loses no other's.

        Raises only when nothing useful came back (no items, no cursor moved), the most serious error
        first; otherwise the errors wait in `last_errors`. After an auth error, a spent rate budget or
        an unreachable host the remaining streams are not tried: they share token, budget and host.
        """
        self.last_errors, self.gaps = [], []
        spent = self._meter.requests
        results: list[tuple[_Stream, _StreamResult]] = []
        blocked: SourceError | None = None
        for stream in self._streams if streams is None else [s for s in self._streams if s.name in streams]:
            if blocked is not None:
                self.last_errors.append((stream.name, blocked))
                continue
            try:
                results.append((stream, await self._read_stream(stream, cursors.get(stream.name))))
            except SourceError as e:
                self.last_errors.append((stream.name, e))
                if _blocks_others(e):
                    blocked = e
        things = [t for _, r in results for t in r.fresh]
        parents: dict[str, dict[str, Any]] = {}
        if self.cfg.fetch_parents and things and blocked is None:
            in_batch = {t.name: t for t in things}
            try:
                parents = dict(await self._parent_context(things, set(in_batch)))
            except SourceError as e:  # context only: the mentions go on without it
                self.last_errors.append(("context", e))
            parents.update({n: parent_context(t) for n, t in in_batch.items()})
        mentions: dict[str, Mention] = {}  # one thing found by two streams: the first (inbox, sub, search) wins
        for stream, r in results:
            for t in r.fresh:
                if t.name not in mentions:
                    mentions[t.name] = to_mention(
                        t, source=self.cfg.name, stream=stream.name, www_base=self.cfg.www_base, own=self.own,
                        parent=parents.get(str(t.data.get("parent_id") or "")))
        new_cursors = [r.cursor for _, r in results if r.cursor is not None]
        if self.last_errors and not mentions and not new_cursors:
            raise most_serious([e for _, e in self.last_errors])
        # Only now, with nothing left to fail, may this fetch's memory replace the last one.
        for stream, r in results:
            if r.memory is not None:
                self._memory[stream.name] = r.memory
        self.gaps = [r.gap for _, r in results if r.gap is not None]
        return Batch(
            mentions=list(mentions.values()),
            cursors=new_cursors,
            requests=self._meter.requests - spent,
            rate_limit_remaining=self._meter.remaining,
            rate_limit_reset=self._meter.reset_at,
            skipped_bad=sum(r.bad for _, r in results),
        )

    async def reply(self, to: Mention, text: str, *, key: str = "") -> str:
        """Answer `to` in public; returns the new comment's fullname. One reply per thing.

        Reddit has no idempotency key, so a reply that may have landed (a dropped connection) must
        not be posted twice: the account's last 100 comments are checked first (an earlier reply to
        the same thing is returned instead), and prawcore's own retries are off for the POST (a 401
        is retried once here: that POST never landed).
        """
        if not self.cfg.username:
            raise ConfigError("replying needs the account's username and password", path=self._at("username"))
        mine = await self._call("GET", f"user/{self.cfg.username}/comments/", params={"limit": 100})
        for child in _children(mine)[0]:
            thing = parse_thing(child)
            if thing is not None and thing.data.get("parent_id") == to.external_id:
                return thing.name
        body = await self._run(self._post_reply_sync, to.external_id, text, where=self._at("username"))
        things = ((body or {}).get("json") or {}).get("data", {}).get("things") or []
        made = parse_thing(things[0]) if things else None
        if made is None:
            raise BadPayload("reddit: the reply was accepted but its comment is missing from the answer")
        return made.name

    def _post_reply_sync(self, thing_id: str, text: str) -> Any:
        form = {"thing_id": thing_id, "text": text}
        self._retries_on = False
        try:
            try:
                body = self._request_sync("POST", "api/comment/", None, form)
            except prawcore.InvalidToken:  # the token expired: prawcore fetches a new one for this try
                body = self._request_sync("POST", "api/comment/", None, form)
        finally:
            self._retries_on = True
        errors = ((body or {}).get("json") or {}).get("errors") or []
        if errors:
            raise RedditAPIException(errors)
        return body

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._http.close)
        self._executor.shutdown(wait=True)


def _at(config_path: str, key: str) -> str:
    """The YAML path of one of this source's settings, e.g. sources[1].subreddits[0]."""
    return f"{config_path}.{key}" if config_path else key


def _blocks_others(e: SourceError) -> bool:
    """Whether the next stream would fail the same way: same token, same budget, same host."""
    cause = e.__cause__
    return isinstance(e, AuthError) or getattr(e, "rate_limited", False) \
        or isinstance(cause, prawcore.RequestException) \
        or (isinstance(cause, prawcore.ResponseException) and _is_token_call(cause.response))  # one token for all


def _children(body: Any) -> tuple[list[Any], str | None]:
    """A Listing's children and `after`; a body that is no Listing at all is a transient fault."""
    data = body.get("data") if isinstance(body, dict) and body.get("kind") == "Listing" else None
    if not isinstance(data, dict) or not isinstance(data.get("children"), list):
        raise TransientError("reddit: the answer was not a Listing")
    after = data.get("after")
    return data["children"], after if isinstance(after, str) and after else None
