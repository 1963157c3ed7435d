"""Themes: the words and two-word phrases people used, counted once per post, and which of them
rose or fell against the previous period (by share of posts, so a busier week does not make every
word "rise")."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# a word of three or more characters, apostrophes inside only ("don't", not "'quoted'")
_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:'[a-z0-9]+)*")
_NOISE = re.compile(r"https?://\S+|[@#]\w+|&\w+;")

# Common English words that say nothing about a theme (short words are dropped by the tokeniser).
STOPWORDS = frozenset("""
about above after again against all also and any are aren't because been before being below between both but
can can't cannot could couldn't did didn't does doesn't doing don't down during each few for from further get
gets got had hadn't has hasn't have haven't having her here hers herself him himself his how i'm i've into isn't
it's its itself just let's like made make more most much must mustn't myself not now off once only other ought
our ours ourselves out over own same she should shouldn't some such than that that's the their theirs them
themselves then there there's these they they're this those through too under until very was wasn't we're
we've were weren't what what's when where which while who whom why will with won't would wouldn't you you're
you've your yours yourself yourselves one two still even really thing things going know want need see say said
way today yesterday week day time back new via amp rt http https www com yes yet let lol omg
""".split())

MIN_COUNT = 3  # a theme needs at least this many posts in a period to be called out


def terms(text: str, skip: frozenset[str] = STOPWORDS) -> set[str]:
    """The distinct words and adjacent word pairs of a post, without links, handles or the words in
    `skip` (the stop words and the caller's own: see `skipped`)."""
    words = [w for w in _TOKEN.findall(_NOISE.sub(" ", text.lower())) if len(w) >= 3 and w not in skip]
    out = set(words)
    out.update([f"{a} {b}" for a, b in zip(words, words[1:]) if a != b])
    return out


def skipped(ignore: frozenset[str]) -> frozenset[str]:
    """Stop words and the caller's own words in one set: the hot loop makes one lookup per word."""
    return STOPWORDS | ignore


@dataclass(frozen=True, slots=True)
class Theme:
    term: str
    count: int  # posts that used it in the period
    previous: int  # ... in the previous period
    share: float  # of the period's posts
    previous_share: float


def rose_and_fell(current: Counter[str], current_posts: int, previous: Counter[str], previous_posts: int,
                  *, limit: int = 5, min_count: int = MIN_COUNT) -> tuple[list[Theme], list[Theme]]:
    """The themes whose share of posts rose most, and those that fell most.

    A two-word phrase hides its own words when it carries them (same count): "refund delayed" is
    said, not also "refund" and "delayed" with the same posts.
    """
    def theme(t: str) -> Theme:
        c, p = current.get(t, 0), previous.get(t, 0)
        return Theme(t, c, p, c / current_posts if current_posts else 0.0, p / previous_posts if previous_posts else 0.0)

    def delta(t: Theme) -> float:
        return t.share - t.previous_share

    candidates = [theme(t) for t, c in current.items() if c >= min_count]
    rose = sorted((t for t in candidates if delta(t) > 0), key=lambda t: (-delta(t), -t.count, t.term))
    falling = [theme(t) for t, p in previous.items() if p >= min_count]
    fell = sorted((t for t in falling if delta(t) < 0), key=lambda t: (delta(t), -t.previous, t.term))
    # a word is hidden only by a phrase ranked near it, so looking at the head of the ranking is enough
    return _drop_covered(rose[:limit * 4])[:limit], _drop_covered(fell[:limit * 4])[:limit]


def _drop_covered(ranked: Iterable[Theme]) -> list[Theme]:
    ranked = list(ranked)
    phrases = {t.term: t for t in ranked if " " in t.term}
    out = []
    for t in ranked:
        if " " not in t.term and any(t.term in p.split(" ") and p_t.count == t.count and p_t.previous == t.previous
                                     for p, p_t in phrases.items()):
            continue
        out.append(t)
    return out
