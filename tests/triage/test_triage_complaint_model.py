"""The shipped complaint model: on by default, blended with the rules, readable, and refused cleanly."""
from __future__ import annotations

import json

import pytest

from monitor.triage import Triage, load_triage
from monitor.triage.model import (SHIPPED_COMPLAINT_MODEL, Blend, ComplaintModel, Head, ModelError,
                                  load_complaint_model)


@pytest.fixture(scope="module")
def blended() -> Triage:
    return load_triage()


@pytest.fixture(scope="module")
def rules_only() -> Triage:
    return load_triage(learned=False)


def test_the_shipped_model_is_on_by_default_and_says_why(blended):
    shipped = load_complaint_model()
    assert shipped.meta["enabled"] is True
    figures = shipped.meta["cross_industry"]
    for sample in figures.values():  # it is on because it beat the rules on industries it did not see
        assert sample["blend"] > sample["rules alone"]
    assert blended.learned is not None


def test_the_model_finds_a_complaint_the_rules_miss_and_says_so(blended, rules_only):
    text = "been on the phone 40 mins, transferred 3 times, back to square one"
    assert rules_only.classify_text(text).complaint is False
    v = blended.classify_text(text)
    assert v.complaint is True
    reason = next(r for r in v.reasons if r.startswith("wording like known complaints ("))
    assert "'" in reason  # and its strongest words


@pytest.mark.parametrize("rules_say,p,negation,decided", [
    (True, 0.9, False, True), (True, 0.2, False, True), (True, 0.1, False, False),
    (False, 0.7, False, True), (False, 0.5, False, False), (False, 0.9, True, False),
])
def test_blend_table(rules_say, p, negation, decided):
    assert Blend(veto=0.15, add=0.6).decide(rules_say, p, negation) is decided


def test_a_negation_keeps_the_model_from_adding_a_complaint(blended):
    v = blended.classify_text("the site is not down anymore")
    assert v.complaint is False


def test_rules_only_switch(rules_only):
    assert rules_only.learned is None
    assert not any("known complaints" in r for r in rules_only.classify_text("you lost my bag and nobody calls back").reasons)


def test_saved_model_round_trips(tmp_path):
    m = ComplaintModel(Head(["no", "yes"], (-1.0,), {"refund": (2.0,), "thanks": (-3.0,)}), Blend(0.1, 0.7), {"enabled": True})
    path = tmp_path / "m.json"
    m.save(path)
    back = load_complaint_model(path)
    assert back.blend == Blend(0.1, 0.7)
    p, words = back.complaint("refund please")
    assert p == pytest.approx(1 / (1 + 2.718281828 ** -1.0), rel=1e-6) and words == ["refund"]
    assert load_triage(learned=path).learned is not None


@pytest.mark.parametrize("content,fragment", [
    ("not json", "invalid JSON"),
    (json.dumps({"format": "something else"}), "not a complaint model file"),
    (json.dumps({"format": "outreach-monitor/triage-model", "kind": "complaint", "version": 99}), "version 99"),
    (json.dumps({"format": "outreach-monitor/triage-model", "kind": "complaint", "version": 1, "heads": {}}), "damaged"),
])
def test_bad_model_files_are_refused_clearly(tmp_path, content, fragment):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ModelError, match=fragment):
        load_complaint_model(path)


def test_the_shipped_file_is_plain_json_and_loads_fast_enough_to_ship():
    doc = json.loads(SHIPPED_COMPLAINT_MODEL.read_text())
    assert doc["kind"] == "complaint" and len(doc["heads"]["complaint"]["weights"]) > 1000


def test_severity_head_round_trips_and_is_clipped_to_the_scale(tmp_path):
    sev = Head(["severity"], (0.5,), {"scam": (3.0,), "thanks": (-2.0,)})
    m = ComplaintModel(Head(["no", "yes"], (-1.0,), {"refund": (2.0,)}), Blend(0.1, 0.7), {"enabled": True}, sev)
    path = tmp_path / "m.json"
    m.save(path)
    back = load_complaint_model(path)
    assert back.severity is not None
    assert back.read("refund please")[2] == pytest.approx(0.5)
    assert back.read("what a scam")[2] == 3.0  # 3.5, clipped to blame
    assert back.read("thanks")[2] == 0.0  # -1.5, clipped to no explicit reproach
    assert ComplaintModel(m.head).read("what a scam")[2] is None  # no severity head: nothing read


def test_the_learned_severity_ranks_complaints_and_says_so(rules_only):
    """A complaint's score gains `learned_severity_points` per level the wording reads as."""
    sev = Head(["severity"], (0.0,), {"scam": (3.0,)})
    model = ComplaintModel(Head(["no", "yes"], (0.0,), {"charged": (3.0,), "scam": (3.0,)}), Blend(0.1, 0.7), {}, sev)
    t = Triage(rules_only.rules, learned=model)
    mild = t.classify_text("you charged me twice for one order")
    harsh = t.classify_text("you charged me twice for one order, scam")
    assert mild.complaint and harsh.complaint
    assert not any(r.startswith("wording like blame") for r in mild.reasons)
    assert any(r.startswith("wording like blame (3.0 of 3)") for r in harsh.reasons)
    base = rules_only.classify_text("you charged me twice for one order, scam").score
    assert harsh.score >= min(100, base + 3 * rules_only.rules.signals.learned_severity_points) - 1


def test_the_shipped_model_reads_severity(blended):
    assert blended.learned.severity is not None
    calm = blended.classify_text("my order hasn't arrived yet, can you check?").score
    angry = blended.classify_text("you people are thieves, you charged me twice and ignore me, worst company ever").score
    assert angry > calm


_READ_RANDOM_POSTS = """
import random
from monitor.triage.model import load_complaint_model
m = load_complaint_model()
words = sorted(m.head.rows)[:5000]
rng = random.Random(7)
for _ in range(300):
    p, _, sev = m.read(" ".join(rng.choice(words) for _ in range(25)))
    print(repr(p), repr(sev))
"""


def test_the_same_post_reads_the_same_in_every_process():
    """A post's features are a set, whose order follows the process's string hashing; a plain float
    sum over them differed in the last bits from one run to the next (about half of these posts), and
    now and then a verdict with it ("1.5 of 3" or "1.6 of 3"). Two processes with different hash seeds
    must read every post identically, to the last bit."""
    import os
    import subprocess
    import sys

    outs = []
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", _READ_RANDOM_POSTS], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        outs.append(done.stdout)
    assert outs[0].count("\n") == 300 and outs[0] == outs[1]
