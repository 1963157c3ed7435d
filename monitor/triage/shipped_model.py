"""Build the shipped complaint model and the cross-industry report that decides whether it is on.

    python -m monitor.triage.shipped_model [--data DIR] [--out PATH] [--report-only]
    outreach-monitor eval --cross-industry [--data DIR]          # the report alone

What may be learned from: the labelled sets in the shared data folder (here, the airline sentiment
set: complaint = negative) and the posts we labelled ourselves (labels/README.md). Nothing else;
and never the fresh test sample (`ibm-care-fresh.csv`), which is only scored.

The model has two linear heads over the same features (model.features: words and word pairs):
- complaint: logistic regression on the airline posts plus our labelled posts outside airlines,
  weighted so that ours together weigh OURS_WEIGHT of the airline posts (else 12,000 airline
  posts drown 950 of ours, and airline "negative" is not quite our definition of a complaint);
- severity: ridge regression of the reproach level (0-3) on our labelled complaints (the airline
  set has no severity); the engine adds `signals.learned_severity_points` per level to a
  complaint's score.

The honest question is how triage does on posts it was never built on, so the report holds each
of our labelled samples out in turn (grouped held-out evaluation):
1. both heads are fitted on airlines + the other samples;
2. the blend's two thresholds (model.Blend) are chosen on out-of-sample predictions for the other
   samples (each predicted by a model fitted without it), never on the sample scored;
3. the held-out sample is scored: rules alone, the model alone, the blend, VADER alone and a
   TF-IDF + logistic regression baseline fitted on airlines only;
4. the model is switched on only if the blend beats the rules alone on every held-out sample.
The model then shipped is fitted on everything (airlines and every training sample), with the
thresholds that did best on all the held-out predictions together; its file records the report's
figures. The fresh sample is scored last, with the shipped rules and model file, on its own line.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.triage import datasets
from monitor.triage.engine import Triage
from monitor.triage.model import SHIPPED_COMPLAINT_MODEL, Blend, ComplaintModel, Head, features

C = 1.0  # regularisation of the complaint head (0.3, 1 and 3 tried on the held-out samples: 1 was best)
OURS_WEIGHT = 0.3  # our labelled posts together weigh this share of the airline posts (0-0.5 tried)
SEVERITY_ALPHA = 10.0  # ridge penalty of the severity head (5, 10, 20 tried: much the same)
VETOES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
ADDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
AIRLINE = "twitter-us-airline-sentiment.csv"
SAMPLES = (("kechtel-labelled", "twcs-kechtel-inbound-topics-labelled.csv", "Amazon/Apple/Spotify, sample 1"),
           ("ibm-labelled", "ibm-care-conversations-25-brands.csv.bz2", "25 brands, sample 1"),
           ("ibm-more", "ibm-care-conversations-25-brands.csv.bz2", "25 brands, sample 2"),
           ("kechtel-more", "twcs-kechtel-inbound-topics-labelled.csv", "Amazon/Apple/Spotify, sample 2"))
# Test samples never trained or tuned on, each (label file, [(format, shared file)], name): scored with
# the shipped rules and model file only, once before a round of changes and once after.
FRESH = (("ibm-care-fresh.csv", [("ibm-fresh", "ibm-care-conversations-25-brands.csv.bz2")],
          "25 brands, FRESH (never tuned on)"),
         ("ibm-care-followups.csv", [("ibm-followups", "ibm-care-conversations-25-brands.csv.bz2"),
                                     ("kaggle-inbound", "twcs-kaggle-sample.csv")],
          "later posts + twcs sample, FRESH 2"))


def fit_complaint_head(texts: Sequence[str], labels: Sequence[bool], weights: Sequence[float] | None = None,
                       c: float = C) -> Head:
    """Logistic regression over binary words and word pairs (model.features); words seen once are dropped."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(analyzer=features, binary=True, min_df=2)
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(x, [bool(v) for v in labels], sample_weight=None if weights is None else list(weights))
    w = clf.coef_[0]
    keep = np.abs(w) >= 0.02  # a smaller file that loads faster, same answers to two decimals
    rows = {str(f): (round(float(w[i]), 4),) for f, i in vec.vocabulary_.items() if keep[i]}
    return Head(["no", "yes"], (round(float(clf.intercept_[0]), 4),), rows)


