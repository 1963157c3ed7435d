"""Triage's fast paths give exactly the answers of the plain ones they stand in for.

Speed lives in benchmarks/triage.py; here only sameness: the ASCII word splitter against the regex,
the ASCII punctuation table against its regex, and a batch through `classify_texts` against the
same posts one by one.
"""
from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.triage import Triage, language, load_triage, matcher, model

# the characters the splitters treat differently: letters, digits, apostrophes, spaces, punctuation,
# letters and digits and signs outside ASCII
TEXT = st.text(alphabet=st.sampled_from("abz09' \t\n-_@#.,!?xyZéÜı½٣😀’“\u0301"), max_size=40)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_word_splitters_find_what_their_regexes_find(text):
    low = text.lower()
    for words in (model._WORDS, language._ASCII_WORD):
        assert words.findall(low) == words.pattern.findall(low)
    # the language detector's words: the ASCII splitter when no letter is outside ASCII
    low = low.replace("’", "'")
    if not language._FOREIGN_LETTER.search(low):
        assert language._ASCII_WORD.findall(low) == language._WORD.findall(low)


@pytest.mark.parametrize("text", ["don't", "rock'n'roll", "'quoted'", "dogs'", "abc'123", "''", "i'm 4'11", "héllo wörld", "can’t"])
def test_ascii_word_splitters_on_apostrophes_and_other_letters(text):
    for words in (model._WORDS, language._ASCII_WORD):
        assert words.findall(text.lower()) == words.pattern.findall(text.lower())


def test_the_ascii_punctuation_table_is_the_regex():
    every = "".join(map(chr, range(128)))
    assert every.encode().translate(matcher._PUNCT_ASCII).decode() == matcher._PUNCT.sub(" ", every.replace("@", "_"))


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_the_matchers_text_preparation_is_the_regexs(text):
    text, lower, low, bounded = matcher._prepare(text)
    if low is not None:
        assert bounded == " " + matcher._PUNCT.sub(" ", low.replace("@", "_")) + " "


@pytest.fixture(scope="module")
def shipped() -> Triage:
    return load_triage()


POSTS = [
    {"text": "you charged me twice, refund please", "author": {"followers": 48000, "verified": True}},
    {"text": "thanks, lovely service", "metrics": {"like_count": 30}, "lang": "en"},
    {"text": ""},
    {"text": "RT @acme: big sale"},
    {"text": "beep", "author": {"is_bot": True}},
    {"text": "we're on it", "author": {"own": True}},
    {"text": "Mi pedido no ha llegado después de 3 semanas", "lang": "es"},
    {"text": "Ich will nicht mehr leben"},
    {"text": "el teléfono echa humo", "prior_contacts": 2},
    {"text": "the checkout is down again!!", "open_incidents": ["checkout"]},
    {"text": "I’m  done   with   you!!! 😡", "author": {"public_metrics": {"followers_count": 900000}}},
    {"text": "my card was charged twice " * 300},
    {"text": "the site is not down anymore", "source": "x"},
    {"text": "こんにちは、注文が届きません"},
]


def test_a_batch_gets_the_verdicts_each_post_gets_alone(shipped):
    assert shipped.classify_texts(POSTS) == [shipped.classify_text(**p) for p in POSTS]
    assert shipped.classify_texts([]) == []


def test_a_batch_without_the_shipped_model_too():
    rules_only = load_triage(learned=False)
    assert rules_only.classify_texts(POSTS) == [rules_only.classify_text(**p) for p in POSTS]


@pytest.mark.parametrize("pattern,start", [
    ("!{2,}", "!!"), (r"\?{2,}", "??"), (r"\?", "?"), (r"\$\s?\d+", "$"), ("!!!?", "!!"), (r"#\w*fail", "#"),
    ("(?:£|€)5", None), ("sale!", None), ("#ad", "#"),  # a letter is never required: "s" also matches "ſ"
])
def test_the_punctuation_a_pattern_needs_before_it_is_searched(pattern, start):
    assert matcher.punctuation_start(pattern) == start


WORDS = ["charged", "twice", "double", "my", "card", "was", "not", "down", "@acme", "@ac_me", "#fail", "never", "again",
         "flight", "cancelled", "refund", "please", "!!", "?", ",", "'", "-", "5", "hours", "late", "can't", "log", "in"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", "  ", "   ", ", ", " ,  ", "\n "])), max_size=12))
def test_runs_of_spaces_no_phrase_can_span_are_left_alone(shipped, pieces):
    text = "".join(w + sep for w, sep in pieces)
    m = shipped.rules.matcher
    fast = m.matches(text)
    with pytest.MonkeyPatch.context() as p:
        p.setattr(matcher, "_spannable_run", lambda lower, bounded: True)  # always squeeze
        assert m.matches(text) == fast
