"""Learn from the team's corrections, and switch the model on only if it beats the rules.

1. The corrections (newest per mention) are split at random (fixed seed) into a training part and
   a held-back part (`holdout`, 30 % by default). Nothing about the held-back part is used to fit
   or tune anything.
2. For category and for urgency (each with enough corrections and at least two values), a
   logistic regression over words and word pairs is fitted on the training part. How sure the
   model must be to override the rules (`threshold`), and whether labelled posts from the shipped
   data sets (their dev parts only, see datasets.training_examples) improve the category head,
   are chosen on an inner split of the training part.
3. On the held-back part, triage with the rules alone and triage with the model blended in are
   scored (accuracy of category and urgency against the team's labels, averaged). The model is
   accepted only if the blend scores strictly higher. The file written is exactly the model that
   was checked.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from monitor.triage.engine import Triage
from monitor.triage.feedback import Correction
from monitor.triage.model import Head, LinearModel, features

HEADS = ("category", "urgency")
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
MIN_PER_HEAD = 10


@dataclass
class TrainResult:
    accepted: bool
    model: LinearModel | None
    lines: list[str] = field(default_factory=list)
    rules_score: float = 0.0
    blend_score: float = 0.0

    def report(self) -> str:
        return "\n".join(self.lines)


def _label(c: Correction, head: str) -> str | None:
    return c.category if head == "category" else c.urgency


def fit_head(texts: Sequence[str], labels: Sequence[str], *, c: float = 1.0) -> Head:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(analyzer=features, binary=True)
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    clf.fit(x, list(labels))
    w = clf.coef_.T  # (n_features, n_classes), or (n_features, 1) for two classes
    keep = np.abs(w).max(axis=1) >= 1e-3  # drop words that say nothing: a smaller file, same answers
    rows = {str(f): tuple(float(x) for x in w[i]) for f, i in vec.vocabulary_.items() if keep[i]}
    return Head([str(x) for x in clf.classes_], tuple(float(x) for x in clf.intercept_), rows)


def _accuracy(triage: Triage, rows: Sequence[Correction]) -> dict[str, float]:
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for r in rows:
        v = triage.classify_text(r.text)
        for head in HEADS:
            gold = _label(r, head)
            if gold is None:
                continue
            totals[head] += 1
            hits[head] += getattr(v, head) == gold
    return {h: hits[h] / totals[h] for h in HEADS if totals[h]}


def _mean(scores: dict[str, float]) -> float:
    return sum(scores.values()) / len(scores) if scores else 0.0


def _fit(rows: Sequence[Correction], extra: Sequence[tuple[str, str]] = ()) -> dict[str, Head]:
    heads: dict[str, Head] = {}
    for head in HEADS:
        labelled = [(r.text, _label(r, head)) for r in rows if _label(r, head) is not None]
        if len(labelled) >= MIN_PER_HEAD and len({lab for _, lab in labelled}) >= 2:
            if head == "category":
                labelled += list(extra)
            heads[head] = fit_head([t for t, _ in labelled], [lab for _, lab in labelled])  # type: ignore[misc]
    return heads


def train(triage: Triage, rows: Sequence[Correction], *, holdout: float = 0.3, min_feedback: int = 30,
          seed: int = 0, extra: Sequence[tuple[str, str]] = ()) -> TrainResult:
    """`extra`: (text, category) examples from elsewhere (the shipped data sets), used for the
    category head only if that scores better on the inner split; never in the held-back check."""
    lines = [f"{len(rows)} corrections from the team"]
    if len(rows) < min_feedback:
        lines.append(f"too few to learn from: at least {min_feedback} are needed (--min-feedback)")
        return TrainResult(False, None, lines)
    rng = random.Random(seed)
    shuffled = list(rows)
    rng.shuffle(shuffled)
    n_held = max(1, int(round(len(shuffled) * holdout)))
    held, fit_rows = shuffled[:n_held], shuffled[n_held:]

    if not _fit(fit_rows):
        lines.append(f"nothing to learn: a head needs at least {MIN_PER_HEAD} corrections with two different labels")
        return TrainResult(False, None, lines)

    # how sure the model must be to override the rules, and whether the shipped examples help:
    # both chosen on an inner split of the training part
    inner_rng = random.Random(seed + 1)
    inner = list(fit_rows)
    inner_rng.shuffle(inner)
    cut = max(1, len(inner) // 4)
    best_t, best_extra, best_s = THRESHOLDS[0], False, -1.0
    for use_extra in (False, True) if extra else (False,):
        inner_heads = _fit(inner[cut:], extra if use_extra else ()) or _fit(fit_rows, extra if use_extra else ())
        for t in THRESHOLDS:
            model = LinearModel(inner_heads, threshold=t)
            s = _mean(_accuracy(Triage(triage.rules, model=model, sentiment=triage._sentiment), inner[:cut]))
            if s > best_s:
                best_t, best_extra, best_s = t, use_extra, s
    heads = _fit(fit_rows, extra if best_extra else ())
    if extra:
        lines.append(f"{len(extra)} examples from the shipped data: " + ("used, they helped" if best_extra else "not used, they did not help"))

    model = LinearModel(heads, threshold=best_t)
    blended = Triage(triage.rules, model=model, sentiment=triage._sentiment)
    rules_acc = _accuracy(triage, held)
    blend_acc = _accuracy(blended, held)
    rules_score, blend_score = _mean(rules_acc), _mean(blend_acc)
    model.meta = {
        "trained_on": len(fit_rows), "held_back": len(held), "seed": seed,
        "shipped_examples": len(extra) if best_extra else 0,
        "held_back_accuracy": {"rules": rules_acc, "blend": blend_acc},
    }
    lines.append(f"trained on {len(fit_rows)}, checked on {len(held)} held back; override threshold {best_t:.1f}")
    for head in HEADS:
        if head in rules_acc:
            lines.append(f"  {head:<9} accuracy on held-back: rules {rules_acc[head]:.2f} -> with model {blend_acc[head]:.2f}")
    lines.append(f"  mean: rules {rules_score:.3f}, with model {blend_score:.3f}")
    lines.append("what it learned (strongest words per label):")
    for name, head in heads.items():
        for label, words in head.top_features(6).items():
            lines.append(f"  {name} {label}: {', '.join(words) or '-'}")
    accepted = blend_score > rules_score
    lines.append("accepted: the model beats the rules alone" if accepted else
                 "refused: the model does not beat the rules alone on the held-back corrections")
    return TrainResult(accepted, model if accepted else None, lines, rules_score, blend_score)
