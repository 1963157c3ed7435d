"""Splitting a post into words fast: the same words as a regex gives, without the regex engine.

Python's regex engine costs about 40 ns a character. For a pattern whose word characters are
ASCII, every other character only separates words: the post is encoded to ASCII with each
non-ASCII character made "?", a 256-byte translation table (one pass in C) turns every character
that cannot be in a word into a space, and `split()` cuts there. Only the few pieces with an
apostrophe go through the regex, as `X+(?:'[a-z]+)?` ("don't", but "rock'n'roll" is "rock'n"
and "roll") needs it.

Why that gives the regex's words: a word never contains a space, so the regex scanning the whole
text finds, in each space-free piece, exactly what it finds scanning that piece alone; a piece
with no apostrophe is made of word characters only, so it is one word.
"""
from __future__ import annotations

import re


class AsciiWords:
    """`pattern.findall(text)` over lower-case text, for a pattern `[<chars>]+(?:'[a-z]+)?` whose
    word characters `chars` are ASCII."""

    def __init__(self, pattern: re.Pattern[str], chars: str) -> None:
        assert chars.isascii() and "?" not in chars and "'" not in chars
        keep = set(chars.encode("ascii")) | {ord("'")}
        self._table = bytes(c if c in keep else 0x20 for c in range(256))
        self.pattern = pattern

    def findall(self, low: str) -> list[str]:
        """The words of `low`, a lower-cased text, in order (the regex's answer)."""
        raw = low.encode("ascii") if low.isascii() else low.encode("ascii", "replace")  # é -> "?", a separator
        pieces = raw.translate(self._table).decode("ascii").split()
        if "'" not in low:
            return pieces
        find = self.pattern.findall
        out: list[str] = []
        for p in pieces:
            if "'" in p:
                out += find(p)
            else:
                out.append(p)
        return out
