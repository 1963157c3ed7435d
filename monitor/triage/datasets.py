"""Labelled posts for evaluation, with the mapping from each data set's labels to ours.

The mappings are written here, where they are made, and in EVALUATION.md. Labels in these sets are
not urgency; they are sentiment, airline intents and per-brand topics, so each set is scored on
the tasks it can honestly answer, with our categories collapsed onto its label set.

Every example falls in a fixed `dev` (30 %) or `test` (70 %) part by a hash of its text, so a
person tuning the rules can look at `dev` and the figures quoted come from `test`, which nobody
tuned against.
"""
from __future__ import annotations

import bz2
import csv
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LABELS_DIR = Path(__file__).resolve().with_name("labels")
_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """$OUTREACH_SHARED_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("OUTREACH_SHARED_DATA") or _REPO_ROOT.parent / "shared" / "data")

DEV_SHARE = 0.3

# our category -> the label set of a data set
COMPLAINT_FAMILY = {"complaint", "outage", "churn", "legal", "security", "safety", "billing"}


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    gold: dict[str, object]  # task -> label: "complaint" (bool), "category" (str), "urgency", "actionable"
    collapse: dict[str, Callable[[str], str]] = field(default_factory=dict)  # task -> ours -> theirs


def part_of(text: str) -> str:
    h = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")
    return "dev" if h % 1000 < DEV_SHARE * 1000 else "test"


def split(examples: list[Example], which: str) -> list[Example]:
    if which == "all":
        return examples
    return [e for e in examples if part_of(e.text) == which]


def load(path: Path, fmt: str) -> list[Example]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    return _LOADERS[fmt](path)


# -- twitter-us-airline-sentiment.csv ---------------------------------------------------------

# Negative reasons -> our coarse categories. Late/cancelled flights and lost bags are a service that
# did not arrive when promised (our `delivery`); every other named reason is some other complaint.
AIRLINE_REASON = {
    "Late Flight": "delivery",
    "Cancelled Flight": "delivery",
    "Lost Luggage": "delivery",
    "Customer Service Issue": "complaint",
    "Bad Flight": "complaint",
    "Flight Booking Problems": "complaint",
    "Flight Attendant Complaints": "complaint",
    "longlines": "complaint",
    "Damaged Luggage": "complaint",
    "Can't Tell": "complaint",
}


def _airline_collapse(ours: str) -> str:
    if ours in ("delivery", "praise"):
        return ours
    return "complaint" if ours in COMPLAINT_FAMILY else "none"


def airline(path: Path) -> list[Example]:
    """Crowd sentiment with confidence >= 0.67 (rows the crowd agreed on), duplicates dropped.

    complaint = sentiment is negative. category: negative -> AIRLINE_REASON[reason];
    positive -> praise; neutral -> none (questions, news, anything not a complaint or thanks).
    """
    out: list[Example] = []
    seen: set[str] = set()
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["tweet_id"] in seen or float(row["airline_sentiment_confidence"] or 0) < 0.67:
                continue
            seen.add(row["tweet_id"])
            s = row["airline_sentiment"]
            cat = {"positive": "praise", "neutral": "none"}.get(s) or AIRLINE_REASON.get(row["negativereason"], "complaint")
            out.append(Example(row["tweet_id"], row["text"], {"complaint": s == "negative", "category": cat},
                               {"category": _airline_collapse}))
    return out


# -- twcs-airlines-asapp-labelled.csv ---------------------------------------------------------

_CUST = re.compile(r"^\s*<cust__\s*|\s*__cust>\s*$")


def strip_asapp(utterance: str) -> str:
    return _CUST.sub("", utterance).replace("__company__", "@brand").strip()


def asapp(path: Path) -> list[Example]:
    """Intent of the first tweet to an airline. DELAY -> delivery; BAGGAGE is left out (lost bags,
    bag fees and bag rules are mixed in it); every other intent (booking, check-in, staff, in-flight,
    rewards, other…) -> other. One task: does triage find the delays?
    """
    out: list[Example] = []
    open_ = bz2.open if str(path).endswith(".bz2") else open
    with open_(path, "rt", newline="", encoding="utf-8") as f:  # type: ignore[operator]
        for row in csv.DictReader(f):
            tag = row.get("tag", "")
            if not tag or tag == "BAGGAGE":
                continue
            out.append(Example(row["first_tweet_id"], strip_asapp(row["first_utterance"]),
                               {"category": "delivery" if tag == "DELAY" else "other"},
                               {"category": lambda c: "delivery" if c == "delivery" else "other"}))
    return out


# -- twcs-kechtel-inbound-topics-labelled.csv -------------------------------------------------

# Topics (Amazon, Apple, Spotify) -> our categories; the first that applies wins, in this order.
KECHTEL_TOPIC = [("Delivery", "delivery"), ("Refund", "billing"), ("Billing/Payment", "billing"),
                 ("Service Praise", "praise")]


def kechtel(path: Path) -> list[Example]:
    """Inbound tweets to three brands of three industries (retail, devices, streaming) with topics.

    category: Delivery -> delivery; Refund, Billing/Payment -> billing; Service Praise -> praise;
    every other topic, and none, -> other (product topics such as iPhone, Update, Playlist say
    what a post is about, not whether it is a delivery, billing or thanks).
    """
    out: list[Example] = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            topics = set(filter(None, row["topics"].split("|")))
            cat = next((ours for theirs, ours in KECHTEL_TOPIC if theirs in topics), "other")
            out.append(Example(row["tweet_id"], row["text"], {"category": cat},
                               {"category": lambda c: c if c in ("delivery", "billing", "praise") else "other"}))
    return out


# -- posts we labelled ourselves (complaint and severity), outside airlines ------------------------

# How they were labelled (labels/README.md): a person read every post of a fixed random sample
# (seed 13) and applied the complaint definition written at the top of config/rules.yaml, and for
# complaints the four-level reproach scale (0 no explicit reproach, 1 disapproval, 2 accusation,
# 3 blame). Only ids and labels are stored in the repository; the text is read from the shared data.

def _labels(name: str) -> dict[str, tuple[bool, int | None]]:
    out: dict[str, tuple[bool, int | None]] = {}
    with open(LABELS_DIR / name, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out[row["tweet_id"]] = (row["complaint"] == "1", int(row["severity"]) if row["severity"] else None)
    return out


def _labelled(rows: list[tuple[str, str, str]], labels: dict[str, tuple[bool, int | None]]) -> list[Example]:
    out: list[Example] = []
    for tweet_id, brand, text in rows:
        if tweet_id in labels:
            complaint, severity = labels.pop(tweet_id)
            gold: dict[str, object] = {"complaint": complaint, "brand": brand}
            if severity is not None:
                gold["severity"] = severity
            out.append(Example(tweet_id, text, gold))
    return out


def _ibm_customer_posts(path: Path, *, first: bool = True) -> list[tuple[str, str, str]]:
    """(tweet id, brand, text) of the customers' first posts, or (`first=False`) of their later ones."""
    with bz2.open(path, "rt", newline="", encoding="utf-8") as f:
        return [(r["tweet_id"], r["company"], r["text"]) for r in csv.DictReader(f)
                if r["role"] == "customer" and (r["turn"] == "0") is first]


