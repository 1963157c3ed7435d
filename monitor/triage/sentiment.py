"""VADER sentiment (vaderSentiment 3.3.2), the same compound score in a third of the time.

VADER is made for social text and was the slowest step of triage (~45 µs a tweet). The original
lower-cases the whole word list again for every sentiment word it looks at (quadratic in the
length of the post) and walks every character to swap emojis for words. This port of
`SentimentIntensityAnalyzer.polarity_scores` keeps VADER's lexicon, constants and rules (even its
quirks) and only removes repeated work:
- emojis are swapped for their descriptions by one `str.replace` per emoji present instead of a
  walk over every character (same spacing rule: a space before a description unless a space or
  the start precedes the emoji), and only in posts that are not plain ASCII;
- the post is lower-cased and split once; a post none of whose words is in the lexicon scores
  exactly 0 after two C-speed set checks;
- only lexicon words are visited; the three words before one are read unrolled, and the idiom
  checks run only in posts that have an idiom's word;
- the "but" rule skips zeros (halving or multiplying a zero leaves it zero).
tests/triage/test_triage_evaluation.py checks the scores equal the original's on the shared data sets.
"""
from __future__ import annotations

import math
import string
from itertools import compress, repeat

from vaderSentiment import vaderSentiment as vs

_PUNCT = string.punctuation
_NEGATE = frozenset(vs.NEGATE)
_BOOST = vs.BOOSTER_DICT
_SPECIAL = vs.SPECIAL_CASES
_C_INCR = vs.C_INCR
_N_SCALAR = vs.N_SCALAR
# a word of each of VADER's multi-word idioms and boosters, not one of the common ones
_IDIOM_MARKS = frozenset(w for k in (*_SPECIAL, *_BOOST) if " " in k for w in k.split()) - {"the", "to", "for", "of", "just"}


