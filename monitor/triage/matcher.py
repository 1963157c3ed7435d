"""Find which rule entries a text matches, in time linear in the text, thousands of posts a second.

One regex per entry searched over every mention would be hundreds of searches; one big alternation
is worse (Python's regex engine tries every alternative at every position). Instead:
- plain phrases, and patterns that only combine literals, alternatives and optional parts (expanded
  into their few strings), are keys of one Aho-Corasick automaton (pyahocorasick): one pass in C over
  the post, whatever the number of entries; a hit counts where it starts and ends a word;
- every other pattern gets a *trigger*: the literal its matches start with, read from the parsed
  regex (`\\bcharged\\s+\\w+ twice` -> "charged"), keys of a second automaton; the pattern is tried
  only where that word starts, and, when every match must also contain a rarer word, only in posts
  that have it (`(?:a|the) fire (?:in|at)` waits for "fire");
- patterns that start with punctuation ("?", "$", "#ad") are searched when it occurs; those with no
  literal at all are searched in every post (keep those few).
Posts are bounded before they get here (rules `max_chars`), so a bounded pattern costs bounded time.

Overlaps are settled the way a reader would, in O(n log n): a negation cancels the matches it
overlaps (in its own category, or in every category for a top-level negation), and within one
category a match inside a longer one ("hacked" inside "account was hacked") is not counted twice.
Words that are part of an @handle ("@FireTVSupport") are never matched.
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

_ODD = ("\n", "\t", "\r", "\u00a0")  # read as spaces
_APOSTROPHES = (("\u2019", "'"), ("\u2018", "'"), ("\u02bc", "'"), ("\u00b4", "'"), ("\u201c", '"'), ("\u201d", '"'))
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


# Words in most posts: a pattern gated by one of them would be tried almost always
_COMMON = frozenset("""the you your not for and are was with this that have has had but can get its just been from
they will would what when there all any out now how why who one more also some time back thanks thank
please help our their them than then too very really still again don didn can't don't won't isn't
""".split())


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
            if any(p in _COMMON for p, _ in cut):
                shortest = 0  # in most posts: no use as a gate
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


def punctuation_start(regex: str) -> str | None:
    """The ASCII punctuation and digits every match begins with, repeats counted (`!{2,}` -> "!!"):
    a post without them is not searched. None when the pattern starts otherwise. Letters are left
    out: with re.IGNORECASE "s" also matches "ſ", which lower-casing a post does not make "s"."""
    try:
        items = list(sre_parse.parse(regex, re.IGNORECASE))
    except re.error:
        return None
    out = ""
    for op, av in items:
        if op is sre_parse.LITERAL and _punctuation_or_digit(chr(av)):
            out += chr(av)
            continue
        if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and av[0] >= 1:
            sub = list(av[2])
            if len(sub) == 1 and sub[0][0] is sre_parse.LITERAL and _punctuation_or_digit(chr(sub[0][1])):
                out += chr(sub[0][1]) * av[0]
                if av[0] == av[1]:
                    continue
        break
    return out or None


def _punctuation_or_digit(ch: str) -> bool:
    return ch.isascii() and not ch.isalpha() and not ch.isspace()


_CLASSES = {sre_parse.CATEGORY_DIGIT: r"\d", sre_parse.CATEGORY_NOT_DIGIT: r"\D", sre_parse.CATEGORY_SPACE: r"\s",
            sre_parse.CATEGORY_NOT_SPACE: r"\S", sre_parse.CATEGORY_WORD: r"\w", sre_parse.CATEGORY_NOT_WORD: r"\W"}


def first_character(regex: str) -> re.Pattern[str] | None:
    """A pattern for the characters every match of `regex` starts with (`\\b\\d+ hours late` -> `[\\d]`),
    to skip a post that has none before searching it; None when that cannot be told."""
    try:
        items = list(sre_parse.parse(regex, re.IGNORECASE))
    except re.error:
        return None
    while items and items[0][0] is sre_parse.AT:
        items = items[1:]
    if not items:
        return None
    op, av = items[0]
    if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and av[0] >= 1 and list(av[2]):
        op, av = list(av[2])[0]
    if op is sre_parse.LITERAL:
        return re.compile(re.escape(chr(av)), re.IGNORECASE)
    if op is not sre_parse.IN:
        return None
    parts = []
    for o, a in av:
        if o is sre_parse.LITERAL:
            parts.append(re.escape(chr(a)))
        elif o is sre_parse.RANGE:
            parts.append(f"{re.escape(chr(a[0]))}-{re.escape(chr(a[1]))}")
        elif o is sre_parse.CATEGORY and a in _CLASSES:
            parts.append(_CLASSES[a])
        else:
            return None  # a negated set, or one this does not read
    return re.compile("[" + "".join(parts) + "]", re.IGNORECASE)


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


_MAX_FORMS = 256


def expand(regex: str) -> list[str] | None:
    """Every string a pattern made only of literals, alternatives, optional parts and small
    character sets can match (lower-case), or None: `(?:not|never) (?:the )?bad` -> 4 strings,
    which the phrase automaton matches in C instead of a regex tried word by word."""
    try:
        items = list(sre_parse.parse(regex, re.IGNORECASE))
    except re.error:
        return None
    while items and items[0][0] is sre_parse.AT and items[0][1] is sre_parse.AT_BOUNDARY:
        items = items[1:]
    while items and items[-1][0] is sre_parse.AT and items[-1][1] is sre_parse.AT_BOUNDARY:
        items = items[:-1]
    forms = _expand(items)
    if not forms:
        return None
    if any(not f or not _is_word(f[0]) or not _is_word(f[-1]) or "  " in f for f in forms):
        return None
    return sorted(forms)


def _expand(items: list) -> set[str] | None:  # type: ignore[type-arg]
    out = {""}
    for op, av in items:
        if op is sre_parse.LITERAL:
            ch = chr(av).lower()
            if not (ch.isalnum() or ch in " '-"):
                return None
            alts = {ch}
        elif op is sre_parse.SUBPATTERN:
            alts = _expand(list(av[-1]))
        elif op is sre_parse.BRANCH:
            alts = set()
            for branch in av[1]:
                sub = _expand(list(branch))
                if sub is None:
                    return None
                alts |= sub
        elif op is sre_parse.IN and all(o is sre_parse.LITERAL for o, _ in av):
            alts = {chr(c).lower() for _, c in av}
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            sub = _expand(list(av[2]))
            if sub is None:
                return None
            alts = sub | {""}
        else:
            return None
        if alts is None:
            return None
        out = {a + b for a in out for b in alts}
        if len(out) > _MAX_FORMS:
            return None
    return out


def _literal_forms(t: Term) -> list[tuple[str, bool]] | None:
    """The lower-case strings a plain phrase (apostrophes optional) or a simple pattern matches,
    and whether it ends in `*`; None for what the automaton cannot take (punctuation, `*` inside,
    `\\w*`, `.{0,40}`…): those are matched as regexes."""
    text = " ".join(t.text.split())
    if t.regex != phrase_to_regex(t.text) or not _PLAIN.fullmatch(text):
        forms = expand(t.regex)
        return [(f, False) for f in forms] if forms is not None else None
    star = text.endswith("*")
    forms = [text.rstrip("*").lower().replace("’", "'")]
    while any("'" in f for f in forms):
        forms = [g for f in forms for g in (f.replace("'", "", 1), f.replace("'", "\0", 1))]
    return [(f.replace("\0", "'"), star) for f in forms]


_RUNS = re.compile(r" {2,}")
_QUOTES = re.compile("[\u2019\u2018\u02bc\u00b4\u201c\u201d]")
_NONWORD = re.compile(r"\W")
_PUNCT = re.compile(r"[^\w'\-]")
# _PUNCT.sub(" ", ascii_text.replace("@", "_")) as a table: ASCII word characters, apostrophe and
# hyphen kept, "@" made "_", everything else a space
_FOREIGN_WORD_CHAR = re.compile(r"[^\W\x00-\x7f]")
_PUNCT_ASCII = bytes(c if chr(c).isalnum() or chr(c) in "_'-" else 0x5F if chr(c) == "@" else 0x20 for c in range(128)) + b" " * 128


def _prepare(text: str) -> tuple[str, str, str | None, str]:
    """(the post with typographic quotes made ASCII, lower-cased, lower-cased with odd spaces made
    spaces, that with punctuation made spaces and a space before and after); the last two are None
    and "" when lower-casing changed the length (rare letters such as "İ": offsets would not hold)."""
    # typographic apostrophes and quotes as typed on phones (can’t) read like ASCII ones; the
    # same length, so offsets stay valid
    plain = text.isascii()
    if not plain and _QUOTES.search(text):  # str.translate with a dict is slower than a few replaces
        for typed, ascii in _APOSTROPHES:
            text = text.replace(typed, ascii)
    lower = text.lower()
    if len(lower) != len(text):
        return text, lower, None, ""
    low = lower
    if "\n" in lower or "\t" in lower or "\r" in lower or not plain and "\u00a0" in lower:
        for odd in _ODD:
            low = low.replace(odd, " ")
    # punctuation made spaces ("@" joins the handle it starts, so no word in it is matched); with a
    # trailing space, so a hit ends a word when the next character is a space
    # most posts: the same by a 256-byte table, without the regex engine; a character outside ASCII
    # that is no letter or digit (an emoji, a dash) is punctuation like "?", which it is encoded as
    if low.isascii():
        return text, lower, low, " " + low.encode("ascii").translate(_PUNCT_ASCII).decode("ascii") + " "
    if not _FOREIGN_WORD_CHAR.search(low):
        return text, lower, low, " " + low.encode("ascii", "replace").translate(_PUNCT_ASCII).decode("ascii") + " "
    return text, lower, low, " " + _PUNCT.sub(" ", low.replace("@", "_")) + " "


def _spannable_run(lower: str, bounded: str) -> bool:
    """Whether a phrase could span one of the runs of spaces in `lower` ("charged  twice"), so the
    runs must be squeezed before the phrase pass. A phrase's words are letters, digits, apostrophes
    and hyphens, one space apart: it cannot span a run that follows punctuation (a space in
    `bounded`) or a word with "_" in it (an @handle: "@acme  my order"), nor one that punctuation
    or "_" follows. Unsqueezed, those runs change no hit and no offset."""
    n = len(lower)
    i = lower.find("  ")
    while i >= 0:
        j = i + 2
        while j < n and lower[j] == " ":
            j += 1
        # bounded[k + 1] is lower[k] made ready: bounded[i] is the character before the run
        before, after = bounded[i], bounded[j + 1]
        if before != " " and after != " " and after != "_" and "_" not in bounded[bounded.rfind(" ", 0, i):i + 1]:
            return True
        i = lower.find("  ", j)
    return False


def _unsqueeze(squeezed: list[tuple[int, int]], pos: int) -> int:
    """An offset in the squeezed text -> the offset in the post."""
    i = bisect_right(squeezed, (pos, 1 << 62)) - 1
    return pos + squeezed[i][1] if i >= 0 else pos


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class Matcher:
    """Every rule entry of one rules file (plus language packs), matched in time linear in the post.

    - Plain phrases (most entries) are keys of one Aho-Corasick automaton: one pass over the post
      in C whatever their number; a hit counts where it starts and ends a word.
    - A pattern is tried only where its literal start begins a word (`\\bcharged\\s+twice` where
      "charged…" is), those starts being keys of a second automaton. When every match must also
      contain a rarer word (`(?:a|the) fire (?:in|at)` needs "fire"), that word gates it: the
      pattern is tried only in posts that have it.
    - A pattern whose start is punctuation ("?", "$", "#ad") is searched when that occurs; one with
      no literal start at all is searched in every post (keep those few).
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        terms = list(terms)
        by_form: dict[str, list[tuple[bool, Term]]] = {}
        by_regex: dict[str, list[Term]] = {}
        for t in terms:
            forms = _literal_forms(t)
            if forms is None:
                by_regex.setdefault(t.regex, []).append(t)  # the same regex under two categories: searched once
                continue
            for form, star in forms:
                by_form.setdefault(form, []).append((star, t))
        # keys start with a space and are looked for in the post with punctuation made spaces: a
        # hit is then always at a word start ("no" does not fire inside "know")
        self._automaton = ahocorasick.Automaton()
        for form, items in by_form.items():
            # a form with and without `*` (refund / refund*) keeps both readings
            # (length, terms read as the whole word or None, terms read as a word start with `*` or None)
            plain = tuple(t for s, t in items if not s) or None
            starred = tuple(t for s, t in items if s) or None
            self._automaton.add_word(" " + form, (len(form), plain, starred))
        self._has_phrases = bool(by_form)
        if self._has_phrases:
            self._automaton.make_automaton()
        self._phrase_terms = list({id(t): t for items in by_form.values() for _, t in items}.values())
        self._compiled_phrases: list[tuple[re.Pattern[str], Term]] | None = None

        self._entries: list[tuple[re.Pattern[str], tuple[Term, ...]]] = []
        self._gated: dict[int, bool] = {}  # entry -> True: searched once its gate word is seen; False: tried at its starts
        # start with punctuation -> (entry, a longer text every match has, as "!!" for `!{2,}`, or None)
        self._substring: dict[str, list[tuple[int, str | None]]] = {}
        self._always: list[tuple[int, re.Pattern[str] | None]] = []  # (entry, what its first character must be)
        keys: dict[str, list[tuple[bool, int, bool]]] = {}  # word start -> (whole word, entry, is a gate)
        for rx, ts in by_regex.items():
            idx = len(self._entries)
            self._entries.append((re.compile(rx, re.IGNORECASE), tuple(ts)))
            first = literal_starts(rx)
            rare = required_starts(rx)
            if first is not None and any(not p.isalnum() for p, _ in first):
                need = punctuation_start(rx)
                for p, _ in first:
                    self._substring.setdefault(p, []).append((idx, need if need and len(need) > len(p) else None))
                continue
            if rare is not None and (first is None or min(map(len, (p for p, _ in rare))) > min(len(p) for p, _ in first)):
                self._gated[idx] = first is None
                for p, whole in rare:
                    keys.setdefault(p, []).append((whole, idx, True))
            if first is None:
                if idx not in self._gated:
                    self._always.append((idx, first_character(rx)))
                continue
            for p, whole in first:
                keys.setdefault(p, []).append((whole, idx, False))
        # keys start with a space and are looked for in the post with every non-word character
        # made a space: a hit is then always at a word start ("a" does not fire inside "flight")
        self._triggers = ahocorasick.Automaton()
        for key, items in keys.items():
            # (word length, then for a hit that is a whole word and for one that starts a longer
            # word: the gates it opens, the entries tried here always (regex match, terms) and the
            # entries tried here once opened (entry, regex match, terms)), each in the file's order;
            # an entry reached twice by one hit (its starts "i" and "i am") is tried once: a second
            # try could only repeat the first
            value: list[object] = [len(key)]
            for hit_whole in (True, False):
                fits = list({(idx, gate): None for whole, idx, gate in items if hit_whole or not whole})
                value.append(tuple(idx for idx, gate in fits if gate) or None)
                value.append(tuple((self._entries[idx][0].match, self._entries[idx][1]) for idx, gate in fits
                                   if not gate and idx not in self._gated) or None)
                value.append(tuple((idx, self._entries[idx][0].match, self._entries[idx][1]) for idx, gate in fits
                                   if not gate and idx in self._gated) or None)
            self._triggers.add_word(" " + key, tuple(value))
        self._has_triggers = bool(keys)
        if self._has_triggers:
            self._triggers.make_automaton()

    def matches(self, text: str) -> Found:
        """Evidence per category, quoted words per category, negations and danger."""
        text, lower, low, bounded = _prepare(text)
        found: list[tuple[int, int, str, tuple[Term, ...]]] = []
        if low is None:
            self._slowly(text, found)  # rare letters ("İ") change length when lower-cased
        else:
            if self._has_phrases:
                self._phrases(text, low, found, bounded)
            if self._has_triggers:
                # every non-word character a space (_PUNCT keeps apostrophes and hyphens)
                self._patterns(text, bounded.replace("'", " ").replace("-", " "), found)
        self._searched(text, lower, found)
        hits: list[tuple[int, int, str, Term]] = []
        negations: list[tuple[int, int, str, Term]] = []
        for start, end, said, terms in found:
            said = " ".join(said.split())
            for t in terms:
                (negations if t.negation else hits).append((start, end, said, t))
        return _settle(hits, negations)

    def _searched(self, text: str, lower: str, found: list[tuple[int, int, str, tuple[Term, ...]]]) -> None:
        """The patterns searched over the post: those starting with punctuation where it occurs,
        those with no literal start at all from their first possible character."""
        for sub, idxs in self._substring.items():
            if sub in lower:
                for idx, need in idxs:
                    if need is None or need in lower:
                        self._search(idx, text, found)
        for idx, first in self._always:
            if first is None:
                self._search(idx, text, found)
            elif m := first.search(text):
                self._search(idx, text, found, m.start())  # no match starts before that character

    def _search(self, idx: int, text: str, found: list[tuple[int, int, str, tuple[Term, ...]]], pos: int = 0) -> None:
        rx, terms = self._entries[idx]
        for m in rx.finditer(text, pos):  # from `pos`, still reading the text before it (\b, lookbehind)
            if m.start() == 0 or text[m.start() - 1] != "@":
                found.append((m.start(), m.end(), m.group(0), terms))

    def _patterns(self, text: str, bounded: str, found: list[tuple[int, int, str, tuple[Term, ...]]]) -> None:
        """Patterns at the word starts the trigger automaton finds, once their gate word is seen.

        `bounded`: the lower-cased post with every non-word character a space, "@" made "_" (so
        "@FireTV" is one word that no trigger starts), one space before and one after.
        """
        held_at: list[tuple[int, tuple[tuple[int, object, tuple[Term, ...]], ...]]] = []
        opened: set[int] = set()
        for last, (length, gates_w, free_w, held_w, gates_p, free_p, held_p) in self._triggers.iter(bounded):
            start = last - length  # the word's first character, in the post's offsets
            if bounded[last + 1] == " ":  # the hit is a whole word
                gates, free, held = gates_w, free_w, held_w
            else:
                gates, free, held = gates_p, free_p, held_p
            if gates is not None:
                opened.update(gates)
            if free is not None:
                for match, terms in free:
                    m = match(text, start)
                    if m is not None:
                        found.append((start, m.end(), m.group(0), terms))
            if held is not None:
                held_at.append((start, held))
        if opened:
            for start, held in held_at:
                for idx, match, terms in held:
                    if idx in opened:
                        m = match(text, start)
                        if m is not None:
                            found.append((start, m.end(), m.group(0), terms))
            for idx in opened:
                if self._gated[idx]:  # no literal start to try it at: search the post
                    self._search(idx, text, found)

    def _slowly(self, text: str, found: list[tuple[int, int, str, tuple[Term, ...]]]) -> None:
        if self._compiled_phrases is None:
            self._compiled_phrases = [(re.compile(t.regex, re.IGNORECASE), t) for t in self._phrase_terms]
        for rx, t in self._compiled_phrases:
            for m in rx.finditer(text):
                found.append((m.start(), m.end(), m.group(0), (t,)))
        for idx in range(len(self._entries)):
            if not any(idx == i for v in self._substring.values() for i, _ in v) and all(idx != i for i, _ in self._always):
                self._search(idx, text, found)

    def _phrases(self, text: str, lower: str, found: list[tuple[int, int, str, tuple[Term, ...]]],
                 bounded: str) -> None:
        """Every plain phrase in one Aho-Corasick pass, kept where it starts and ends a word.

        A phrase's words may be apart by several spaces ("charged  twice"): runs of spaces a phrase
        could span are squeezed to one for the pass, and the few hits are mapped back to the
        post's offsets.
        `bounded` is `lower` made ready for the pass: punctuation made spaces, "@" made "_" (it joins
        its handle: never matched), a space before and after.
        """
        squeezed: list[tuple[int, int]] = []  # (offset in the squeezed text, spaces removed before it)
        if "  " in lower and _spannable_run(lower, bounded):
            removed = 0
            kept: list[str] = []
            kept_bounded = [" "]
            last = 0
            for m in _RUNS.finditer(lower):
                extra = m.end() - m.start() - 1
                squeezed.append((m.start() + 1 - removed, removed + extra))
                removed += extra
                # `bounded` maps each character of `lower` to one: squeezing it at the same places
                # is the same as preparing the squeezed text
                kept.append(lower[last:m.start() + 1])
                kept_bounded.append(bounded[last + 1:m.start() + 2])
                last = m.end()
            kept.append(lower[last:])
            kept_bounded.append(bounded[last + 1:])
            lower = "".join(kept)
            bounded = "".join(kept_bounded)
        n = len(lower)
        for last, (length, plain, starred) in self._automaton.iter(bounded):
            start = last - length  # in `lower`'s offsets (bounded has one leading space)
            end = start + length
            if plain is not None and bounded[last + 1] == " ":
                if squeezed:
                    s0, e0 = _unsqueeze(squeezed, start), _unsqueeze(squeezed, end - 1) + 1
                else:
                    s0, e0 = start, end
                found.append((s0, e0, text[s0:e0], plain))
            if starred is not None:
                e = end
                while e < n and (lower[e].isalnum() or lower[e] == "_"):
                    e += 1  # `refund*` takes the rest of the word
                s0, e0 = (_unsqueeze(squeezed, start), _unsqueeze(squeezed, e - 1) + 1) if squeezed else (start, e)
                found.append((s0, e0, text[s0:e0], starred))