def _kechtel_posts(path: Path) -> list[tuple[str, str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["tweet_id"], r["company"], r["text"]) for r in csv.DictReader(f)]


def ibm_labelled(path: Path) -> list[Example]:
    """Our labelled sample of first customer posts in `ibm-care-conversations-25-brands.csv.bz2`
    (games, software, electronics, streaming, banking, telecoms, retail; 2020)."""
    return _labelled(_ibm_customer_posts(path), _labels("ibm-care-sample.csv"))


def ibm_fresh(path: Path) -> list[Example]:
    """The fresh test sample of the same file (shuffle positions 320..619, labels/README.md): labelled
    before anything was changed for it and never trained or tuned on; scored once at the end."""
    return _labelled(_ibm_customer_posts(path), _labels("ibm-care-fresh.csv"))


def ibm_more(path: Path) -> list[Example]:
    """More training posts from the same file (shuffle positions 620 to the end, labels/README.md)."""
    return _labelled(_ibm_customer_posts(path), _labels("ibm-care-more.csv"))


def ibm_followups(path: Path) -> list[Example]:
    """Second fresh test sample, part 1: every later customer post of the same file (turn > 0),
    labelled from its own text (labels/README.md); never trained or tuned on."""
    return _labelled(_ibm_customer_posts(path, first=False), _labels("ibm-care-followups.csv"))


