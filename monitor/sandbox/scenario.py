"""Scripted traffic for the sandbox: timed posts, bursts, quiet periods, outages and token expiry.

A `Scenario` is plain data (offsets in seconds from its start), so the same script can be loaded
into the X world (`XWorld.schedule(scenario, start_at)`), into another platform's sandbox (posts
carry a `platform`), or inspected by a test as ground truth. `ScenarioWriter` draws texts and
authors deterministically from a seed; `demo_scenario` and `crash_scenario` are the two stock
scripts.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from monitor.sandbox.texts import SampleText, by_kind, load_texts, render

EventKind = Literal["outage", "token_expiry"]


@dataclass(frozen=True, slots=True)
class AuthorProfile:
    username: str
    name: str = ""
    followers: int = 0
    verified: bool = False


@dataclass(frozen=True, slots=True)
class ScenarioPost:
    offset: float  # seconds after the scenario starts
    author: str  # username
    text: str
    key: str  # the scenario's own name for the post, for replies/quotes/reposts and for tests
    platform: str = "x"
    reply_to: str | None = None  # key of an earlier post
    quote_of: str | None = None
    repost_of: str | None = None
    lang: str = "en"
    likes: int = 0
    kind: str = ""  # what the text is about (the sample's kind): ground truth for tests
    extra: dict[str, Any] = field(default_factory=dict)  # platform specifics (e.g. a subreddit)


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    offset: float
    kind: EventKind
    platform: str = "x"
    duration: float = 0.0  # outages: how long every request fails
    status: int = 503


@dataclass
class Scenario:
    brand_handle: str
    brand_name: str = ""
    brand_token: str | None = None  # lets the brand account post through the API (replies, echo guard)
    posts: list[ScenarioPost] = field(default_factory=list)
    events: list[ScenarioEvent] = field(default_factory=list)
    authors: dict[str, AuthorProfile] = field(default_factory=dict)
    quiet: list[tuple[float, float]] = field(default_factory=list)  # (start, end) with no posts
    _keys: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def add(self, offset: float, author: str | AuthorProfile, text: str, *, key: str | None = None,
            **kw: Any) -> str:
        """Append one post; returns its key. References (reply_to, …) must name earlier keys."""
        if isinstance(author, AuthorProfile):
            self.authors.setdefault(author.username, author)
            author = author.username
        key = key or f"p{len(self.posts)}"
        if len(self._keys) != len(self.posts):  # `posts` was edited directly: re-index
            self._keys = {p.key for p in self.posts}
        known = self._keys
        if key in known:
            raise ValueError(f"duplicate scenario key {key!r}")
        for ref in ("reply_to", "quote_of", "repost_of"):
            if kw.get(ref) is not None and kw[ref] not in known:
                raise ValueError(f"{ref}={kw[ref]!r} does not name an earlier post")
        self.posts.append(ScenarioPost(offset, author, text, key, **kw))
        known.add(key)
        return key

    def quiet_period(self, start: float, duration: float) -> None:
        """Declare a window with no posts; the writers skip it, and tests can expect silence there."""
        self.quiet.append((start, start + duration))

    def is_quiet(self, offset: float) -> bool:
        return any(a <= offset < b for a, b in self.quiet)

    def outage(self, offset: float, duration: float, *, platform: str = "x", status: int = 503) -> None:
        self.events.append(ScenarioEvent(offset, "outage", platform, duration, status))

    def token_expiry(self, offset: float, *, platform: str = "x") -> None:
        self.events.append(ScenarioEvent(offset, "token_expiry", platform))

    @property
    def duration(self) -> float:
        ends = [p.offset for p in self.posts] + [e.offset + e.duration for e in self.events] + [b for _, b in self.quiet]
        return max(ends, default=0.0)

    def by_key(self, key: str) -> ScenarioPost:
        return next(p for p in self.posts if p.key == key)


_FIRST = ["ana", "ben", "chloe", "dev", "emma", "felix", "grace", "hugo", "ines", "jay", "kim", "leo", "mia",
          "noah", "olga", "priya", "quinn", "raj", "sara", "tom", "uma", "vic", "wen", "xavi", "yara", "zoe"]
_LAST = ["_travels", "_k", "smith", "_m", "lee", "_ny", "rivera", "_uk", "chen", "_jr", "patel", "_99", "_runs"]


class ScenarioWriter:
    """Draws authors and texts from a seed so a scenario is the same on every run."""

    def __init__(self, scenario: Scenario, seed: int = 0, texts: tuple[SampleText, ...] | None = None) -> None:
        self.sc = scenario
        self.rng = random.Random(seed)
        self.texts = texts if texts is not None else load_texts()
        self._used: set[str] = set()
        self._pools: dict[tuple[str, ...], list[SampleText]] = {}

    def customer(self, *, influencer: bool = False) -> AuthorProfile:
        username = f"{self.rng.choice(_FIRST)}{self.rng.choice(_LAST)}{self.rng.randint(1, 999)}"
        if influencer:
            return AuthorProfile(username, username.title(), self.rng.randint(80_000, 2_000_000), True)
        followers = int(self.rng.lognormvariate(5, 1.6))  # most accounts are small, a few are not
        return AuthorProfile(username, username.replace("_", " ").title(), followers)

    def text(self, *kinds: str) -> SampleText:
        """A sample of one of these kinds, not used before in this scenario while any are left."""
        if kinds not in self._pools:
            self._pools[kinds] = by_kind(self.texts, *kinds) or list(self.texts)
        pool = self._pools[kinds]
        for _ in range(8):  # pools are large: a few draws almost always find a fresh one
            choice = self.rng.choice(pool)
            if choice.text not in self._used:
                break
        else:
            fresh = [t for t in pool if t.text not in self._used]
            choice = self.rng.choice(fresh or pool)
        self._used.add(choice.text)
        return choice

    def post(self, offset: float, *kinds: str, mention: bool = True, author: AuthorProfile | None = None,
             key: str | None = None, **kw: Any) -> str:
        sample = self.text(*kinds)
        return self.sc.add(offset, author or self.customer(), render(sample, self.sc.brand_handle, as_mention=mention),
                           key=key, kind=sample.kind, lang=sample.lang, **kw)

    def spread(self, start: float, end: float, count: int, *kinds: str, mention: bool = True) -> list[str]:
        """`count` posts at random moments in [start, end), skipping quiet periods."""
        offsets = sorted(self.rng.uniform(start, end) for _ in range(count))
        return [self.post(o, *kinds, mention=mention) for o in offsets if not self.sc.is_quiet(o)]

    def burst(self, start: float, count: int, within: float, *kinds: str) -> list[str]:
        """Many complaints in a short window, as when something breaks."""
        return self.spread(start, start + within, count, *kinds)

    def reddit_thread(self, offset: float, subreddit: str, replies: int, *kinds: str, key: str | None = None) -> str:
        """A Reddit submission naming the brand and comments under it (some answering each other).

        Reddit posts carry `extra={"subreddit", "title"}` for a submission and `{"subreddit"}` for a
        comment; `reply_to` names the submission or the parent comment.
        """
        sample = self.text(*kinds)
        body = render(sample, self.sc.brand_handle, as_mention=False)
        title = body.split(". ")[0][:120]
        root = self.sc.add(offset, self.customer(), body, key=key, platform="reddit", kind=sample.kind,
                           extra={"subreddit": subreddit, "title": title})
        parents = [root]
        for i in range(replies):
            reply = self.text(*CHATTER)
            parents.append(self.sc.add(offset + 5 * (i + 1), self.customer(),
                                       render(reply, self.sc.brand_handle, as_mention=False),
                                       key=f"{root}-c{i}", platform="reddit", kind=reply.kind,
                                       reply_to=self.rng.choice(parents), extra={"subreddit": subreddit}))
        return root


CHATTER = ("complaint", "question", "praise", "support", "neutral", "delay", "billing")
COMPLAINTS = ("outage", "complaint", "delay", "billing")


def demo_scenario(brand_handle: str = "acme", duration_s: float = 60.0, seed: int = 7) -> Scenario:
    """A compact day in the life: steady mentions, keyword posts, a burst of complaints, a quiet
    spell, a thread with the brand answering, a brand post (never to be triaged), a repost, a
    quote of the brand, spam and a hostile post that tries to ping a whole Slack channel."""
    handle = brand_handle.lstrip("@")
    sc = Scenario(handle, brand_name=handle.title(), brand_token=f"{handle}-user-token")
    w = ScenarioWriter(sc, seed)
    d = duration_s
    sc.quiet_period(0.75 * d, 0.1 * d)

    w.spread(0.0, d * 0.95, 14, *CHATTER)
    w.spread(0.0, d * 0.95, 6, *CHATTER, mention=False)  # keyword posts: the brand named, not tagged
    burst = w.burst(0.4 * d, 12, 0.08 * d, "outage", "delay")

    root = w.post(0.15 * d, "complaint", "delay", "billing", key="thread-root")
    customer = sc.by_key(root).author
    sc.add(0.15 * d + 1, handle, "So sorry about this. Could you DM us your booking reference so we can look into it?",
           key="thread-brand-reply", reply_to=root, kind="own")
    sc.add(0.15 * d + 2, customer, "sent you a DM, still no answer from anyone", key="thread-customer-reply",
           reply_to="thread-brand-reply", kind="complaint")
    sc.add(0.15 * d + 3, w.customer(), f"same thing happened to me last week @{handle}", key="thread-other-reply",
           reply_to=root, kind="complaint")

    sc.add(0.42 * d, handle, f"We're aware some customers can't sign in to the @{handle} app. Our team is on it "
           "and we'll post updates here.", key="brand-status", kind="own")
    sc.add(0.45 * d, w.customer(influencer=True), "", key="repost", repost_of=burst[0], kind="repost")
    sc.add(0.47 * d, w.customer(), f"at least @{handle} is saying something this time", key="quote",
           quote_of="brand-status", kind="neutral")
    w.post(0.3 * d, "spam", key="spam")
    # someone hurt: the care team's critical alert (a safety report, with a visible author)
    sc.add(0.33 * d, AuthorProfile("maria_lopez_82", "Maria Lopez", 3400),
           f"@{handle} the charger you sold me overheated and caught fire in the kitchen, my son burned his "
           "hand. This is dangerous, please recall them", key="critical-safety", kind="safety")
    w.post(0.55 * d, "hostile", key="hostile")
    w.reddit_thread(0.2 * d, handle, 4, *COMPLAINTS, key="reddit-thread")
    w.reddit_thread(0.5 * d, "travel", 2, "question", "neutral", "praise", key="reddit-keyword")
    sc.posts.sort(key=lambda p: p.offset)
    return sc


# Share of a day's posts in each hour (UTC): a quiet night, a morning rise, a busy afternoon.
HOURLY = (0.6, 0.4, 0.3, 0.3, 0.3, 0.5, 1.0, 2.0, 3.5, 4.5, 5.0, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 7.0, 6.5, 6.0,
          5.0, 4.0, 2.5, 1.4)


def day_scenario(brand_handle: str = "acme", posts_per_day: int = 2000, seed: int = 5, *,
                 burst_at_s: float = 15.5 * 3600, burst_posts: int = 150, burst_within_s: float = 1200.0,
                 keyword_share: float = 0.3) -> Scenario:
    """A simulated day (86,400 s) of traffic for the polling benchmark: posts arrive as a Poisson
    process whose rate follows `HOURLY`, plus an outage burst in the afternoon. About
    `keyword_share` of posts name the brand without tagging it (search streams only)."""
    handle = brand_handle.lstrip("@")
    sc = Scenario(handle, brand_name=handle.title(), brand_token=f"{handle}-user-token")
    w = ScenarioWriter(sc, seed)
    weight = sum(HOURLY)
    for hour, share in enumerate(HOURLY):
        rate = posts_per_day * share / weight / 3600  # posts per second this hour
        t = hour * 3600.0
        while True:
            t += w.rng.expovariate(rate)
            if t >= (hour + 1) * 3600:
                break
            w.post(t, *CHATTER, mention=w.rng.random() >= keyword_share)
    w.burst(burst_at_s, burst_posts, burst_within_s, "outage", "delay")
    sc.posts.sort(key=lambda p: p.offset)
    return sc


def crash_scenario(brand_handle: str = "acme", n_posts: int = 200, spread_s: float = 30.0, seed: int = 1) -> Scenario:
    """`n_posts` complaints mentioning the brand over `spread_s` seconds, each text distinct, for the
    kill-and-restart test: every post must end up stored once and alerted once."""
    handle = brand_handle.lstrip("@")
    sc = Scenario(handle, brand_name=handle.title(), brand_token=f"{handle}-user-token")
    w = ScenarioWriter(sc, seed)
    seen: set[str] = set()
    for i, offset in enumerate(sorted(w.rng.uniform(0, spread_s) for _ in range(n_posts))):
        sample = w.text(*COMPLAINTS)
        text = render(sample, handle)
        if text in seen:  # only when the built-in set has run out
            text = f"{text} (#{i})"
        seen.add(text)
        sc.add(offset, w.customer(), text, key=f"c{i}", kind=sample.kind, lang=sample.lang)
    return sc