def fit_severity_head(texts: Sequence[str], levels: Sequence[int], alpha: float = SEVERITY_ALPHA) -> Head:
    """Ridge regression of the reproach level (0-3) over the same features, on complaints only."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import Ridge

    vec = CountVectorizer(analyzer=features, binary=True, min_df=2)
    reg = Ridge(alpha=alpha).fit(vec.fit_transform(texts), [float(v) for v in levels])
    w = reg.coef_
    keep = np.abs(w) >= 0.005
    rows = {str(f): (round(float(w[i]), 4),) for f, i in vec.vocabulary_.items() if keep[i]}
    return Head(["severity"], (round(float(reg.intercept_), 4),), rows)


def fit_model(air: Sequence[tuple[str, bool]], ours: Sequence[datasets.Example], blend: Blend | None = None,
              meta: dict | None = None) -> ComplaintModel:
    """Both heads, fitted on the airline posts and our labelled examples (weighted, see OURS_WEIGHT)."""
    texts = [t for t, _ in air] + [e.text for e in ours]
    labels = [c for _, c in air] + [bool(e.gold["complaint"]) for e in ours]
    per = OURS_WEIGHT * len(air) / len(ours) if ours else 0.0
    weights = [1.0] * len(air) + [per] * len(ours)
    head = fit_complaint_head(texts, labels, weights)
    sev = [(e.text, int(e.gold["severity"])) for e in ours if e.gold["complaint"] and e.gold.get("severity") is not None]
    severity = fit_severity_head([t for t, _ in sev], [s for _, s in sev]) if len(sev) >= 20 else None
    return ComplaintModel(head, blend or Blend(), meta or {}, severity)


def macro_f1(gold: Sequence[bool], pred: Sequence[bool]) -> float:
    f1s = []
    for cls in (True, False):
        tp = sum(g == cls and p == cls for g, p in zip(gold, pred))
        fp = sum(g != cls and p == cls for g, p in zip(gold, pred))
        fn = sum(g == cls and p != cls for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / 2


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan")
    return float(spearmanr(a, b).correlation)


@dataclass
class Scored:
    """One labelled sample, triaged every way the report compares."""

    name: str
    gold: list[bool]
    severity: list[int | None]
    rules: list[bool]
    rules_score: list[int]
    p: list[float]  # the held-out model's probabilities
    vader: list[float]
    tfidf: list[float]
    held_back: list[bool]  # the model may not add a complaint here (Triage.held_back: a negation, a wish)

    def blended(self, b: Blend) -> list[bool]:
        return [b.decide(r, p, h) for r, p, h in zip(self.rules, self.p, self.held_back)]


def _score_sample(name: str, examples: Sequence[datasets.Example], rules_only: Triage, model: ComplaintModel,
                  tfidf: Callable[[list[str]], list[float]]) -> Scored:
    texts = [e.text for e in examples]
    verdicts = [rules_only.classify_text(t) for t in texts]
    return Scored(
        name, [bool(e.gold["complaint"]) for e in examples], [e.gold.get("severity") for e in examples],  # type: ignore[misc]
        [v.complaint for v in verdicts], [v.score for v in verdicts], [model.complaint(t)[0] for t in texts],
        [v.sentiment for v in verdicts], tfidf(texts), [rules_only.held_back(rules_only.rules.matches(t)) is not None for t in texts],
    )


def _tfidf_baseline(texts: list[str], labels: list[bool]) -> Callable[[list[str]], list[float]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    clf = LogisticRegression(max_iter=3000).fit(vec.fit_transform(texts), labels)
    return lambda ts: [float(p) for p in clf.predict_proba(vec.transform(ts))[:, 1]]


def _best_blend(scored: Sequence[Scored]) -> Blend:
    """The thresholds that give the best complaint macro-F1 on these samples together."""
    gold = [g for s in scored for g in s.gold]

    def f1(b: Blend) -> float:
        return macro_f1(gold, [x for s in scored for x in s.blended(b)])
    return max((Blend(v, a) for v in VETOES for a in ADDS), key=lambda b: (f1(b), -abs(b.add - 0.6)))


def _rho(gold: Sequence[bool], severity: Sequence[int | None], score: Sequence[float]) -> float:
    pairs = [(sev, sc) for g, sev, sc in zip(gold, severity, score) if g and sev is not None]
    return spearman([a for a, _ in pairs], [b for _, b in pairs])


@dataclass
class Report:
    lines: list[str]
    blend: Blend
    enabled: bool
    figures: dict[str, dict[str, float]]

    def text(self) -> str:
        return "\n".join(self.lines)


_COLUMNS = ("rules alone", "model alone", "blend", "VADER alone", "TF-IDF+LR")


def _rows(name: str, n: int, gold: list[bool], severity: list[int | None], preds: dict[str, list[bool]],
          scores: dict[str, Sequence[float]]) -> tuple[list[str], dict[str, float]]:
    row = f"{name:<36} {n:>4}"
    figures: dict[str, float] = {}
    rhos = {k: _rho(gold, severity, scores[k]) for k in preds}
    for k, pr in preds.items():
        f1 = macro_f1(gold, pr)
        tp = sum(g and p for g, p in zip(gold, pr))
        prec, rec = tp / max(1, sum(pr)), tp / max(1, sum(gold))
        figures[k], figures[k + " rho"] = f1, rhos[k]
        row += f"  {f1:.2f} ({prec:.2f}/{rec:.2f})"
    return [row, f"{'  severity rho':<41}" + "".join(f"  {rhos[k]:>16.2f}" for k in preds)], figures


def _judge(s: Scored, b: Blend, rules_only: Triage, model: ComplaintModel, texts: list[str]) -> tuple[list[str], dict[str, float]]:
    blended = Triage(rules_only.rules, learned=ComplaintModel(model.head, b, {}, model.severity),
                     sentiment=rules_only._sentiment)  # noqa: SLF001
    preds = {"rules alone": s.rules, "model alone": [p >= 0.5 for p in s.p], "blend": s.blended(b),
             "VADER alone": [c <= -0.05 for c in s.vader], "TF-IDF+LR": [p >= 0.5 for p in s.tfidf]}
    scores = {"rules alone": s.rules_score, "model alone": s.p, "blend": [blended.classify_text(t).score for t in texts],
              "VADER alone": [-c for c in s.vader], "TF-IDF+LR": s.tfidf}
    return _rows(s.name, len(s.gold), s.gold, s.severity, preds, scores)


def _header() -> str:
    return f"{'test set':<36} {'n':>4}  " + " ".join(f"{k:>18}" for k in _COLUMNS)


def cross_industry(data_dir: Path, rules_only: Triage, shipped: ComplaintModel | None = None) -> Report:
    """The grouped held-out report; `shipped` (the model file that ships) is scored on the fresh
    sample at the end, when given and when the fresh labels are there."""
    air = datasets.airline_complaints(data_dir / AIRLINE)
    samples = {label: datasets.load(data_dir / file, fmt) for fmt, file, label in SAMPLES}
    tfidf = _tfidf_baseline([t for t, _ in air], [c for _, c in air])
    names = list(samples)
    lines = [f"Cross-industry, grouped held-out: each of our labelled samples is held out in turn; the model is fitted on",
             f"{len(air):,} airline posts + the other samples (weighted {OURS_WEIGHT} of the airline posts), the blend's",
             "thresholds are chosen on the other samples' out-of-sample predictions. TF-IDF+LR is fitted on airlines only.",
             "Complaint macro-F1 (P/R of complaints) and Spearman rho of score with the 4-level severity (complaints only).", "",
             _header()]
    figures: dict[str, dict[str, float]] = {}
    pooled: list[Scored] = []
    for name in names:
        rest = [n for n in names if n != name]
        model = fit_model(air, [e for n in rest for e in samples[n]])
        # the thresholds: predictions for each other sample from a model fitted without it
        inner = [_score_sample(other, samples[other], rules_only,
                               fit_model(air, [e for n in rest if n != other for e in samples[n]]),
                               lambda ts: [0.0] * len(ts))
                 for other in rest]
        b = _best_blend(inner)
        s = _score_sample(name, samples[name], rules_only, model, tfidf)
        pooled.append(s)
        rows, figures[name] = _judge(s, b, rules_only, model, [e.text for e in samples[name]])
        lines += rows + [f"  blend thresholds chosen on the other samples: veto {b.veto}, add {b.add}"]
    enabled = all(figures[n]["blend"] > figures[n]["rules alone"] for n in names)
    blend = _best_blend(pooled)
    lines += ["", f"blend beats rules alone on every held-out sample: {'yes -> the model is ON by default' if enabled else 'no -> the model stays OFF'}",
              f"shipped thresholds (best on every held-out prediction together): veto {blend.veto}, add {blend.add}"]
    if shipped is not None:
        lines += fresh_lines(data_dir, rules_only, shipped, tfidf, figures)
    return Report(lines, blend, enabled, figures)


def fresh_lines(data_dir: Path, rules_only: Triage, shipped: ComplaintModel, tfidf: Callable[[list[str]], list[float]],
                figures: dict[str, dict[str, float]]) -> list[str]:
    """The fresh test samples, scored with the shipped rules and model (its blend): never trained or tuned on."""
    lines: list[str] = []
    for labels, parts, label in FRESH:
        if not (datasets.LABELS_DIR / labels).is_file():
            continue
        examples = [e for fmt, file in parts if (data_dir / file).is_file() for e in datasets.load(data_dir / file, fmt)]
        s = _score_sample(label, examples, rules_only, shipped, tfidf)
        rows, figures[label] = _judge(s, shipped.blend, rules_only, shipped, [e.text for e in examples])
        lines += rows
    if not lines:
        return []
    return ["", "The fresh samples, with the shipped rules and the shipped model file (its own thresholds):", _header(), *lines]


def build(data_dir: Path, rules_only: Triage, fresh: bool = True) -> tuple[ComplaintModel, Report]:
    report = cross_industry(data_dir, rules_only)
    air = datasets.airline_complaints(data_dir / AIRLINE)
    ours = [e for fmt, file, _ in SAMPLES for e in datasets.load(data_dir / file, fmt)]
    meta = {
        "trained_on": {"airline sentiment (negative = complaint)": len(air), "our labelled samples": len(ours),
                       "their weight (share of the airline posts)": OURS_WEIGHT},
        "enabled": report.enabled,
        "cross_industry": {k: {m: (None if math.isnan(v) else round(v, 3)) for m, v in d.items()} for k, d in report.figures.items()},
    }
    model = fit_model(air, ours, report.blend, meta)
    if fresh:
        report.lines += fresh_lines(data_dir, rules_only, model, _tfidf_baseline([t for t, _ in air], [c for _, c in air]),
                                    report.figures)
    return model, report


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="the shared data folder (default: ../shared/data)")
    ap.add_argument("--out", type=Path, default=SHIPPED_COMPLAINT_MODEL)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--no-fresh", action="store_true", help="leave the fresh test sample out (while developing: it is scored once)")
    args = ap.parse_args(argv)
    from monitor.triage import load_triage
    from monitor.triage.model import load_complaint_model

    data = args.data or datasets.shared_data_dir()
    rules_only = load_triage(learned=False)
    if args.report_only:
        shipped = load_complaint_model() if SHIPPED_COMPLAINT_MODEL.is_file() and not args.no_fresh else None
        print(cross_industry(data, rules_only, shipped).text())
        return 0
    model, report = build(data, rules_only, fresh=not args.no_fresh)
    print(report.text())
    model.save(args.out)
    print(f"wrote {args.out} ({len(model.head.rows):,} complaint weights, "
          f"{len(model.severity.rows) if model.severity else 0:,} severity weights; {'on' if report.enabled else 'OFF'} by default)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
