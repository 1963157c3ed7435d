"""The learned model: a linear classifier over words and word pairs, stored as versioned JSON.

scikit-learn fits it (`training.py`); predicting is plain Python over the few features a post
has, so the hot path stays fast, and loading a model file never runs code (no pickle). Features are binary: which lower-case words and
adjacent word pairs a post contains (links and @handles removed), so a prediction is the intercept
plus the sum of the rows of the words present, then a softmax.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.triage.words import AsciiWords

FORMAT = "outreach-monitor/triage-model"
VERSION = 1

_NOISE = re.compile(r"https?://\S+|@\w+|__\w+__")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_WORDS = AsciiWords(_TOKEN, "abcdefghijklmnopqrstuvwxyz0123456789")


class ModelError(ValueError):
    """A model file that cannot be used (unreadable, another format, a newer version)."""


def feature_set(text: str) -> set[str]:
    """The post's words and adjacent word pairs, each once (features are binary)."""
    toks = _WORDS.findall(_NOISE.sub(" ", text.lower()))
    feats = set(toks)
    feats.update(map(" ".join, zip(toks, toks[1:])))
    return feats


def features(text: str) -> list[str]:
    """feature_set in a fixed order: a sum of float weights over them is then the same in every process."""
    return sorted(feature_set(text))


@dataclass
class Head:
    """One linear classifier (category or urgency): a row of weights per feature.

    Plain Python, not numpy: a post hits a handful of features, and summing those few rows is
    several times faster than numpy's per-call overhead at this size.
    """

    classes: list[str]
    intercept: tuple[float, ...]  # one per class, or one (the second class) for two classes
    rows: dict[str, tuple[float, ...]]  # feature -> weights, same shape as intercept

    def predict_proba(self, feats: list[str]) -> dict[str, float]:
        z = list(self.intercept)
        rows = self.rows
        for f in feats:
            row = rows.get(f)
            if row is not None:
                for j, w in enumerate(row):
                    z[j] += w
        if len(z) == 1:  # scikit-learn's two-class form: one score for the second class
            p1 = 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, z[0]))))
            return {self.classes[0]: 1.0 - p1, self.classes[1]: p1}
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return {c: v / total for c, v in zip(self.classes, e)}

    def top_features(self, k: int = 8) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for j, c in enumerate(self.classes):
            if len(self.intercept) == 1:  # two classes: negative weights speak for the first
                score = {f: (-r[0] if j == 0 else r[0]) for f, r in self.rows.items()}
            else:
                score = {f: r[j] for f, r in self.rows.items()}
            best = sorted(score, key=lambda f: -score[f])[:k]
            out[c] = [f for f in best if score[f] > 0]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "intercept": [round(float(x), 6) for x in self.intercept],
            "weights": {f: [round(float(x), 6) for x in r] for f, r in self.rows.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Head:
        intercept = tuple(float(x) for x in d["intercept"])
        rows = {str(f): tuple(float(x) for x in r) for f, r in d["weights"].items()}
        classes = [str(c) for c in d["classes"]]
        width = 1 if len(classes) == 2 and len(intercept) == 1 else len(classes)
        if len(intercept) != width or any(len(r) != width for r in rows.values()):
            raise ValueError("weights do not match the classes")
        return cls(classes, intercept, rows)


@dataclass
class LinearModel:
    heads: dict[str, Head]  # "category" and/or "urgency"
    threshold: float = 0.6  # the model overrides the rules only when at least this sure …
    max_rule_evidence: float = 3.0  # … and the rules' own evidence is below this
    meta: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, text: str, head: str = "category") -> dict[str, float]:
        h = self.heads.get(head)
        return h.predict_proba(features(text)) if h else {}

    def predict(self, text: str) -> dict[str, dict[str, float]]:
        """Every head's probabilities, reading the text once."""
        feats = features(text)
        return {name: h.predict_proba(feats) for name, h in self.heads.items()}

    def save(self, path: Path) -> None:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "threshold": self.threshold,
            "max_rule_evidence": self.max_rule_evidence,
            "meta": self.meta,
            "heads": {k: h.to_json() for k, h in self.heads.items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(path)  # a daemon starting meanwhile never reads half a file


def load_model(path: Path) -> LinearModel:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model file: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not a model file (invalid JSON: {e.msg})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError(f"{path}: not a triage model file (format is not {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise ModelError(f"{path}: model version {doc.get('version')!r}; this program reads version {VERSION}: retrain it")
    try:
        heads = {k: Head.from_json(v) for k, v in doc["heads"].items()}
        return LinearModel(heads, float(doc["threshold"]), float(doc["max_rule_evidence"]), dict(doc.get("meta", {})))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: damaged model file ({e})") from None


# -- the shipped complaint model --------------------------------------------------------------

COMPLAINT_KIND = "complaint"
SHIPPED_COMPLAINT_MODEL = Path(__file__).with_name("complaint-model.json")


@dataclass(frozen=True)
class Blend:
    """How the model's probability p and the rules' yes/no make the verdict's `complaint`.

    The rules decide, except where the model is sure: p >= `add` finds a complaint the rules
    missed (a problem told in words the rules do not know); p < `veto` overrules the rules' yes
    (a complaint word in a post that reads like a question or news). Both are chosen on posts from
    industries the model was not trained on (see shipped_model.py).
    """

    veto: float = 0.2
    add: float = 0.6

    def decide(self, rules_say: bool, p: float, held_back: bool = False) -> bool:
        """`held_back`: the model may not add a complaint the rules did not find. The engine holds it
        back where the rules read a negation ("not down anymore", "no problem": the model learned
        that "not" is a complaint word, and cannot tell what was negated), and where the post asks
        for a feature and describes no problem (a wish is worded like a grievance: "please add…")."""
        if rules_say:
            return p >= self.veto
        return p >= self.add and not held_back


SEVERITY_KIND = "severity"
SEVERITY_MAX = 3.0  # the reproach scale: 0 no explicit reproach, 1 disapproval, 2 accusation, 3 blame


_GRID = float(2 ** 20)


def _on_grid(w: float) -> float:
    """`w` to the nearest multiple of 2**-20: any sum of up to millions of these is exact."""
    return round(w * _GRID) / _GRID


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, z))))


