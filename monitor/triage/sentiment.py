"""VADER sentiment, made cheap enough for the hot path without changing a single score.

VADER (vaderSentiment) is made for social text and is the slowest step of triage. Two exact
short-cuts, checked against the original on the 43k-tweet benchmark set (tests/triage):
- the original walks the text one character at a time to swap emojis for words; when no character
  of the text is an emoji (most posts) that walk returns the text unchanged, so we skip it;
- a text none of whose words (as VADER tokenises them) is in the lexicon scores exactly 0, so we
  return 0 without running the rules.
"""
from __future__ import annotations

import string

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

_PUNCT = string.punctuation


class Sentiment:
    def __init__(self) -> None:
        self._vader = _FastVader()
        self._lexicon = self._vader.lexicon
        self._emoji_chars = frozenset(c for c in self._vader.emojis if len(c) == 1)

    def compound(self, text: str) -> float:
        """VADER's compound score, -1 (most negative) … 1 (most positive)."""
        if not self._emoji_chars.isdisjoint(text):
            return float(self._vader.polarity_scores(text)["compound"])
        lex = self._lexicon
        for token in text.split():
            low = token.lower()
            if low in lex or low.strip(_PUNCT) in lex:
                break
        else:
            return 0.0
        return float(self._vader.polarity_scores_no_emoji(text))  # type: ignore[attr-defined]


class _FastVader(SentimentIntensityAnalyzer):
    def polarity_scores_no_emoji(self, text: str) -> float:
        # the original polarity_scores minus the emoji walk, which is a no-op for emoji-free text
        from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentiText

        text = text.strip()
        sentitext = SentiText(text)
        sentiments: list[float] = []
        words = sentitext.words_and_emoticons
        n = len(words)
        for i, item in enumerate(words):
            low = item.lower()
            if low in BOOSTER_DICT:
                sentiments.append(0)
                continue
            if i < n - 1 and low == "kind" and words[i + 1].lower() == "of":
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
        sentiments = self._but_check(words, sentiments)
        return self.score_valence(sentiments, text)["compound"]
