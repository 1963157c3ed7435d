"""Find which rule entries a text matches, fast enough for thousands of mentions a second.

One regex per entry searched over every mention would be hundreds of searches; one big alternation
is worse (Python's regex engine tries every alternative at every position: ~200 texts/s measured on
the shipped rules). Instead each entry gets a *trigger*: the literal text every match must start
with, read from the parsed regex (`\\bcharged\\s+twice` -> "charged"; `(?:can't|cannot)` -> "can").
A mention is split into lower-case words once; only entries whose trigger starts one of those words
(or, for triggers like "?" or "$", occurs in the text) are searched. Entries with no literal start
(`\\d+ hours late`) are always searched; keep those few.

Overlaps are settled the way a reader would: a negation cancels the matches it overlaps (in its own
category, or in every category for a top-level negation), and within one category a match inside a
longer one ("hacked" inside "account was hacked") is not counted twice.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
import re
import re._parser as sre_parse  # the stdlib's own regex parser, to read each entry's literal start
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import ahocorasick

if TYPE_CHECKING:
    from monitor.triage.rules import Term

_WORDS = re.compile(r"\w+")
_SPACES = str.maketrans({"\n": " ", "\t": " ", "\r": " ", "\u00a0": " "})
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "\u201c": '"', "\u201d": '"'})
_CACHE_MAX = 200_000
_ZERO_WIDTH = {sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT}


class Found(NamedTuple):
    evidence: dict[str, float]  # category -> sum of the weights of what matched
    quoted: dict[str, list[str]]  # category -> the words that matched, as written
    negated: list[tuple[str, str]]  # (the negation as written, the category it cancelled)
    danger: list[tuple[str, str]]  # (words as written, category) of matched `critical` entries
    negations: int = 0  # negations found in the text, whether or not they cancelled anything


Trigger = tuple[str, bool]  # (lower-case literal start, whether it is a whole word)


def literal_starts(regex: str) -> set[Trigger] | None:
    """The literal starts one of which every match begins with; None when there is none.

    A start that is followed by a non-word character in the regex (`\\b`, a space, `\\s`) is a
    whole word; otherwise it may be the beginning of a longer word (`refund\\w*`).
    """
    try:
        parsed = sre_parse.parse(regex, re.IGNORECASE)
    except re.error:
        return None
    starts = _starts(list(parsed))
    if not starts:
        return None
    out: set[Trigger] = set()
    for prefix, whole in starts:
        prefix = prefix.lower()
        head = _HEAD_WORD.match(prefix)
        if head and head.end() < len(prefix):  # "not down" -> the word "not"
            out.add((head.group(0), True))
        elif prefix:
            out.add((prefix, whole))
        else:
            return None
    return out


_HEAD_WORD = re.compile(r"[^\W_]+")


def required_starts(regex: str) -> set[Trigger] | None:
    """The starts of the rarest part every match must contain, when that beats the literal start.

    `(?:a|the) fire (?:in|at)` must contain "fire": triggering on "fire" (a rare word) instead of
    "a" or "the" (in most posts) means the pattern is searched in a few posts instead of almost
    all. Rarity is guessed from length: the part whose shortest start is longest wins; None when
    no mandatory part has a start of at least three letters.
    """
    try:
        items = list(sre_parse.parse(regex, re.IGNORECASE))
    except re.error:
        return None
    best: set[Trigger] | None = None
    best_len = 2
    i = 0
    while i < len(items):
        op, av = items[i]
        if op is sre_parse.LITERAL and not chr(av).isalnum():
            i += 1  # a space or punctuation: the next word is the part
            continue
        optional = op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and av[0] == 0
        starts = None if optional or op in _ZERO_WIDTH else _starts(items[i:])
        if starts:
            cut = set()
            for prefix, whole in starts:
                head = _HEAD_WORD.match(prefix.lower())
                if not head:
                    cut = set()
                    break
                cut.add((head.group(0), whole or head.end() < len(prefix)))
            shortest = min((len(p) for p, _ in cut), default=0)
            if shortest > best_len:
                best, best_len = cut, shortest
        if op is sre_parse.LITERAL:
            while i + 1 < len(items) and items[i + 1][0] is sre_parse.LITERAL and chr(items[i + 1][1]).isalnum():
                i += 1  # a word is one part: "fire" is tried once, not as "ire", "re"
        i += 1
    return best
_WORD_END = {sre_parse.AT, sre_parse.NOT_LITERAL}


def _ends_word(items: list, i: int) -> bool:  # type: ignore[type-arg]
    """Whether what follows items[i-1] cannot continue a word."""
    if i >= len(items):
        return False  # the match may end mid-word
    op, av = items[i]
    if op is sre_parse.AT:
        return av is sre_parse.AT_BOUNDARY
    if op is sre_parse.LITERAL:
        return not chr(av).isalnum() and chr(av) not in "'’_"
    if op is sre_parse.IN:
        return av == [(sre_parse.CATEGORY, sre_parse.CATEGORY_SPACE)]
    if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and av[0] >= 1:
        return _ends_word(list(av[2]), 0)
    return False


def _starts(items: list) -> set[tuple[str, bool]] | None:  # type: ignore[type-arg]
    prefix = ""
    for i, (op, av) in enumerate(items):
        if op in _ZERO_WIDTH and not prefix:
            continue
        if op is sre_parse.LITERAL:
            prefix += chr(av)
            continue
        if prefix:
            return {(prefix, _ends_word(items, i))}
        if op is sre_parse.SUBPATTERN:
            return _starts(list(av[-1]))
        if op is sre_parse.BRANCH:
            out: set[tuple[str, bool]] = set()
            for branch in av[1]:
                s = _starts(list(branch))
                if not s:
                    return None
                out |= s
            return out
        if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and av[0] >= 1:
            return _starts(list(av[2]))
        return None
    return {(prefix, False)} if prefix else None


def phrase_to_regex(phrase: str) -> str:
    """A plain phrase -> regex: whole words, flexible spaces, optional apostrophes, `*` suffix."""
    out: list[str] = []
    words = phrase.strip().split()
    for w in words:
        star = w.endswith("*") and len(w) > 1
        if star:
            w = w[:-1]
        piece = "".join("['’]?" if ch in "'’" else re.escape(ch) for ch in w)
        if star:
            piece += r"\w*"
        out.append(piece)
    body = r"\s+".join(out)
    first, last = phrase.strip()[:1], phrase.strip().rstrip("*")[-1:]
    lead = r"\b" if re.match(r"\w", first) else r"(?<!\w)"
    tail = r"\b" if re.match(r"\w", last) else ""
    return f"{lead}{body}{tail}"


_PLAIN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*(?: [^\W_]+(?:['’][^\W_]+)*)*\*?")


def _literal_forms(t: Term) -> list[tuple[str, bool]] | None:
    """The lower-case strings a plain phrase matches (apostrophes optional) and whether it ends in
    `*`; None when the entry is a pattern or a phrase the automaton cannot take (punctuation,
    `*` inside): those are matched as regexes."""
    text = " ".join(t.text.split())
    if t.regex != phrase_to_regex(t.text) or not _PLAIN.fullmatch(text):
        return None
    star = text.endswith("*")
    forms = [text.rstrip("*").lower().replace("’", "'")]
    while any("'" in f for f in forms):
        forms = [g for f in forms for g in (f.replace("'", "", 1), f.replace("'", "\0", 1))]
    return [(f.replace("\0", "'"), star) for f in forms]


_RUNS = re.compile(r" {2,}")


def _unsqueeze(squeezed: list[tuple[int, int]], pos: int) -> int:
    """An offset in the squeezed text -> the offset in the post."""
    i = bisect_right(squeezed, (pos, 1 << 62)) - 1
    return pos + squeezed[i][1] if i >= 0 else pos


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class Matcher:
    def __init__(self, terms: Iterable[Term]) -> None:
        # Plain phrases (most entries) go into one Aho-Corasick automaton: one pass over the post
        # in C, whatever the number of phrases. Patterns are tried where their literal start is.
        terms = list(terms)
        self._automaton = ahocorasick.Automaton()
        by_form: dict[str, list[tuple[bool, Term]]] = {}
        by_regex: dict[str, list[Term]] = {}
        for t in terms:
            forms = _literal_forms(t)
            if forms is None:
                by_regex.setdefault(t.regex, []).append(t)  # the same regex under two categories: searched once
                continue
            for form, star in forms:
                by_form.setdefault(form, []).append((star, t))
        for form, items in by_form.items():
            # a form with and without `*` (refund / refund*) keeps both readings
            self._automaton.add_word(form, (len(form), tuple({star for star, _ in items}),
                                            {star: tuple(t for s, t in items if s == star) for star, _ in items}))
        self._has_phrases = bool(by_form)
        if self._has_phrases:
            self._automaton.make_automaton()
        self._phrase_terms = list({id(t): t for items in by_form.values() for _, t in items}.values())
        self._compiled_phrases: list[tuple[re.Pattern[str], Term]] | None = None
        self._entries: list[tuple[re.Pattern[str], tuple[Term, ...]]] = []
        self._word: dict[str, list[int]] = {}  # trigger that is a whole word -> entries
        self._prefix: dict[str, list[int]] = {}  # trigger that starts a word -> entries
        self._prefix_lengths: list[int] = []
        self._substring: dict[str, list[int]] = {}  # trigger with punctuation -> entries
        self._always: list[int] = []
        self._search: set[int] = set()  # entries triggered by a rare word they contain: searched in the whole post
        for rx, ts in by_regex.items():
            idx = len(self._entries)
            self._entries.append((re.compile(rx, re.IGNORECASE), tuple(ts)))
            first = literal_starts(rx)
            starts = required_starts(rx)
            if starts is not None and (first is None or min(len(p) for p, _ in first) < min(len(p) for p, _ in starts)):
                self._search.add(idx)
            else:
                starts = first
            if starts is None:
                self._always.append(idx)
                continue
            for s, whole in starts:
                if not s.isalnum():
                    # "?", "$", "#ad" …: look for it in the text itself
                    self._substring.setdefault(s, []).append(idx)
                elif whole:
                    self._word.setdefault(s, []).append(idx)
                else:
                    self._prefix.setdefault(s, []).append(idx)
        self._prefix_lengths = sorted({len(p) for p in self._prefix})
        # word -> entries it triggers; words follow Zipf's law, so a bounded cache catches most
        self._cache: dict[str, tuple] = {}  # type: ignore[type-arg]

    def matches(self, text: str) -> Found:
        """Evidence per category, quoted words per category, negations and danger."""
        # typographic apostrophes and quotes as typed on phones (can’t) read like ASCII ones; the
        # same length, so offsets stay valid
        text = text.translate(_APOSTROPHES)
        lower = text.lower()
        found: list[tuple[int, int, str, tuple[Term, ...]]] = []
        if self._has_phrases:
            if len(lower) == len(text):
                self._phrases(text, lower.translate(_SPACES), found)
            else:  # rare letters ("İ") change length when lower-cased: each phrase as a regex
                for rx, t in self._phrase_regexes():
                    for m in rx.finditer(text):
                        found.append((m.start(), m.end(), m.group(0), (t,)))
        add = found.append
        entries = self._entries
        searched: list[int] = list(self._always)
        for s, idxs in self._substring.items():
            if s in lower:
                searched.extend(idxs)
        if len(lower) != len(text):
            # lower-casing changed offsets (rare letters such as "İ"): find triggered entries anywhere
            searched.extend(i for tok in set(_WORDS.findall(lower)) for i in self._triggered(tok))
        else:
            # every match starts where its trigger word starts: try the entry right there
            cache = self._cache
            search = self._search
            for tm in _WORDS.finditer(lower):
                tok = tm.group()
                cached = cache.get(tok)
                if cached is None:
                    triggered = self._triggered(tok)
                    cached = (tuple((entries[i][0].match, entries[i][1]) for i in triggered if i not in search),
                              tuple(i for i in triggered if i in search))
                    if len(cache) < _CACHE_MAX:
                        cache[tok] = cached
                cands, wide = cached
                if wide:
                    searched.extend(wide)
                if cands:
                    pos = tm.start()
                    for match, terms in cands:
                        m = match(text, pos)
                        if m is not None and (pos == 0 or text[pos - 1] != "@"):
                            add((m.start(), m.end(), m.group(0), terms))
        for idx in set(searched):
            rx, terms = entries[idx]
            for m in rx.finditer(text):
                if m.start() == 0 or text[m.start() - 1] != "@":
                    add((m.start(), m.end(), m.group(0), terms))
        hits: list[tuple[int, int, str, Term]] = []
        negations: list[tuple[int, int, str, Term]] = []
        for start, end, said, terms in found:
            said = " ".join(said.split())
            for t in terms:
                (negations if t.negation else hits).append((start, end, said, t))
        return _settle(hits, negations)

    def _phrase_regexes(self) -> list[tuple[re.Pattern[str], Term]]:
        if self._compiled_phrases is None:
            self._compiled_phrases = [(re.compile(t.regex, re.IGNORECASE), t) for t in self._phrase_terms]
        return self._compiled_phrases

    def _phrases(self, text: str, lower: str, found: list[tuple[int, int, str, tuple[Term, ...]]]) -> None:
        """Every plain phrase in one Aho-Corasick pass, kept where it starts and ends a word.

        A phrase's words may be apart by several spaces ("charged  twice"): runs of spaces are
        squeezed to one for the pass, and the few hits are mapped back to the post's offsets.
        """
        squeezed: list[tuple[int, int]] = []  # (offset in the squeezed text, spaces removed before it)
        if "  " in lower:
            removed = 0
            parts = []
            pos = 0
            for m in _RUNS.finditer(lower):
                parts.append(lower[pos:m.start() + 1])
                removed += m.end() - m.start() - 1
                pos = m.end()
                squeezed.append((m.start() + 1 - (removed - (m.end() - m.start() - 1)), removed))
            parts.append(lower[pos:])
            lower = "".join(parts)
        n = len(lower)
        for last, (length, stars, terms_by_star) in self._automaton.iter(lower):
            start = last - length + 1
            if start > 0 and (_is_word(lower[start - 1]) or lower[start - 1] == "@"):
                continue  # inside a word ("late" in "translate") or an @handle ("@FireTV")
            end = last + 1
            whole = end >= n or not _is_word(lower[end])
            for star in stars:
                if star:
                    e = end
                    while e < n and _is_word(lower[e]):
                        e += 1  # `refund*` takes the rest of the word
                elif whole:
                    e = end
                else:
                    continue
                s0, e0 = (_unsqueeze(squeezed, start), _unsqueeze(squeezed, e - 1) + 1) if squeezed else (start, e)
                found.append((s0, e0, text[s0:e0], terms_by_star[star]))

    def _triggered(self, tok: str) -> tuple[int, ...]:
        """The entries a word may start, each once."""
        out = dict.fromkeys(self._word.get(tok, ()))
        n = len(tok)
        prefix = self._prefix
        for ln in self._prefix_lengths:
            if ln > n:
                break
            hit = prefix.get(tok[:ln])
            if hit:
                out.update(dict.fromkeys(hit))
        return tuple(out)


def _settle(hits: list[tuple[int, int, str, Term]], negations: list[tuple[int, int, str, Term]]) -> Found:
    """Cancel what a negation overlaps, count a match inside a longer one once; O(n log n).

    Both checks used to compare every pair (quadratic: a long post full of matches took seconds).
    Now negations are sorted by start with a running furthest end, so "does a negation overlap
    [s, e)" is one bisection; and matches sorted by (start, longest first) with a running furthest
    end per category tell at once whether a match lies inside an earlier one.
    """
    by_scope: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
    for n in sorted(negations, key=lambda n: n[0]):
        starts, reach = by_scope.setdefault(n[3].category, ([], []))
        starts.append(n[0])
        i = len(starts) - 1
        # reach[i] = (furthest end among negations 0..i, the index of that negation)
        reach.append((n[1], i) if not reach or n[1] > reach[-1][0] else reach[-1])
    scoped = {c: (st, r, [n for n in sorted(negations, key=lambda n: n[0]) if n[3].category == c])
              for c, (st, r) in by_scope.items()}

    def overlapping(s: int, e: int, scope: str) -> tuple[int, int, str, Term] | None:
        found = scoped.get(scope)
        if found is None:
            return None
        starts, reach, negs = found
        i = bisect_left(starts, e) - 1  # the negations starting before the match ends
        if i >= 0 and reach[i][0] > s:
            return negs[reach[i][1]]
        return None

    cancelled: list[tuple[str, str]] = []
    kept: list[tuple[int, int, str, Term]] = []
    for h in hits:
        s, e, said, t = h
        neg = overlapping(s, e, t.category) or overlapping(s, e, "")
        if neg is not None:
            cancelled.append((neg[2], t.category))
        else:
            kept.append(h)
    danger: list[tuple[str, str]] = []
    for _, _, said, t in kept:
        if t.critical and (said, t.category) not in danger:
            danger.append((said, t.category))
    # by start, the longest first: a match inside another comes after it and ends before its end
    kept.sort(key=lambda h: (h[0], -h[1]))
    evidence: dict[str, float] = {}
    quoted: dict[str, list[str]] = {}
    furthest: dict[str, int] = {}
    for s, e, said, t in kept:
        c = t.category
        if furthest.get(c, -1) >= e:
            continue
        furthest[c] = e
        evidence[c] = evidence.get(c, 0.0) + t.weight
        q = quoted.setdefault(c, [])
        if len(q) < 8 and said.lower() not in (x.lower() for x in q):
            q.append(said)
    seen: set[tuple[str, str]] = set()
    unique = [c for c in cancelled if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]
    return Found(evidence, quoted, unique, danger, len(negations))
