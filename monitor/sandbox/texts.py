"""Sample post texts for sandbox scenarios: real customer tweets when the shared data is present.

The shared folder (`$OUTREACH_SHARED_DATA`, else `<repo>/../shared/data`) holds research releases of
real tweets to airlines and other brands; they are read in place, never copied into the repository.
Without it a small built-in set keeps the sandbox working. Brand references are normalised to a
placeholder (`@__brand__` for handles, `__brand__` for names) and rendered for each scenario's brand.
"""
from __future__ import annotations

import bz2
import csv
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BRAND = "__brand__"
ASAPP_ROWS = 6000  # enough variety; reading all 43k rows costs most of a second

_AIRLINE_HANDLES = re.compile(
    r"@(united|usairways|americanair|southwestair|jetblue|virginamerica|delta|deltaassist|alaskaair|spiritairlines)\b",
    re.IGNORECASE,
)
# Names only where they cannot be ordinary words ("United States", "American food" stay as they are).
_AIRLINE_NAMES = re.compile(r"\b(JetBlue|Southwest Airlines|Southwest|Virgin America|US Airways|American Airlines|"
                            r"United Airlines|Delta Air Lines|Delta)\b")


@dataclass(frozen=True, slots=True)
class SampleText:
    text: str  # with @__brand__ / __brand__ placeholders
    kind: str  # complaint, delay, outage, billing, security, safety, praise, question, neutral, spam, hostile, support
    source: str  # builtin, airline-sentiment, twcs-asapp, twcs-kaggle
    label: str = ""  # the dataset's own label, when it has one
    lang: str = "en"


BUILTIN: tuple[SampleText, ...] = tuple(
    SampleText(text, kind, "builtin", lang=lang)
    for kind, text, lang in [
        ("outage", "@__brand__ your app has been down for an hour, I can't log in at all. Is there an outage?", "en"),
        ("outage", "@__brand__ website throws a 503 every time I try to check in. Fix it please!!", "en"),
        ("outage", "Is __brand__ down for everyone or just me? Nothing loads since 9am", "en"),
        ("outage", "@__brand__ payments failing at checkout, third time today. Error 500.", "en"),
        ("billing", "@__brand__ you charged my card twice for the same order. I want a refund now.", "en"),
        ("billing", "@__brand__ still waiting on the refund you promised 3 weeks ago. Unacceptable.", "en"),
        ("billing", "Why did __brand__ raise my subscription price without telling me? Cancelling.", "en"),
        ("delay", "@__brand__ my order was supposed to arrive Monday, it's Friday and tracking hasn't moved", "en"),
        ("delay", "@__brand__ flight delayed 4 hours and nobody at the gate will tell us anything", "en"),
        ("delay", "@__brand__ package marked delivered but it's not here. Where is it?", "en"),
        ("security", "@__brand__ someone logged into my account from another country and changed my email. Help!",
         "en"),
        ("security", "@__brand__ got a text asking for my password that claims to be from you. Is this a scam?",
         "en"),
        ("safety", "@__brand__ the charger I bought from you started smoking last night. This is dangerous.", "en"),
        ("complaint", "@__brand__ I'm talking to my lawyer about this, you've ignored me for a month", "en"),
        ("complaint", "@__brand__ worst customer service ever. 2 hours on hold and then they hung up on me.", "en"),
        ("complaint", "Switching away from __brand__ after this week. Done with the excuses.", "en"),
        ("praise", "@__brand__ shout out to Maria at support who fixed my problem in five minutes. Thank you!", "en"),
        ("praise", "Loving the new __brand__ update, so much faster 🙌", "en"),
        ("praise", "@__brand__ you guys are the best, order came a day early!", "en"),
        ("praise", "@__brand__ gracias por la ayuda, todo resuelto", "es"),
        ("question", "@__brand__ do you ship to Canada?", "en"),
        ("question", "@__brand__ how do I change the email on my account?", "en"),
        ("question", "@__brand__ what time does the customer service line open on Sundays?", "en"),
        ("question", "Does anyone know if __brand__ accepts returns without a receipt?", "en"),
        ("neutral", "Picked up a few things from __brand__ on the way home.", "en"),
        ("neutral", "@__brand__ saw your ad on the subway this morning", "en"),
        ("spam", "@__brand__ GET 10000 FOLLOWERS FAST!!! click here bit.ly/xx-free-followers", "en"),
        ("spam", "@__brand__ crypto giveaway 🚀🚀 send 0.1 ETH get 1 ETH back, limited time!!!", "en"),
        ("spam", "@__brand__ check my profile for hot deals 🔥🔥🔥 #ad #promo", "en"),
        ("hostile", "@__brand__ <!channel> wake up you clowns <@U123> my refund is still missing", "en"),
    ]
)


