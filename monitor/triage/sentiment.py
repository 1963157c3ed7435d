"""VADER sentiment (vaderSentiment 3.3.2), the same compound score in less than half the time.

VADER is made for social text and was the slowest step of triage (~45 µs a tweet). The original
lower-cases the whole word list again for every sentiment word it looks at (quadratic in the
length of the post) and walks every character to swap emojis for words. This port of
`SentimentIntensityAnalyzer.polarity_scores` keeps VADER's lexicon, constants and rules (even its
quirks) and only removes repeated work:
- emojis are swapped for their descriptions by `str.translate` instead of a walk over every
  character (same spacing rule: a space before a description unless a space or the start
  precedes the emoji);
- words are lower-cased once;
- a post none of whose words is in the lexicon scores exactly 0 without running the rules.
tests/triage/test_triage_sentiment.py checks the scores equal the original's on every post of the
shared data sets.
"""
from __future__ import annotations

import math
import string

from vaderSentiment import vaderSentiment as vs

_PUNCT = string.punctuation
_NEGATE = frozenset(vs.NEGATE)
_BOOST = vs.BOOSTER_DICT
_SPECIAL = vs.SPECIAL_CASES
_C_INCR = vs.C_INCR
_N_SCALAR = vs.N_SCALAR


def _negated(word_lower: str) -> bool:
    return word_lower in _NEGATE or "n't" in word_lower


def _strip_punc_if_word(token: str) -> str:
    stripped = token.strip(_PUNCT)
    return token if len(stripped) <= 2 else stripped


class Sentiment:
    def __init__(self) -> None:
        self._vader = vs.SentimentIntensityAnalyzer()
        self._lexicon: dict[str, float] = self._vader.lexicon
        emojis = {c: d for c, d in self._vader.emojis.items() if len(c) == 1}  # the original reads one char at a time
        self._emoji_chars = frozenset(emojis)
        self._emojis = emojis
        self._emoji_table = {ord(c): "\x00" + d for c, d in emojis.items()}

    def _describe_emojis(self, text: str) -> str:
        """Emojis -> their descriptions, spaced as the original's character walk spaces them: a
        space before a description unless a space (or the start of the text) precedes the emoji."""
        if "\x00" in text:
            return _walk(text, self._emojis)
        out = text.translate(self._emoji_table)
        if out.startswith("\x00"):
            out = out[1:]
        return out.replace(" \x00", " ").replace("\x00", " ")

    def compound(self, text: str) -> float:
        """VADER's compound score, -1 (most negative) … 1 (most positive)."""
        if not self._emoji_chars.isdisjoint(text):
            text = self._describe_emojis(text)
        lex = self._lexicon
        for token in text.split():
            low = token.lower()
            if low in lex or low.strip(_PUNCT) in lex:
                break
        else:
            return 0.0
        return self._compound(text.strip())

    def _compound(self, text: str) -> float:
        lex = self._lexicon
        words = [_strip_punc_if_word(w) for w in text.split()]
        if not words:
            return 0.0
        lw = [w.lower() for w in words]
        n_upper = sum(1 for w in words if w.isupper())
        is_cap_diff = 0 < len(words) - n_upper < len(words)
        n = len(words)
        sentiments: list[float] = []
        for i, item in enumerate(words):
            low = lw[i]
            if low in _BOOST:
                sentiments.append(0)
                continue
            if i < n - 1 and low == "kind" and lw[i + 1] == "of":
                sentiments.append(0)
                continue
            if low not in lex:
                sentiments.append(0)
                continue
            sentiments.append(self._valence(words, lw, i, is_cap_diff))
        if "but" in lw:
            sentiments = vs.SentimentIntensityAnalyzer._but_check(words, sentiments)
        sum_s = float(sum(sentiments))
        ep = min(text.count("!"), 4) * 0.292
        qm_count = text.count("?")
        qm = (qm_count * 0.18 if qm_count <= 3 else 0.96) if qm_count > 1 else 0
        amp = ep + qm
        if sum_s > 0:
            sum_s += amp
        elif sum_s < 0:
            sum_s -= amp
        compound = sum_s / math.sqrt((sum_s * sum_s) + 15)
        compound = max(-1.0, min(1.0, compound))
        return round(compound, 4)

    def _valence(self, words: list[str], lw: list[str], i: int, is_cap_diff: bool) -> float:
        # SentimentIntensityAnalyzer.sentiment_valence for a lexicon word, with `lw` computed once
        lex = self._lexicon
        item = words[i]
        low = lw[i]
        n = len(words)
        valence = lex[low]
        if low == "no" and i != n - 1 and lw[i + 1] in lex:
            valence = 0.0
        if (i > 0 and lw[i - 1] == "no") or (i > 1 and lw[i - 2] == "no") or (
            i > 2 and lw[i - 3] == "no" and lw[i - 1] in ("or", "nor")
        ):
            valence = lex[low] * _N_SCALAR
        if item.isupper() and is_cap_diff:
            valence = valence + _C_INCR if valence > 0 else valence - _C_INCR
        for start_i in range(3):
            if i > start_i and lw[i - (start_i + 1)] not in lex:
                s = vs.scalar_inc_dec(words[i - (start_i + 1)], valence, is_cap_diff)
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                valence = _negation_check(valence, lw, start_i, i)
                if start_i == 2:
                    valence = _special_idioms_check(valence, lw, i)
        # _least_check
        if i > 1 and lw[i - 1] not in lex and lw[i - 1] == "least":
            if lw[i - 2] != "at" and lw[i - 2] != "very":
                valence = valence * _N_SCALAR
        elif i > 0 and lw[i - 1] not in lex and lw[i - 1] == "least":
            valence = valence * _N_SCALAR
        return valence


