"""A local Reddit API: what praw 8 / prawcore 4 really call, in Reddit's own JSON shapes.

One app serves both of praw's bases (`reddit_url` for the token, `oauth_url` for the API), so a
client is pointed at it with `oauth_url=base, reddit_url=base, short_url=base`. It serves:

    POST /api/v1/access_token     Basic auth; grant_type=password (script app) or client_credentials
    GET  /api/v1/me               the script app's user
    GET  /r/<sub>/search          q, sort=new, restrict_sr, t, limit, after/before  (<sub> may be a+b or all)
    GET  /r/<sub>/new             new submissions
    GET  /r/<sub>/comments        new comments
    GET  /r/<sub>/about           the subreddit; an unknown one redirects like Reddit (302 to a search)
    GET  /comments/<id>           [submission listing, comment tree]
    GET  /api/info                things by fullname (id=t3_x,t1_y)
    GET  /message/inbox|mentions|unread    the user's inbox (username mentions, comment/post replies)
    GET  /user/<name>/comments    a user's comments, newest first
    POST /api/comment             reply (thing_id, text, api_type=json)

Every API answer carries `x-ratelimit-remaining`, `-used` and `-reset` (prawcore reads all three
together and raises KeyError if one is missing) from a fixed window per OAuth client; a client that
overspends gets 429. A 401 carries `www-authenticate: ... error="invalid_token"` like Reddit's (prawcore
picks the exception class from it). `world.expire_tokens()` makes every issued token invalid, so the
next API call gets that 401. `world.schedule(scenario)` loads a scripted day (posts appear when the
clock reaches them; timed outages and token expiries). Faults are injected by path prefix (see
`core.Faults`):

    world.faults.add("/r/all/search", Fault("503", times=3))   # prawcore retries 5xx twice itself
"""
from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from monitor.sandbox.core import NO_CHALLENGE, Faults, Recorder, json_response, make_middleware
from monitor.sandbox.scenario import Scenario

TOKEN_PATH = "/api/v1/access_token"
_MENTION = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})")
_TIME_FILTERS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 31 * 86400, "year": 366 * 86400}
_CHALLENGE = 'Bearer realm="reddit", error="invalid_token"'


def _stable_id(text: str, digits: int) -> str:
    """A base-36 id derived from a name, the same in every run (hash() is salted per process)."""
    return _b36(int(hashlib.sha1(text.lower().encode()).hexdigest(), 16) % 36**digits)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


@dataclass
class _Token:
    client_id: str
    user: str | None  # None: an app-only (client_credentials) token
    issued_at: float
    expires_at: float


_TOKEN = web.RequestKey("reddit_token", _Token)


@dataclass
class _Window:
    start: float
    used: int = 0


@dataclass
class _InboxItem:
    user: str
    thing: str  # fullname of the comment
    type: str  # username_mention | comment_reply | post_reply
    new: bool = True


