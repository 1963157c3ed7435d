"""Precision, recall, F1 per label and a confusion matrix, for triage and a VADER-only baseline.

The baseline is what "sentiment alone" would say, run on the same examples:
complaint / actionable = compound <= -0.05 (VADER's own threshold for negative); category =
praise when compound >= 0.05, complaint when <= -0.05, other in between (then collapsed onto the
data set's labels exactly like triage's categories); urgency = high when compound <= -0.5, normal
when <= -0.05, else low.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.triage.datasets import Example
from monitor.triage.engine import Triage

TASKS = ("complaint", "actionable", "category", "urgency")


@dataclass
class Scores:
    labels: list[str]
    per_label: dict[str, tuple[float, float, float, int]]  # precision, recall, f1, support
    confusion: dict[tuple[str, str], int]  # (gold, predicted) -> count
    accuracy: float
    macro_f1: float
    n: int


def score(gold: Sequence[str], pred: Sequence[str], labels: Iterable[str] | None = None) -> Scores:
    labels = sorted(set(labels or ()) | set(gold) | set(pred))
    conf = Counter(zip(gold, pred))
    per: dict[str, tuple[float, float, float, int]] = {}
    for lab in labels:
        tp = conf[(lab, lab)]
        fp = sum(v for (g, p), v in conf.items() if p == lab and g != lab)
        fn = sum(v for (g, p), v in conf.items() if g == lab and p != lab)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = (prec, rec, f1, tp + fn)
    with_support = [lab for lab in labels if per[lab][3]]
    macro = sum(per[lab][2] for lab in with_support) / len(with_support) if with_support else 0.0
    acc = sum(conf[(lab, lab)] for lab in labels) / len(gold) if gold else 0.0
    return Scores(labels, per, dict(conf), acc, macro, len(gold))


def _baseline(task: str, compound: float) -> str:
    """What sentiment alone would say, in our label names (collapsed like ours afterwards)."""
    neg, pos = compound <= -0.05, compound >= 0.05
    if task in ("complaint", "actionable"):
        return str(neg).lower()
    if task == "urgency":
        return "high" if compound <= -0.5 else "normal" if neg else "low"
    return "praise" if pos else "complaint" if neg else "other"


def _ours(task: str, verdict_dict: dict[str, object]) -> str:
    v = verdict_dict[task]
    return str(v).lower() if isinstance(v, bool) else str(v)


def evaluate(triage: Triage, examples: Sequence[Example]) -> dict[str, tuple[Scores, Scores]]:
    """task -> (triage's scores, the baseline's scores)."""
    golds: dict[str, list[str]] = {}
    severity: list[tuple[int, int, float]] = []  # (gold 0-3, our score, VADER's negativity) for complaints
    ours: dict[str, list[str]] = {}
    base: dict[str, list[str]] = {}
    for ex in examples:
        v = triage.classify_text(ex.text).as_dict()
        if "severity" in ex.gold and ex.gold.get("complaint"):
            severity.append((int(ex.gold["severity"]), int(v["score"]), -float(v["sentiment"])))  # type: ignore[call-overload]
        for task, g in ex.gold.items():
            if task not in TASKS:
                continue
            collapse = ex.collapse.get(task, _same)
            golds.setdefault(task, []).append(str(g).lower() if isinstance(g, bool) else str(g))
            ours.setdefault(task, []).append(collapse(_ours(task, v)))
            base.setdefault(task, []).append(collapse(_baseline(task, v["sentiment"])))  # type: ignore[arg-type]
    out: dict[str, object] = {t: (score(golds[t], ours[t]), score(golds[t], base[t])) for t in TASKS if t in golds}
    if len(severity) >= 3:
        from monitor.triage.shipped_model import spearman

        out["severity"] = (spearman([a for a, _, _ in severity], [b for _, b, _ in severity]),
                           spearman([a for a, _, _ in severity], [c for _, _, c in severity]), len(severity))
    return out  # type: ignore[return-value]


def _same(x: str) -> str:
    return x


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def render(results: dict[str, tuple[Scores, Scores]], *, with_baseline: bool = True) -> str:
    lines: list[str] = []
    for task, (s, b, *_) in results.items():
        if task == "severity":
            lines += ["", f"== severity ({results[task][2]} complaints): Spearman rho of score with the 4-level reproach scale "  # type: ignore[index]
                          f"{s:.2f} (VADER-only negativity: {b:.2f}) =="]
            continue
        lines.append("")
        lines.append(f"== {task} ({s.n} examples) ==")
        head = f"{'label':<12} {'P':>5} {'R':>5} {'F1':>5}"
        if with_baseline:
            head += f"   | VADER-only {'P':>5} {'R':>5} {'F1':>5}"
        lines.append(head + f" {'support':>8}")
        for lab in s.labels:
            p, r, f, n = s.per_label[lab]
            row = f"{lab:<12} {_fmt(p):>5} {_fmt(r):>5} {_fmt(f):>5}"
            if with_baseline:
                bp, br, bf, _ = b.per_label.get(lab, (0.0, 0.0, 0.0, 0))
                row += f"   | {'':10} {_fmt(bp):>5} {_fmt(br):>5} {_fmt(bf):>5}"
            lines.append(row + f" {n:>8}")
        summary = f"accuracy {_fmt(s.accuracy)}, macro-F1 {_fmt(s.macro_f1)}"
        if with_baseline:
            summary += f"   (VADER-only: accuracy {_fmt(b.accuracy)}, macro-F1 {_fmt(b.macro_f1)})"
        lines.append(summary)
        lines.append("confusion (rows: gold, columns: triage)")
        w = max(8, *(len(lab) + 1 for lab in s.labels))
        lines.append(" " * w + "".join(f"{lab:>{w}}" for lab in s.labels))
        for g in s.labels:
            lines.append(f"{g:<{w}}" + "".join(f"{s.confusion.get((g, p), 0):>{w}}" for p in s.labels))
    return "\n".join(lines)


def run(triage: Triage, examples: Sequence[Example], *, with_baseline: bool = True) -> str:
    return render(evaluate(triage, examples), with_baseline=with_baseline)