@dataclass
class ComplaintModel:
    """A linear model of "is this a complaint?" over words and word pairs, and how to blend it;
    optionally a second linear head (a regression over the same features) reading how severe a
    complaint's wording is on the four-level reproach scale."""

    head: Head  # two classes, "no" and "yes" (scikit-learn's two-class form: one weight per feature)
    blend: Blend = field(default_factory=Blend)
    meta: dict[str, Any] = field(default_factory=dict)
    severity: Head | None = None  # one class, "severity": intercept + the weights of the features present

    def __post_init__(self) -> None:
        # Each weight on a grid of 2**-20: sums of such numbers are exact in a float, so they do not
        # depend on the order of a post's features (a set, whose order changes with the process's
        # string hashing; plain weights made the same post read differently in the last bits from
        # one run to the next, and now and then changed a verdict). 2**-20 is far finer than the
        # file's four decimals.
        weights = {f: _on_grid(r[0]) for f, r in self.head.rows.items()}
        severity = {f: _on_grid(r[0]) for f, r in self.severity.rows.items()} if self.severity is not None else {}
        # both heads in one C-speed sum: complaint weight + 1j * severity weight (an absent part
        # adds 0.0, which changes no sum); the two sums cost about what one did
        self._both = {f: complex(weights.get(f, 0.0), severity.get(f, 0.0)) for f in weights.keys() | severity.keys()}
        self._sev0 = self.severity.intercept[0] if self.severity is not None else None
        # the words worth quoting as a reason: found in a post by one C-speed set intersection
        self._strong = {f: (w, f) for f, w in weights.items() if w > 0.3}  # what `strongest` sorts

    def strongest(self, feats: Iterable[str], k: int = 3) -> list[str]:
        """The words present that pushed towards "complaint" most, strongest first."""
        pushing = sorted(filter(None, map(self._strong.get, feats)), reverse=True)
        return [f for _, f in pushing[:k]]

    def read(self, text: str, quote_from: float = 0.5) -> tuple[float, list[str], float | None]:
        """(probability of a complaint, its strongest words when the probability is at least
        `quote_from`, else [], the reproach level of the wording or None): one post's features read
        once, while they are in the cache."""
        feats = feature_set(text)
        z = sum(filter(None, map(self._both.get, feats)), 0j)
        p = _sigmoid(self.head.intercept[0] + z.real)
        sev = None if self._sev0 is None else min(SEVERITY_MAX, max(0.0, self._sev0 + z.imag))
        return p, self.strongest(feats) if p >= quote_from else [], sev

    def complaint(self, text: str) -> tuple[float, list[str]]:
        """(probability of a complaint, the words present that pushed it up most, strongest first)."""
        p, words, _ = self.read(text, quote_from=0.0)
        return p, words

    def save(self, path: Path) -> None:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "kind": COMPLAINT_KIND,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "blend": {"veto": self.blend.veto, "add": self.blend.add},
            "meta": self.meta,
            "heads": {COMPLAINT_KIND: self.head.to_json(),
                      **({SEVERITY_KIND: self.severity.to_json()} if self.severity is not None else {})},
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)


def load_complaint_model(path: Path | None = None) -> ComplaintModel:
    """The shipped model when `path` is None. Raises ModelError for a file that cannot be used."""
    path = path or SHIPPED_COMPLAINT_MODEL
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model file: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not a model file (invalid JSON: {e.msg})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("kind") != COMPLAINT_KIND:
        raise ModelError(f"{path}: not a complaint model file (format {FORMAT!r}, kind {COMPLAINT_KIND!r})")
    if doc.get("version") != VERSION:
        raise ModelError(f"{path}: model version {doc.get('version')!r}; this program reads version {VERSION}")
    try:
        head = Head.from_json(doc["heads"][COMPLAINT_KIND])
        if len(head.classes) != 2 or len(head.intercept) != 1:
            raise ValueError("a complaint head has two classes")
        blend = Blend(float(doc["blend"]["veto"]), float(doc["blend"]["add"]))
        severity = None
        if SEVERITY_KIND in doc["heads"]:
            severity = Head.from_json(doc["heads"][SEVERITY_KIND])
            if len(severity.classes) != 1 or len(severity.intercept) != 1:
                raise ValueError("a severity head has one output")
        return ComplaintModel(head, blend, dict(doc.get("meta", {})), severity)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: damaged model file ({e})") from None
