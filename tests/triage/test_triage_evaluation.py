"""Metrics as a table, the shared data sets (skipped without them), VADER port equality, `eval` CLI."""
from __future__ import annotations

import bz2
import csv
import os
import random
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from monitor.triage import cli as triage_cli
from monitor.triage import datasets, load_triage
from monitor.triage.evaluation import evaluate, score
from monitor.triage.sentiment import Sentiment

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("OUTREACH_SHARED_DATA") or ROOT.parent / "shared" / "data")
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared data not found at {DATA} (set OUTREACH_SHARED_DATA to the data folder)"
)


def test_score_by_hand():
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "c"]
    s = score(gold, pred)
    assert s.per_label["a"] == (1.0, 2 / 3, 0.8, 3)
    p, r, f, n = s.per_label["b"]
    assert (p, r, n) == (0.5, 0.5, 2) and f == pytest.approx(0.5)
    assert s.confusion[("a", "b")] == 1 and s.accuracy == pytest.approx(4 / 6)
    assert score(["x"], ["y"]).per_label["y"] == (0.0, 0.0, 0.0, 0)


def test_split_is_stable_and_about_thirty_percent():
    texts = [f"post number {i}" for i in range(2000)]
    parts = [datasets.part_of(t) for t in texts]
    assert parts == [datasets.part_of(t) for t in texts]
    assert 0.25 < parts.count("dev") / len(parts) < 0.35


def test_jsonl_format_and_eval_cli(tmp_path):
    f = tmp_path / "labelled.jsonl"
    f.write_text(
        '{"text": "the app is down and I cannot log in", "category": "outage", "complaint": true, "urgency": "high"}\n'
        '{"text": "thank you, lovely service", "category": "praise", "complaint": false}\n'
        "\n"
        '{"text": "you charged me twice", "category": "billing", "actionable": true}\n'
    )
    ex = datasets.load(f, "jsonl")
    assert [e.gold.get("category") for e in ex] == ["outage", "praise", "billing"]
    results = evaluate(load_triage(), ex)
    assert results["category"][0].accuracy == 1.0
    assert set(results) == {"complaint", "actionable", "category", "urgency"}

    app = typer.Typer()
    triage_cli.register(app)
    r = CliRunner().invoke(app, ["eval", "--data", str(f), "--format", "jsonl", "--split", "all"])
    assert r.exit_code == 0, r.output
    assert "== category (3 examples) ==" in r.stdout and "VADER-only" in r.stdout and "confusion" in r.stdout
    r = CliRunner().invoke(app, ["eval", "--data", str(f), "--format", "nope"])
    assert r.exit_code == 2 and "--format must be one of" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{oops\n')
    r = CliRunner().invoke(app, ["eval", "--data", str(bad), "--format", "jsonl"])
    assert r.exit_code == 2 and "line 2: not valid JSON" in r.stderr


@needs_data
@pytest.mark.parametrize("fmt,name,n", [
    ("airline", "twitter-us-airline-sentiment.csv", 12000),
    ("asapp", "twcs-airlines-asapp-labelled.csv", 400),
    ("kechtel", "twcs-kechtel-inbound-topics-labelled.csv", 600),
])
def test_shared_sets_load_with_their_mappings(fmt, name, n):
    ex = datasets.load(DATA / name, fmt)
    assert len(ex) >= n * 0.9
    assert all(e.text and "__cust" not in e.text for e in ex)
    cats = {e.gold["category"] for e in ex}
    assert "delivery" in cats


@needs_data
@pytest.mark.parametrize("fmt,name,labels", [
    ("ibm-labelled", "ibm-care-conversations-25-brands.csv.bz2", "ibm-care-sample.csv"),
    ("ibm-more", "ibm-care-conversations-25-brands.csv.bz2", "ibm-care-more.csv"),
    ("ibm-fresh", "ibm-care-conversations-25-brands.csv.bz2", "ibm-care-fresh.csv"),
    ("ibm-followups", "ibm-care-conversations-25-brands.csv.bz2", "ibm-care-followups.csv"),
    ("kechtel-labelled", "twcs-kechtel-inbound-topics-labelled.csv", "kechtel-sample.csv"),
    ("kechtel-more", "twcs-kechtel-inbound-topics-labelled.csv", "kechtel-more.csv"),
    ("kaggle-inbound", "twcs-kaggle-sample.csv", "kaggle-inbound.csv"),
])
def test_every_post_we_labelled_is_found_in_the_shared_data(fmt, name, labels):
    """A label whose post the loader does not find (a wrong id, a wrong filter) silently shrinks a
    test set; every labelled id must come back, once, with its text and a severity for complaints
    (ibm-care-sample.csv lists one id twice, the same label both times: labels/README.md)."""
    with open(datasets.LABELS_DIR / labels, newline="", encoding="utf-8") as f:
        rows = [(row["tweet_id"], row["complaint"], row["severity"]) for row in csv.DictReader(f)]
    ids = {i for i, _, _ in rows}
    assert len(ids) == len(set(rows))  # an id listed twice has the same label both times
    ex = datasets.load(DATA / name, fmt)
    assert sorted(e.id for e in ex) == sorted(ids)
    assert all(e.text.strip() for e in ex)
    assert all(e.gold.get("severity") in (0, 1, 2, 3) for e in ex if e.gold["complaint"])


@needs_data
def test_triage_beats_vader_alone_on_held_out_airline_complaints():
    ex = datasets.split(datasets.load(DATA / "twitter-us-airline-sentiment.csv", "airline"), "test")
    ex = random.Random(0).sample(ex, 1500)  # a sample keeps the test fast; `eval` runs them all
    results = evaluate(load_triage(), ex)
    ours, vader = results["complaint"]
    assert ours.macro_f1 > vader.macro_f1
    ours, vader = results["category"]
    assert ours.macro_f1 > vader.macro_f1 + 0.15


@needs_data
def test_fast_vader_scores_equal_the_original():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    with bz2.open(DATA / "twcs-airlines-asapp-raw.csv.bz2", "rt", newline="", encoding="utf-8") as f:
        texts = [datasets.strip_asapp(r["first_utterance"]) for r in csv.DictReader(f)]
    with open(DATA / "twitter-us-airline-sentiment.csv", newline="", encoding="utf-8") as f:
        texts += [r["text"] for r in csv.DictReader(f)]
    sample = random.Random(0).sample(texts, 4000)
    sample += [t for t in texts if any(ord(c) > 0x2600 for c in t)][:1000]  # emoji-bearing posts
    original, ours = SentimentIntensityAnalyzer(), Sentiment()
    diffs = [t for t in sample if original.polarity_scores(t)["compound"] != ours.compound(t)]
    assert diffs == []


@pytest.mark.parametrize("text", [
    "VADER is smart, handsome, and funny!", "Not such a badass after all.", "Without a doubt, excellent idea.",
    "Roger Dodger is at least compelling as a variation on the theme.", "The food here is GREAT, but service is HORRIBLE!!!",
    "I am 😡 and 💔", "kind of ok?? not bad", "never so good", "the shit", "", "   ", "no no no bad",
])
def test_fast_vader_on_vaders_own_tricky_cases(text):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    assert Sentiment().compound(text) == SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