def _by_start_longest(h: tuple[int, int, str, Term]) -> tuple[int, int]:
    return h[0], -h[1]


def _cancel(hits: list[tuple[int, int, str, Term]], negations: list[tuple[int, int, str, Term]],
            cancelled: list[tuple[str, str]]) -> list[tuple[int, int, str, Term]]:
    """The hits no negation overlaps (in its category, or a top-level one); `cancelled` gets the rest."""
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

    kept: list[tuple[int, int, str, Term]] = []
    for h in hits:
        s, e, said, t = h
        neg = overlapping(s, e, t.category) or overlapping(s, e, "")
        if neg is not None:
            cancelled.append((neg[2], t.category))
        else:
            kept.append(h)
    return kept


def _settle(hits: list[tuple[int, int, str, Term]], negations: list[tuple[int, int, str, Term]]) -> Found:
    """Cancel what a negation overlaps, count a match inside a longer one once; O(n log n).

    Both checks used to compare every pair (quadratic: a long post full of matches took seconds).
    Now negations are sorted by start with a running furthest end, so "does a negation overlap
    [s, e)" is one bisection; and matches sorted by (start, longest first) with a running furthest
    end per category tell at once whether a match lies inside an earlier one.
    """
    cancelled: list[tuple[str, str]] = []
    if negations:
        kept = _cancel(hits, negations, cancelled)
    else:
        kept = hits  # most posts: nothing to cancel
    danger: list[tuple[str, str]] = []
    for _, _, said, t in kept:
        if t.critical and (said, t.category) not in danger:
            danger.append((said, t.category))
    # by start, the longest first: a match inside another comes after it and ends before its end
    kept.sort(key=_by_start_longest)
    evidence: dict[str, float] = {}
    quoted: dict[str, list[str]] = {}
    quoted_lower: dict[str, set[str]] = {}
    furthest: dict[str, int] = {}
    for s, e, said, t in kept:
        c = t.category
        if furthest.get(c, -1) >= e:
            continue
        furthest[c] = e
        if c in evidence:
            evidence[c] += t.weight
            q = quoted[c]
            if len(q) < 8:
                low = said.lower()
                if low not in quoted_lower[c]:
                    q.append(said)
                    quoted_lower[c].add(low)
        else:
            evidence[c] = 0.0 + t.weight
            quoted[c] = [said]
            quoted_lower[c] = {said.lower()}
    if not cancelled:
        return Found(evidence, quoted, cancelled, danger, len(negations))
    seen: set[tuple[str, str]] = set()
    unique = [c for c in cancelled if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]
    return Found(evidence, quoted, unique, danger, len(negations))