def kaggle_inbound(path: Path) -> list[Example]:
    """Second fresh test sample, part 2: every customer post of `twcs-kaggle-sample.csv` (posts to
    banks, trains, phones, shops…), labelled the same way; never trained or tuned on."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [(r["tweet_id"], r["author_id"], r["text"]) for r in csv.DictReader(f) if r["inbound"] == "True"]
    return _labelled(rows, _labels("kaggle-inbound.csv"))


def kechtel_labelled(path: Path) -> list[Example]:
    """Our labelled sample of `twcs-kechtel-inbound-topics-labelled.csv` (Amazon, Apple, Spotify)."""
    return _labelled(_kechtel_posts(path), _labels("kechtel-sample.csv"))


def kechtel_more(path: Path) -> list[Example]:
    """More training posts from the same file (shuffle positions 230..599, labels/README.md)."""
    return _labelled(_kechtel_posts(path), _labels("kechtel-more.csv"))


def airline_complaints(path: Path) -> list[tuple[str, bool]]:
    """(text, complaint) from the airline sentiment set, complaint = negative (crowd-agreed rows)."""
    return [(e.text, bool(e.gold["complaint"])) for e in airline(path)]


# -- our own JSONL ------------------------------------------------------------------------------

def jsonl(path: Path) -> list[Example]:
    """One object a line: `text` and any of `category`, `urgency` (our names), `complaint`,
    `actionable` (booleans); `id` optional. Scored on our labels directly, nothing collapsed."""
    out: list[Example] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"line {n}: not valid JSON ({e.msg})") from None
            if not isinstance(d, dict) or not isinstance(d.get("text"), str):
                raise ValueError(f"line {n}: expected an object with a string `text`")
            gold = {k: d[k] for k in ("category", "urgency", "complaint", "actionable") if d.get(k) is not None}
            out.append(Example(str(d.get("id", n)), d["text"], gold))
    return out


# -- examples to learn from ---------------------------------------------------------------------

SHIPPED = (("twitter-us-airline-sentiment.csv", "airline"), ("twcs-airlines-asapp-labelled.csv", "asapp"),
           ("twcs-kechtel-inbound-topics-labelled.csv", "kechtel"))
_TRAINABLE = {"delivery", "billing", "praise", "complaint"}  # labels that are also our categories


def training_examples(data_dir: Path) -> list[tuple[str, str]]:
    """(text, our category) from the dev parts of the shipped sets, where their label is one of our
    categories; the test parts stay unseen, so `eval` figures remain held-out."""
    out: list[tuple[str, str]] = []
    for name, fmt in SHIPPED:
        path = data_dir / name
        if not path.exists():
            continue
        for e in split(load(path, fmt), "dev"):
            cat = e.gold.get("category")
            if cat in _TRAINABLE:
                out.append((e.text, str(cat)))
    return out


# --format name -> loader (`eval --format`, shipped_model.SAMPLES and FRESH)
_LOADERS: dict[str, Callable[[Path], list[Example]]] = {
    "airline": airline, "asapp": asapp, "kechtel": kechtel, "jsonl": jsonl,
    "ibm-labelled": ibm_labelled, "kechtel-labelled": kechtel_labelled, "ibm-fresh": ibm_fresh,
    "ibm-more": ibm_more, "kechtel-more": kechtel_more, "ibm-followups": ibm_followups,
    "kaggle-inbound": kaggle_inbound}
FORMATS = tuple(_LOADERS)