@dataclass
class RedditWorld:
    """The state of a fake Reddit: apps, users, subreddits, posts, comments, inboxes, rate windows.

    `clock` (epoch seconds) stamps new things and drives token expiry, `t=` filters and the rate
    window (`rate_limit` API calls per `rate_window` seconds per OAuth client, like Reddit's 100 a
    minute). `rate_limit=None` turns the limit off (the headers are still sent).
    """

    clock: Callable[[], float] = time.time
    rate_limit: int | None = 100
    rate_window: float = 60.0
    token_lifetime: int = 3600
    listing_cap: int = 1000  # Reddit serves about this many things per listing, newest first
    recorder: Recorder = field(default_factory=Recorder)
    faults: Faults = field(default_factory=Faults)
    rate_limited: int = 0  # 429s answered because a client overspent (not injected faults)
    tokens_issued: int = 0
    outages: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, status): all fail
    token_expiries: list[float] = field(default_factory=list)  # at these moments every token dies
    # The token endpoint is its own rate pool with its own x-ratelimit-* headers (and its own 429).
    token_rate_limit: int | None = 300
    token_rate_window: float = 600.0

    def __post_init__(self) -> None:
        self._apps: dict[str, str] = {}  # client_id -> secret
        self._users: dict[str, str] = {}  # lower-case name -> password
        self._user_names: dict[str, str] = {}  # lower-case name -> display name
        self._subreddits: dict[str, str] = {}  # lower-case name -> display name
        self._things: dict[str, dict[str, Any]] = {}  # fullname -> data
        self._inbox: list[_InboxItem] = []
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, _Window] = {}
        self._next_id = {"t3": 36**5, "t1": 36**6, "t4": 36**4}
        self._access: dict[str, str] = {}  # lower-case subreddit -> "private" | "quarantined" | "banned"
        self._token_window: _Window | None = None
        self._order: list[tuple[float, str, int, str]] = []  # (created, kind, id, fullname), oldest first

    # ---- scripting -------------------------------------------------------------------------

    def add_app(self, client_id: str, secret: str) -> None:
        self._apps[client_id] = secret

    def add_user(self, name: str, password: str) -> None:
        self._users[name.lower()] = password
        self._user_names[name.lower()] = name

    def add_subreddit(self, name: str) -> None:
        self._subreddits[name.lower()] = name

    def restrict(self, subreddit: str, reason: str | None = "private") -> None:
        """Make a subreddit private or quarantined (its listings answer 403 with that reason) or
        banned (404 {"reason": "banned"}), as Reddit does; None opens it again."""
        if reason is None:
            self._access.pop(subreddit.lower(), None)
        else:
            self._access[subreddit.lower()] = reason

    def remove(self, fullname: str, *, by: str = "moderator") -> None:
        """What Reddit serves for a removed ("moderator": body `[removed]`) or deleted ("author":
        body `[deleted]`) thing: the author shows as `[deleted]`, its text is gone."""
        t = self._things[fullname]
        text = "[removed]" if by == "moderator" else "[deleted]"
        t["author"] = "[deleted]"
        t.pop("author_fullname", None)
        t["body" if fullname.startswith("t1_") else "selftext"] = text
        if by == "moderator" and fullname.startswith("t3_"):
            t["removed_by_category"] = "moderator"

    def message(self, to: str, subject: str, body: str, *, author: str = "someone",
                created_utc: float | None = None) -> dict[str, Any]:
        """A private message (t4) in `to`'s inbox."""
        mid = self._new_id("t4")
        data: dict[str, Any] = {
            "id": mid, "name": f"t4_{mid}", "author": author, "dest": self._user_names.get(to.lower(), to),
            "subject": subject, "body": body, "was_comment": False, "new": True, "context": "",
            "created_utc": float(self.clock() if created_utc is None else created_utc), "parent_id": None,
            "first_message": None, "first_message_name": None, "replies": "", "distinguished": None,
            "subreddit": None,
        }
        data["created"] = data["created_utc"]
        self._things[data["name"]] = data  # not in _order: listings of posts and comments never show it
        self._inbox.append(_InboxItem(to.lower(), data["name"], "private_message"))
        return data

    def expire_tokens(self) -> None:
        """Every token issued so far stops working: the next API call gets 401 invalid_token."""
        self._tokens.clear()

    def add_submission(
        self,
        subreddit: str,
        title: str,
        selftext: str = "",
        *,
        author: str = "someone",
        created_utc: float | None = None,
        score: int = 1,
    ) -> dict[str, Any]:
        sub = self._subreddits.setdefault(subreddit.lower(), subreddit)
        sid = self._new_id("t3")
        slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:50] or "post"
        data: dict[str, Any] = {
            "id": sid,
            "name": f"t3_{sid}",
            "author": author,
            "author_fullname": f"t2_{_stable_id(author, 7)}",
            "title": title,
            "selftext": selftext,
            "is_self": True,
            "subreddit": sub,
            "subreddit_name_prefixed": f"r/{sub}",
            "subreddit_id": f"t5_{_stable_id(sub, 6)}",
            "created_utc": float(self.clock() if created_utc is None else created_utc),
            "permalink": f"/r/{sub}/comments/{sid}/{slug}/",
            "url": f"https://www.reddit.com/r/{sub}/comments/{sid}/{slug}/",
            "score": score,
            "ups": score,
            "downs": 0,
            "upvote_ratio": 1.0,
            "num_comments": 0,
            "over_18": False,
            "stickied": False,
            "locked": False,
            "link_flair_text": None,
        }
        data["created"] = data["created_utc"]
        self._store(data)
        self._notify_mentions(data["name"], f"{title}\n{selftext}", author)
        return data

    def add_comment(
        self,
        parent: str,
        body: str,
        *,
        author: str = "someone",
        created_utc: float | None = None,
        score: int = 1,
    ) -> dict[str, Any]:
        """A comment under `parent` (a fullname, t3_ or t1_). Notifies the parent's author and u/mentions."""
        up = self._things[parent]
        link = up if parent.startswith("t3_") else self._things[up["link_id"]]
        cid = self._new_id("t1")
        data: dict[str, Any] = {
            "id": cid,
            "name": f"t1_{cid}",
            "author": author,
            "author_fullname": f"t2_{_stable_id(author, 7)}",
            "body": body,
            "subreddit": link["subreddit"],
            "subreddit_name_prefixed": link["subreddit_name_prefixed"],
            "subreddit_id": link["subreddit_id"],
            "link_id": link["name"],
            "parent_id": parent,
            "link_title": link["title"],
            "link_author": link["author"],
            "link_permalink": link["url"],
            "created_utc": float(self.clock() if created_utc is None else created_utc),
            "permalink": f"{link['permalink']}{cid}/",
            "score": score,
            "ups": score,
            "downs": 0,
            "depth": 0 if parent.startswith("t3_") else up.get("depth", 0) + 1,
            "replies": "",
            "stickied": False,
            "distinguished": None,
            "is_submitter": author == link["author"],
        }
        data["created"] = data["created_utc"]
        self._store(data)
        link["num_comments"] += 1
        parent_author = up["author"]
        notified: set[str] = set()
        if parent_author.lower() in self._users and parent_author.lower() != author.lower():
            kind = "post_reply" if parent.startswith("t3_") else "comment_reply"
            self._inbox.append(_InboxItem(parent_author.lower(), data["name"], kind))
            notified.add(parent_author.lower())
        self._notify_mentions(data["name"], body, author, skip=notified)
        return data

    def mention(
        self,
        username: str,
        text: str = "",
        *,
        subreddit: str = "help",
        author: str = "someone",
        parent: str | None = None,
        created_utc: float | None = None,
    ) -> dict[str, Any]:
        """A comment that says u/<username> (under `parent`, or under a new submission)."""
        if parent is None:
            parent = self.add_submission(subreddit, f"Question for u/{username}'s team", author=author,
                                         created_utc=created_utc)["name"]
        body = text if f"u/{username.lower()}" in text.lower() else f"u/{username} {text}".strip()
        return self.add_comment(parent, body, author=author, created_utc=created_utc)

    def corrupt(self, fullname: str, **fields: Any) -> None:
        """Send these field values for a thing (a malformed item); the sandbox itself keeps the true ones."""
        self._things[fullname]["_wire"] = fields

    def delete(self, fullname: str) -> None:
        t = self._things.pop(fullname)
        self._order.remove(self._order_key(t))

    def thing(self, fullname: str) -> dict[str, Any]:
        return self._things[fullname]

    def comments_by(self, author: str) -> list[dict[str, Any]]:
        return self._newest_live(lambda t: t["name"].startswith("t1_") and t["author"].lower() == author.lower())

    def schedule(self, scenario: Scenario, start_at: float | None = None) -> dict[str, str]:
        """Load a scenario's Reddit posts (and its timed Reddit outages/token expiries) relative to
        `start_at`. A post without `reply_to` is a submission in `extra["subreddit"]` titled
        `extra["title"]`; one with `reply_to` is a comment under that post. Things appear when the
        clock reaches them. Returns the scenario's post keys mapped to fullnames."""
        start = self.clock() if start_at is None else start_at
        names: dict[str, str] = {}
        for p in sorted((p for p in scenario.posts if p.platform == "reddit"), key=lambda p: p.offset):
            at = start + p.offset
            if p.reply_to is None:
                sub = str(p.extra.get("subreddit") or scenario.brand_handle)
                title = str(p.extra.get("title") or p.text[:120])
                body = p.text[len(title):].lstrip(" .").strip() if p.text.startswith(title) else p.text
                names[p.key] = self.add_submission(sub, title, body, author=p.author, created_utc=at,
                                                   score=p.likes + 1)["name"]
            else:
                names[p.key] = self.add_comment(names[p.reply_to], p.text, author=p.author, created_utc=at,
                                                score=p.likes + 1)["name"]
        for ev in scenario.events:
            if ev.platform != "reddit":
                continue
            if ev.kind == "outage":
                self.outages.append((start + ev.offset, start + ev.offset + ev.duration, ev.status))
            elif ev.kind == "token_expiry":
                self.token_expiries.append(start + ev.offset)
        return names

    # ---- internals ---------------------------------------------------------------------------

    @staticmethod
    def _order_key(t: dict[str, Any]) -> tuple[float, str, int, str]:
        return (t["created_utc"], t["name"][:2], int(t["id"], 36), t["name"])

    def _store(self, data: dict[str, Any]) -> None:
        self._things[data["name"]] = data
        bisect.insort(self._order, self._order_key(data))

    def _newest_live(self, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Things whose time has come (scheduled ones appear when the clock reaches them) that
        `keep` accepts, newest first."""
        end = bisect.bisect_right(self._order, (self.clock(), "\uffff"))
        things = (self._things[entry[3]] for entry in reversed(self._order[:end]))
        return [t for t in things if keep(t)]

    def _get(self, fullname: str) -> dict[str, Any] | None:
        t = self._things.get(fullname)
        return t if t is not None and t["created_utc"] <= self.clock() else None

    def _outage(self) -> int | None:
        now = self.clock()
        return next((status for begin, end, status in self.outages if begin <= now < end), None)

    def _new_id(self, kind: str) -> str:
        self._next_id[kind] += 1
        return _b36(self._next_id[kind])

    def _notify_mentions(self, thing: str, text: str, author: str, skip: Iterable[str] = ()) -> None:
        if not thing.startswith("t1_"):
            return  # Reddit notifies username mentions in comments (and post bodies, but not for us)
        for name in {m.lower() for m in _MENTION.findall(text)}:
            if name != author.lower() and name not in skip:
                self._inbox.append(_InboxItem(name, thing, "username_mention"))

    def _known(self, sub_path: str) -> bool:
        return all(p.lower() == "all" or p.lower() in self._subreddits for p in sub_path.split("+"))

    def _in(self, sub_path: str, thing: dict[str, Any]) -> bool:
        parts = {p.lower() for p in sub_path.split("+")}
        return "all" in parts or thing["subreddit"].lower() in parts

    def _issue(self, client_id: str, user: str | None) -> tuple[str, int]:
        token = secrets.token_urlsafe(24)
        now = self.clock()
        self._tokens[token] = _Token(client_id, user, now, now + self.token_lifetime)
        self.tokens_issued += 1
        return token, self.token_lifetime

    def _token(self, header: str) -> _Token | None:
        scheme, _, value = header.partition(" ")
        tok = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        now = self.clock()
        if tok is None or tok.expires_at <= now or any(tok.issued_at < at <= now for at in self.token_expiries):
            return None
        return tok

    def _charge_token(self) -> tuple[bool, dict[str, str]]:
        """One token request against the token endpoint's own window (not the API's)."""
        now = self.clock()
        win = self._token_window
        if win is None or now >= win.start + self.token_rate_window:
            win = self._token_window = _Window(now)
        limit = self.token_rate_limit if self.token_rate_limit is not None else 1000
        allowed = self.token_rate_limit is None or win.used < self.token_rate_limit
        if allowed:
            win.used += 1
        return allowed, {
            "x-ratelimit-remaining": f"{float(max(limit - win.used, 0)):.1f}",
            "x-ratelimit-used": str(win.used),
            "x-ratelimit-reset": str(max(int(math.ceil(win.start + self.token_rate_window - now)), 0)),
        }

    def _charge(self, client_id: str) -> tuple[bool, dict[str, str]]:
        """Spend one call of the client's window; False when it is already spent (answer 429)."""
        now = self.clock()
        start = math.floor(now / self.rate_window) * self.rate_window
        win = self._windows.get(client_id)
        if win is None or win.start != start:
            win = self._windows[client_id] = _Window(start)
        allowed = self.rate_limit is None or win.used < self.rate_limit
        if allowed:
            win.used += 1
        limit = self.rate_limit if self.rate_limit is not None else 1000
        headers = {
            "x-ratelimit-remaining": f"{float(max(limit - win.used, 0)):.1f}",
            "x-ratelimit-used": str(win.used),
            "x-ratelimit-reset": str(max(int(math.ceil(start + self.rate_window - now)), 0)),
        }
        return allowed, headers


