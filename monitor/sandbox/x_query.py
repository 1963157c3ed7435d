"""The sandbox X's search query language: words AND-ed, "phrases", OR, ( ), -negation, operators.

A small but real subset of X's syntax, compiled to a predicate over the sandbox's tweets; invalid
queries raise `QueryError`, which the server answers like X's 400.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.sandbox.x_api import Tweet, XWorld

class QueryError(ValueError):
    pass


Predicate = Callable[["Tweet", "XWorld"], bool]

_TOKEN = re.compile(r'\s*(?:(?P<lp>-?\()|(?P<rp>\))|(?P<phrase>-?"[^"]*")|(?P<term>[^\s()"]+))')
_STANDALONE = {"from", "to", "conversation_id", "url", "retweets_of", "in_reply_to_tweet_id", "quotes_of"}
_CONJUNCTION_ONLY = {"is", "lang", "has"}


def words_of(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _contains_run(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def _term(raw: str) -> tuple[Predicate, bool]:
    """A predicate for one term, and whether it may stand alone (X rejects `-is:retweet` alone)."""
    if raw.startswith("@") and len(raw) > 1:
        handle = raw[1:].lower()
        return (lambda t, w: handle in t.mentions), True
    if raw[0] in "#$" and len(raw) > 1:
        tag = raw[1:].lower()
        return (lambda t, w: tag in t.hashtags), True
    m = re.fullmatch(r"([a-z_]+):(.+)", raw)
    if m:
        op, arg = m.group(1), m.group(2)
        argl = arg.lower().lstrip("@")
        preds: dict[str, Predicate] = {
            "from": lambda t, w: w.users[t.author_id].username.lower() == argl,
            "to": lambda t, w: bool(t.in_reply_to_user_id)
            and w.users[t.in_reply_to_user_id].username.lower() == argl,
            "lang": lambda t, w: t.lang.lower() == argl,
            "conversation_id": lambda t, w: t.conversation_id == arg,
            "in_reply_to_tweet_id": lambda t, w: t.reply_to == arg,
            "retweets_of": lambda t, w: bool(t.repost_of)
            and w.users[w.tweets[t.repost_of].author_id].username.lower() == argl,
            "quotes_of": lambda t, w: t.quote_of == arg,
            "url": lambda t, w: argl in t.text.lower(),
        }
        if op == "is":
            flags: dict[str, Predicate] = {
                "retweet": lambda t, w: t.repost_of is not None,
                "reply": lambda t, w: t.reply_to is not None,
                "quote": lambda t, w: t.quote_of is not None,
                "verified": lambda t, w: w.users[t.author_id].verified,
            }
            if argl not in flags:
                raise QueryError(f"Reference to invalid operator 'is:{arg}'")
            return flags[argl], False
        if op == "has":
            has: dict[str, Predicate] = {
                "links": lambda t, w: "http" in t.text,
                "mentions": lambda t, w: bool(t.mentions),
                "hashtags": lambda t, w: bool(t.hashtags),
            }
            if argl not in has:
                raise QueryError(f"Reference to invalid operator 'has:{arg}'")
            return has[argl], False
        if op not in preds:
            raise QueryError(f"Reference to invalid operator '{op}'")
        return preds[op], op in _STANDALONE
    words = words_of(raw)
    if not words:
        raise QueryError(f"There is nothing to match in '{raw}'")
    return (lambda t, w: _contains_run(t.words, words)), True


class _Parser:
    """expr := and ('OR' and)* ; and := unary+ ; unary := '-'? atom ; atom := '(' expr ')' | term.

    As on X, AND binds tighter than OR: `a b OR c` is `(a b) OR c`.
    """

    def __init__(self, query: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        query = query.strip()
        while pos < len(query):
            m = _TOKEN.match(query, pos)
            if not m or m.end() == pos:
                raise QueryError(f"Unbalanced quote in query at position {pos}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(query) and query[pos].isspace():
                pos += 1
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> tuple[Predicate, bool]:
        if not self.tokens:
            raise QueryError("The query is empty")
        pred, standalone = self.expr()
        if self.peek() is not None:
            raise QueryError(f"Unexpected '{self.peek()[1]}'")  # type: ignore[index]
        return pred, standalone

    def expr(self) -> tuple[Predicate, bool]:
        parts = [self.conj()]
        while (tok := self.peek()) is not None and tok == ("term", "OR"):
            self.i += 1
            parts.append(self.conj())
        if len(parts) == 1:
            return parts[0]
        preds = [p for p, _ in parts]
        return (lambda t, w: any(p(t, w) for p in preds)), all(s for _, s in parts)

    def conj(self) -> tuple[Predicate, bool]:
        parts: list[tuple[Predicate, bool]] = []
        while (tok := self.peek()) is not None and tok[0] != "rp" and tok != ("term", "OR"):
            parts.append(self.unary())
        if not parts:
            raise QueryError("An operand is missing (empty group or dangling OR)")
        preds = [p for p, _ in parts]
        return (lambda t, w: all(p(t, w) for p in preds)), any(s for _, s in parts)

    def unary(self) -> tuple[Predicate, bool]:
        kind, text = self.tokens[self.i]
        self.i += 1
        negate = text.startswith("-") and len(text) > 1
        if kind == "lp":
            inner, standalone = self.expr()
            if self.peek() is None or self.peek()[0] != "rp":  # type: ignore[index]
                raise QueryError("Unbalanced parentheses")
            self.i += 1
        elif kind == "phrase":
            inner, standalone = _term(text.lstrip("-").strip('"') or '"')
        else:
            inner, standalone = _term(text[1:] if negate else text)
        if negate:
            return (lambda t, w: not inner(t, w)), False
        return inner, standalone


def parse_query(query: str) -> Predicate:
    """Compile an X search query into a predicate, or raise QueryError like X's 400."""
    if len(query) > 512:
        raise QueryError("Query length exceeds 512 characters")
    pred, standalone = _Parser(query).parse()
    if not standalone:
        raise QueryError("The query needs at least one standalone operator; is:, lang: and negations "
                         "must be combined with a keyword or an operator like from:")
    return pred