def _walk(text: str, emojis: dict[str, str]) -> str:
    # the original loop, for the odd text that already contains our marker character
    out = ""
    prev_space = True
    for ch in text:
        if ch in emojis:
            if not prev_space:
                out += " "
            out += emojis[ch]
            prev_space = False
        else:
            out += ch
            prev_space = ch == " "
    return out


def _negation_check(valence: float, lw: list[str], start_i: int, i: int) -> float:
    if start_i == 0:
        if _negated(lw[i - 1]):
            valence = valence * _N_SCALAR
    elif start_i == 1:
        if lw[i - 2] == "never" and (lw[i - 1] == "so" or lw[i - 1] == "this"):
            valence = valence * 1.25
        elif lw[i - 2] == "without" and lw[i - 1] == "doubt":
            pass
        elif _negated(lw[i - 2]):
            valence = valence * _N_SCALAR
    else:
        # the original's precedence, kept: (never and so/this) or (so/this right before)
        if lw[i - 3] == "never" and (lw[i - 2] == "so" or lw[i - 2] == "this") or (
            lw[i - 1] == "so" or lw[i - 1] == "this"
        ):
            valence = valence * 1.25
        elif lw[i - 3] == "without" and (lw[i - 2] == "doubt" or lw[i - 1] == "doubt"):
            pass
        elif _negated(lw[i - 3]):
            valence = valence * _N_SCALAR
    return valence


def _special_idioms_check(valence: float, lw: list[str], i: int) -> float:
    onezero = f"{lw[i - 1]} {lw[i]}"
    twoonezero = f"{lw[i - 2]} {lw[i - 1]} {lw[i]}"
    twoone = f"{lw[i - 2]} {lw[i - 1]}"
    threetwoone = f"{lw[i - 3]} {lw[i - 2]} {lw[i - 1]}"
    threetwo = f"{lw[i - 3]} {lw[i - 2]}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in _SPECIAL:
            valence = _SPECIAL[seq]
            break
    if len(lw) - 1 > i:
        zeroone = f"{lw[i]} {lw[i + 1]}"
        if zeroone in _SPECIAL:
            valence = _SPECIAL[zeroone]
    if len(lw) - 1 > i + 1:
        zeroonetwo = f"{lw[i]} {lw[i + 1]} {lw[i + 2]}"
        if zeroonetwo in _SPECIAL:
            valence = _SPECIAL[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in _BOOST:
            valence = valence + _BOOST[n_gram]
    return valence