# ---- wire format --------------------------------------------------------------------------


def _listing(children: list[dict[str, Any]], *, after: str | None = None, before: str | None = None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": after, "before": before, "dist": len(children),
                                        "modhash": "", "geo_filter": "", "children": children}}


def _wire(thing: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in thing.items() if k != "_wire"}
    data.update(thing.get("_wire", {}))
    return data


def _wrap(thing: dict[str, Any]) -> dict[str, Any]:
    return {"kind": thing["name"][:2], "data": _wire(thing)}


def _page(things: list[dict[str, Any]], query: Any, cap: int = 1000,
          render: Callable[[dict[str, Any]], dict[str, Any]] = lambda t: _wrap(t)) -> dict[str, Any]:
    """One page of a newest-first list, paged the way Reddit pages: limit (max 100), after, before."""
    try:
        limit = min(max(int(query.get("limit", 25)), 1), 100)
    except ValueError:
        limit = 25
    things = things[:cap]
    names = [t["name"] for t in things]
    after, before = query.get("after"), query.get("before")
    start, end = 0, limit
    if after:
        start = names.index(after) + 1 if after in names else len(names)
        end = start + limit
    elif before:
        end = names.index(before) if before in names else 0
        start = max(end - limit, 0)
    page = things[start:end]
    return _listing(
        [render(t) for t in page],
        after=page[-1]["name"] if page and end < len(things) else None,
        before=page[0]["name"] if (after or before) and page else None,
    )