class Sentiment:
    def __init__(self) -> None:
        self._vader = vs.SentimentIntensityAnalyzer()
        self._lexicon: dict[str, float] = self._vader.lexicon
        self._lexicon_words = frozenset(self._lexicon)
        emojis = {c: d for c, d in self._vader.emojis.items() if len(c) == 1}  # the original reads one char at a time
        self._emoji_chars = frozenset(emojis)
        self._emojis = emojis
        self._emoji_marked = {c: "\x00" + d for c, d in emojis.items()}

    def _describe_emojis(self, text: str, present: frozenset[str]) -> str:
        """Emojis -> their descriptions, spaced as the original's character walk spaces them: a
        space before a description unless a space (or the start of the text) precedes the emoji."""
        if "\x00" in text:
            return _walk(text, self._emojis)
        out = text
        for e in present:  # the few present, not a dict lookup per character
            out = out.replace(e, self._emoji_marked[e])
        if out.startswith("\x00"):
            out = out[1:]
        return out.replace(" \x00", " ").replace("\x00", " ")

    def compound(self, text: str) -> float:
        """VADER's compound score, -1 (most negative) … 1 (most positive)."""
        if not text.isascii():  # emojis are never ASCII
            present = self._emoji_chars.intersection(text)
            if present:
                text = self._describe_emojis(text, present)
        tokens = text.split()
        low_text = text.lower()
        lows = low_text.split()
        stripped = list(map(str.strip, lows, repeat(_PUNCT, len(lows))))
        # most posts share no word with the lexicon: C-speed set checks say so without the rules
        lex = self._lexicon_words
        if lex.isdisjoint(stripped) and lex.isdisjoint(lows):
            if len(lows) == len(tokens):  # lower-casing never makes or removes a space, but be exact
                return 0.0
        if not tokens:
            return 0.0
        # the original's words: punctuation stripped off a word unless 2 letters or fewer remain;
        # from the lower-cased words when lower-casing kept every length (it does but for "İ")
        if len(low_text) == len(text) and len(lows) == len(tokens):
            lw = [s if len(s) > 2 else t for s, t in zip(stripped, lows)]
        else:
            lw = [(s if len(s) > 2 else t).lower() for s, t in zip(map(str.strip, tokens, repeat(_PUNCT, len(tokens))), tokens)]
        return self._compound(text, tokens, lw)

    def _compound(self, text: str, tokens: list[str], lw: list[str]) -> float:
        """`tokens` as written (stripping punctuation never changes whether a word is in capitals),
        `lw` VADER's lower-cased words."""
        lex = self._lexicon
        n = len(lw)
        # some words in capitals, not all (`any` and `all` stop at the first that says so)
        is_cap_diff = any(map(str.isupper, tokens)) and not all(map(str.isupper, tokens))
        # every idiom ("the bomb", "kind of", "to die for") has one of these words: most posts have none
        idioms = not _IDIOM_MARKS.isdisjoint(lw)
        sentiments: list[float] = [0] * n  # the original appends an int 0 for every word without valence
        for i in compress(range(n), map(lex.__contains__, lw)):
            low = lw[i]
            if low in _BOOST or (low == "kind" and i < n - 1 and lw[i + 1] == "of"):
                continue
            sentiments[i] = self._valence(tokens, lw, i, is_cap_diff, idioms)
        if "but" in lw:
            _but_check(lw, sentiments)
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

    def _valence(self, words: list[str], lw: list[str], i: int, is_cap_diff: bool, idioms: bool) -> float:
        """SentimentIntensityAnalyzer.sentiment_valence for a lexicon word, with `lw` computed once and
        the original's loop over the three words before it unrolled (scalar_inc_dec and
        _negation_check inlined); `idioms`: whether the post has two idiom words in a row at all."""
        lex = self._lexicon
        low = lw[i]
        valence = lex[low]
        if low == "no" and i != len(lw) - 1 and lw[i + 1] in lex:
            valence = 0.0
        if (i > 0 and lw[i - 1] == "no") or (i > 1 and lw[i - 2] == "no") or (
            i > 2 and lw[i - 3] == "no" and lw[i - 1] in ("or", "nor")
        ):
            valence = lex[low] * _N_SCALAR
        if is_cap_diff and words[i].isupper():
            valence = valence + _C_INCR if valence > 0 else valence - _C_INCR
        # _scalar adds 0 unless the word is a booster: it is called only for those (adding 0 could
        # only turn -0.0 into 0.0, which no later step tells apart)
        if i > 0 and (w1 := lw[i - 1]) not in lex:
            if w1 in _BOOST:
                valence = valence + self._scalar(words, w1, i - 1, valence, is_cap_diff)
            if w1 in _NEGATE or "n't" in w1:
                valence = valence * _N_SCALAR
        if i > 1 and (w2 := lw[i - 2]) not in lex:
            if w2 in _BOOST:
                valence = valence + self._scalar(words, w2, i - 2, valence, is_cap_diff) * 0.95
            w1 = lw[i - 1]
            if w2 == "never" and (w1 == "so" or w1 == "this"):
                valence = valence * 1.25
            elif w2 == "without" and w1 == "doubt":
                pass
            elif w2 in _NEGATE or "n't" in w2:
                valence = valence * _N_SCALAR
        if i > 2 and (w3 := lw[i - 3]) not in lex:
            if w3 in _BOOST:
                valence = valence + self._scalar(words, w3, i - 3, valence, is_cap_diff) * 0.9
            w2, w1 = lw[i - 2], lw[i - 1]
            # the original's precedence, kept: (never and so/this) or (so/this right before)
            if w3 == "never" and (w2 == "so" or w2 == "this") or (w1 == "so" or w1 == "this"):
                valence = valence * 1.25
            elif w3 == "without" and (w2 == "doubt" or w1 == "doubt"):
                pass
            elif w3 in _NEGATE or "n't" in w3:
                valence = valence * _N_SCALAR
            if idioms:
                valence = _special_idioms_check(valence, lw, i)
        # _least_check
        if i > 1 and lw[i - 1] not in lex and lw[i - 1] == "least":
            if lw[i - 2] != "at" and lw[i - 2] != "very":
                valence = valence * _N_SCALAR
        elif i > 0 and lw[i - 1] not in lex and lw[i - 1] == "least":
            valence = valence * _N_SCALAR
        return valence

    @staticmethod
    def _scalar(words: list[str], low: str, j: int, valence: float, is_cap_diff: bool) -> float:
        """vs.scalar_inc_dec for words[j], whose lower case is `low`."""
        if low not in _BOOST:
            return 0.0
        scalar = _BOOST[low]
        if valence < 0:
            scalar *= -1
        if is_cap_diff and words[j].isupper():
            scalar = scalar + _C_INCR if valence > 0 else scalar - _C_INCR
        return scalar

def _but_check(lw: list[str], sentiments: list[float]) -> None:
    """vs.SentimentIntensityAnalyzer._but_check in place, quirks kept: each value is looked up by
    `index` (the first equal value) as the original does; zeros are skipped, as halving or
    multiplying them leaves them zero."""
    bi = lw.index("but")
    for k in range(len(sentiments)):
        v = sentiments[k]
        if not v:
            continue
        si = sentiments.index(v)
        if si < bi:
            sentiments[si] = v * 0.5
        elif si > bi:
            sentiments[si] = v * 1.5


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