def shared_data_dir() -> Path | None:
    """The shared data folder: $OUTREACH_SHARED_DATA, else `<repo_root>/../shared/data`."""
    env = os.environ.get("OUTREACH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), None)


def normalise(text: str) -> str:
    """Replace dataset-specific brand references with our placeholders."""
    text = text.replace("__company__", f"@{BRAND}")
    text = _AIRLINE_HANDLES.sub(f"@{BRAND}", text)
    text = _AIRLINE_NAMES.sub(BRAND, text)
    text = text.replace("__cust__", "@traveller").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    text = re.sub(r"@\s+@", "@", text)
    return re.sub(r"\s+", " ", text).strip()


def render(sample: SampleText | str, brand_handle: str, *, as_mention: bool = True) -> str:
    """The text for a brand: `@handle` where the customer tagged the brand, or the bare name for a
    keyword post (`as_mention=False`). A mention always tags the brand; a keyword post always names it."""
    text = sample.text if isinstance(sample, SampleText) else sample
    handle = brand_handle.lstrip("@")
    if as_mention and f"@{BRAND}" not in text:
        text = f"@{BRAND} {text}"
    elif not as_mention and BRAND not in text:
        text = f"{BRAND}: {text}"
    if not as_mention:
        text = text.replace(f"@{BRAND}", BRAND)
    return text.replace(f"@{BRAND}", f"@{handle}").replace(BRAND, handle)


def _airline_sentiment(path: Path) -> list[SampleText]:
    kinds = {"Late Flight": "delay", "Cancelled Flight": "delay", "Lost Luggage": "delay", "Damaged Luggage":
             "complaint", "Customer Service Issue": "complaint", "Flight Booking Problems": "billing"}
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if float(row.get("airline_sentiment_confidence") or 0) < 0.67:
                continue
            sentiment, reason = row["airline_sentiment"], row.get("negativereason") or ""
            if sentiment == "negative":
                kind = kinds.get(reason, "complaint")
            elif sentiment == "positive":
                kind = "praise"
            else:
                kind = "question" if "?" in row["text"] else "neutral"
            # The release replaced "cancel"/"late" everywhere ("Cancelled Flightled"); undo that.
            text = row["text"].replace("Cancelled Flight", "cancel").replace("Late Flight", "late")
            out.append(SampleText(normalise(text), kind, "airline-sentiment", reason or sentiment))
    return out


def _asapp(path: Path) -> list[SampleText]:
    out = []
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= ASAPP_ROWS:
                break
            text = row["first_utterance"].replace("<cust__", "").replace("__cust>", "")
            out.append(SampleText(normalise(text), "support", "twcs-asapp", row.get("tag", "")))
    return out


def _kaggle(path: Path) -> list[SampleText]:
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("inbound") != "True":
                continue
            # The first handle of an inbound tweet is the company it was written to.
            text = re.sub(r"^@\w+", f"@{BRAND}", row["text"].strip())
            out.append(SampleText(normalise(text), "support", "twcs-kaggle"))
    return out


@lru_cache(maxsize=4)
def load_texts(data_dir: Path | None = None, *, use_shared: bool = True) -> tuple[SampleText, ...]:
    """Built-in texts plus, when the shared data is there, the real ones (in file order)."""
    texts = list(BUILTIN)
    folder = data_dir or (shared_data_dir() if use_shared else None)
    if folder is None:
        return tuple(texts)
    loaders = (("twitter-us-airline-sentiment.csv", _airline_sentiment), ("twcs-airlines-asapp-raw.csv.bz2", _asapp),
               ("twcs-kaggle-sample.csv", _kaggle))
    for name, loader in loaders:
        path = folder / name
        if path.is_file():
            texts.extend(t for t in loader(path) if len(t.text) >= 12)
    return tuple(texts)


def by_kind(texts: tuple[SampleText, ...], *kinds: str) -> list[SampleText]:
    return [t for t in texts if t.kind in kinds]