def _matches(query: str, thing: dict[str, Any]) -> bool:
    """Enough of Reddit's search syntax for keyword monitoring: words (AND), "phrases", OR, -word."""
    text = f"{thing.get('title', '')}\n{thing.get('selftext', '')}".lower()
    for alternative in re.split(r"\s+OR\s+", query):
        terms = re.findall(r'-?"[^"]+"|\S+', alternative)
        ok = bool(terms)
        for term in terms:
            negate = term.startswith("-")
            word = term.lstrip("-").strip('"').lower()
            if word and ((word in text) == negate):
                ok = False
                break
        if ok:
            return True
    return False


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return json_response({"message": message, "error": status, **extra}, status)


class _Refused(Exception):
    """A handler's finished error answer (e.g. a private subreddit's 403), sent with the rate headers."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


def _inbox_item(world: RedditWorld, item: _InboxItem) -> dict[str, Any]:
    """A comment as the inbox shows it: a message-like t1 with `context` instead of `permalink`;
    a private message as the t4 it is."""
    c = world._things[item.thing]  # visible: the caller filtered
    if item.thing.startswith("t4_"):
        return {"kind": "t4", "data": {k: v for k, v in c.items()}}
    data = {
        "id": c["id"], "name": c["name"], "author": c["author"], "body": c["body"],
        "subreddit": c["subreddit"], "subreddit_name_prefixed": c["subreddit_name_prefixed"],
        "parent_id": c["parent_id"], "link_title": c["link_title"], "context": f"{c['permalink']}?context=3",
        "created_utc": c["created_utc"], "created": c["created_utc"], "score": c["score"], "new": item.new,
        "type": item.type, "was_comment": True, "dest": world._user_names.get(item.user, item.user),
        "subject": item.type.replace("_", " "), "first_message": None, "first_message_name": None,
        "replies": "", "distinguished": None, "num_comments": None,
    }
    return {"kind": "t1", "data": data}


def make_reddit_app(world: RedditWorld) -> web.Application:
    @web.middleware
    async def challenge(request: web.Request, handler):  # type: ignore[no-untyped-def]
        # Outermost, so injected 401 faults carry Reddit's challenge too: prawcore picks its
        # exception class from it (and raises KeyError on a 401 without one).
        resp = await handler(request)
        if resp.status == 401 and "www-authenticate" not in resp.headers and request.path != TOKEN_PATH \
                and not resp.get(NO_CHALLENGE):
            resp.headers["www-authenticate"] = _CHALLENGE
        return resp

    @web.middleware
    async def gate(request: web.Request, handler):  # type: ignore[no-untyped-def]
        outage = world._outage()
        if outage is not None:  # a scripted outage: Reddit's edge answers HTML
            return web.Response(text="<html><body>all servers are busy</body></html>", status=outage,
                                content_type="text/html")
        if request.path == TOKEN_PATH:
            return await handler(request)
        token = world._token(request.headers.get("Authorization", ""))
        if token is None:
            resp = _error(401, "Unauthorized")
            resp.headers["www-authenticate"] = _CHALLENGE
            return resp
        request[_TOKEN] = token
        allowed, headers = world._charge(token.client_id)
        if not allowed:
            world.rate_limited += 1
            return json_response({"message": "Too Many Requests", "error": 429}, 429, headers)
        try:
            resp = await handler(request)
        except _Refused as refused:
            resp = refused.response
        except web.HTTPException as exc:  # redirects, unknown routes: answered with the headers too
            if exc.status >= 400:
                resp = _error(exc.status, exc.reason)
            else:
                resp = web.Response(status=exc.status, headers={"Location": exc.headers["Location"]})
        resp.headers.update(headers)
        return resp

    async def access_token(request: web.Request) -> web.Response:
        allowed, headers = world._charge_token()
        if not allowed:
            resp = json_response({"message": "Too Many Requests", "error": 429}, 429, headers)
        else:
            resp = await _access_token(request)
            resp.headers.update(headers)
        return resp

    async def _access_token(request: web.Request) -> web.Response:
        client_id, secret = _basic(request.headers.get("Authorization", ""))
        if client_id is None or world._apps.get(client_id) != secret:
            return _error(401, "Unauthorized")
        form = await request.post()
        grant = form.get("grant_type")
        if grant == "password":
            user = str(form.get("username", "")).lower()
            if user not in world._users or world._users[user] != form.get("password"):
                return json_response({"error": "invalid_grant"})  # Reddit's 200-with-error
            token, expires = world._issue(client_id, user)
        elif grant == "client_credentials":
            token, expires = world._issue(client_id, None)
        else:
            return json_response({"error": "unsupported_grant_type"})
        return json_response({"access_token": token, "token_type": "bearer", "expires_in": expires,
                              "scope": str(form.get("scope", "*"))})

    async def me(request: web.Request) -> web.Response:
        user = _user(request)
        if user is None:
            return _error(403, "Forbidden")
        return json_response({"name": world._user_names[user], "id": _stable_id(user, 7),
                              "link_karma": 1, "comment_karma": 1, "created_utc": 1_500_000_000.0})

    def _subreddit_or_redirect(request: web.Request) -> str:
        sub = request.match_info["sub"]
        if not world._known(sub):
            raise web.HTTPFound(f"/subreddits/search.json?q={quote(sub)}")
        for part in sub.lower().split("+"):
            reason = world._access.get(part)
            if reason is not None:
                status = 404 if reason == "banned" else 403
                raise _Refused(json_response({"reason": reason, "message": "Not Found" if status == 404
                                              else "Forbidden", "error": status}, status))
        return sub

    async def search(request: web.Request) -> web.Response:
        sub = _subreddit_or_redirect(request)
        q = request.query.get("q", "")
        if not q.strip():
            return _error(400, "Bad Request")
        restrict = request.query.get("restrict_sr", "").lower() in ("1", "true", "on")
        scope = sub if restrict or sub.lower() == "all" else "all"
        horizon = _TIME_FILTERS.get(request.query.get("t", "all"))
        now = world.clock()
        hits = world._newest_live(lambda t: t["name"].startswith("t3_") and world._in(scope, t)
                                  and _matches(q, t) and (horizon is None or t["created_utc"] >= now - horizon))
        # Reddit's search supports other sorts; for monitoring only sort=new matters.
        return json_response(_page(hits, request.query, world.listing_cap))

    async def new(request: web.Request) -> web.Response:
        sub = _subreddit_or_redirect(request)
        things = world._newest_live(lambda t: t["name"].startswith("t3_") and world._in(sub, t))
        return json_response(_page(things, request.query, world.listing_cap))

    async def sub_comments(request: web.Request) -> web.Response:
        sub = _subreddit_or_redirect(request)
        things = world._newest_live(lambda t: t["name"].startswith("t1_") and world._in(sub, t))
        return json_response(_page(things, request.query, world.listing_cap))

    async def about(request: web.Request) -> web.Response:
        sub = _subreddit_or_redirect(request)
        name = world._subreddits.get(sub.lower(), sub)
        return json_response({"kind": "t5", "data": {"display_name": name, "display_name_prefixed": f"r/{name}",
                                                      "subscribers": 1000, "subreddit_type": "public"}})

    def _tree(parent: str) -> dict[str, Any] | str:
        kids = world._newest_live(lambda t: t.get("parent_id") == parent)
        if not kids:
            return ""
        kids.sort(key=lambda t: t["created_utc"])
        children = []
        for k in kids:
            d = _wire(k)
            d["replies"] = _tree(k["name"])
            children.append({"kind": "t1", "data": d})
        return _listing(children)

    async def comments(request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        link = world._get(f"t3_{sid}")
        if link is None:
            return _error(404, "Not Found")
        tree = _tree(link["name"])
        return json_response([_listing([_wrap(link)]), tree if tree else _listing([])])

    async def info(request: web.Request) -> web.Response:
        names = [n for n in request.query.get("id", "").split(",") if n]
        if len(names) > 100:
            return _error(400, "Bad Request")
        return json_response(_listing([_wrap(t) for t in map(world._get, names) if t is not None]))

    async def inbox(request: web.Request) -> web.Response:
        user = _user(request)
        if user is None:
            return _error(403, "Forbidden")  # app-only tokens have no inbox
        box = request.match_info["box"]
        items = [i for i in world._inbox if i.user == user and world._get(i.thing) is not None
                 and (box == "inbox" or (box == "unread" and i.new) or (box == "mentions" and i.type == "username_mention"))]
        items.sort(key=lambda i: (world._things[i.thing]["created_utc"], int(world._things[i.thing]["id"], 36)),
                   reverse=True)
        rows = [{"name": i.thing, "item": i} for i in items]
        return json_response(_page(rows, request.query, world.listing_cap, lambda row: _inbox_item(world, row["item"])))

    async def user_comments(request: web.Request) -> web.Response:
        name = request.match_info["name"].lower()
        things = world._newest_live(lambda t: t["name"].startswith("t1_") and t["author"].lower() == name)
        return json_response(_page(things, request.query, world.listing_cap))

    async def comment(request: web.Request) -> web.Response:
        user = _user(request)
        if user is None:
            return _error(403, "Forbidden")
        form = await request.post()
        thing_id, text = str(form.get("thing_id", "")), str(form.get("text", ""))
        if world._get(thing_id) is None:
            return json_response({"json": {"errors": [["DELETED_COMMENT", "that comment has been deleted", "parent"]]}})
        if not text.strip():
            return json_response({"json": {"errors": [["NO_TEXT", "we need something here", "text"]]}})
        data = world.add_comment(thing_id, text, author=world._user_names[user])
        return json_response({"json": {"errors": [], "data": {"things": [_wrap(data)]}}})

    app = web.Application(middlewares=[challenge, make_middleware(world.recorder, world.faults, style="reddit"), gate])
    app[WORLD] = world
    r = app.router
    r.add_post(TOKEN_PATH, access_token)
    r.add_get("/api/v1/me", me)
    r.add_get(r"/r/{sub}/search{slash:/?}", search)
    r.add_get(r"/r/{sub}/new{slash:/?}", new)
    r.add_get(r"/r/{sub}/comments{slash:/?}", sub_comments)
    r.add_get(r"/r/{sub}/about{slash:/?}", about)
    r.add_get(r"/comments/{id}{slug:(/.*)?}", comments)
    r.add_get(r"/api/info{slash:/?}", info)
    r.add_get(r"/message/{box:inbox|mentions|unread}{slash:/?}", inbox)
    r.add_get(r"/user/{name}/comments{slash:/?}", user_comments)
    r.add_post(r"/api/comment{slash:/?}", comment)
    return app


WORLD = web.AppKey("reddit_world", RedditWorld)


def _user(request: web.Request) -> str | None:
    return request[_TOKEN].user


def _basic(header: str) -> tuple[str | None, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    return user, password
