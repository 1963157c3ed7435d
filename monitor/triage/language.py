"""Which language a post is in: the platform's `lang` when it gives one, else detected.

Detection is py3langid (its model ships inside the wheel; nothing is downloaded). It costs about
20 µs a post, so most English posts skip it: a post whose words are mostly common English words is
English. Short or mixed posts with too few English words are detected; an unsure guess on a
very short post stays English (the shipped rules) rather than flag thanks as a foreign language.
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice

from monitor.triage.words import AsciiWords

# Platforms' codes for "no language" (X: und, qme = media only, qht = hashtags only, zxx = no text…)
_UNDETERMINED = {"", "und", "zxx", "qam", "qct", "qht", "qme", "qst", "art", "mul", "xx"}

# Common English words that are not also common words of es/de/fr/pt (no "a", "no", "die", "was", "in"…)
_ENGLISH = frozenset("""
the and to is it you my i this that for with not of be are have has had on at was your our they
but just still can't cannot can don't doesn't didn't won't isn't it's i'm i've what why how when
where who will would could should been get got help please thanks thank account order app
from there their them me we us any anyone again since because about after before really
""".split()) - {"was", "will"}

# links, @handles, #hashtags, __placeholders__; each alternative led by its first character, which
# the regex engine finds faster than it tries three alternatives at every position
_NOISE = re.compile(r"[h@#_](?:(?<=h)ttps?://\S+|(?<=[@#])\w+|(?<=_)_\w+__)")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_FOREIGN_LETTER = re.compile(r"[^\W\x00-\x7f]")  # a word character that is not ASCII
_ASCII_WORD = AsciiWords(re.compile(r"[a-z]+(?:'[a-z]+)?"), "abcdefghijklmnopqrstuvwxyz")  # _WORD on lower-case ASCII text


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def warm_up() -> None:
    """Load the detector now (about half a second), not on the first foreign post."""
    _identifier()


def normalise(lang: str | None) -> str:
    """'pt-BR' -> 'pt'; the platforms' "undetermined" codes -> ''."""
    code = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return "" if code in _UNDETERMINED else code


def detect(text: str, packs: frozenset[str] | set[str] = frozenset()) -> str:
    """A language code; 'en' when the post reads as English or is too short or unsure to tell.

    A language with a rule pack (`packs`) is taken on a weaker guess than one without: a pack only
    adds words, while a language without one makes the post wait for a person.
    """
    clean = _NOISE.sub(" ", text).strip()
    if clean.isascii():  # most posts: the same words, by a simpler pattern
        words = _ASCII_WORD.findall(clean.lower())
    else:
        low = clean.lower().replace("’", "'")
        # no letter outside ASCII (emojis, typographic quotes): the other characters only separate words
        words = _WORD.findall(low) if _FOREIGN_LETTER.search(low) else _ASCII_WORD.findall(low)
    if not words:
        return "en"
    english = len(list(islice(filter(_ENGLISH.__contains__, words), 3)))  # counting stops at 3
    if english >= 3 or english / len(words) >= 0.25:
        return "en"
    lang, prob = _identifier().classify(clean)
    if lang == "en":
        return "en"
    if lang in packs and prob >= 0.3:
        return str(lang)
    if prob >= 0.9 and (len(clean) >= 12 or any(ord(c) >= 0x2E80 for c in clean)):  # CJK: few characters say a lot
        return str(lang)
    return "en"


def resolve(lang: str | None, text: str, packs: frozenset[str] | set[str] = frozenset()) -> tuple[str, bool]:
    """(language, whether it was detected rather than given by the platform)."""
    given = normalise(lang)
    if given:
        return given, False
    return detect(text, packs), True
