"""The learned model: a linear classifier over words and word pairs, stored as versioned JSON.

scikit-learn fits it (`training.py`); predicting needs only numpy, so the hot path stays fast and
loading a model file never runs code (no pickle). Features are binary: which lower-case words and
adjacent word pairs a post contains (links and @handles removed), so a prediction is the intercept
plus the sum of the rows of the words present, then a softmax.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "outreach-monitor/triage-model"
VERSION = 1

_NOISE = re.compile(r"https?://\S+|@\w+|__\w+__")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class ModelError(ValueError):
    """A model file that cannot be used (unreadable, another format, a newer version)."""


def features(text: str) -> list[str]:
    toks = _TOKEN.findall(_NOISE.sub(" ", text.lower()))
    return list({*toks, *(f"{a} {b}" for a, b in zip(toks, toks[1:]))})


@dataclass
class Head:
    """One linear classifier (category or urgency)."""

    classes: list[str]
    intercept: np.ndarray  # (n_classes,)
    weights: np.ndarray  # (n_features, n_classes)
    vocab: dict[str, int]

    def predict_proba(self, feats: list[str]) -> dict[str, float]:
        idx = [i for f in feats if (i := self.vocab.get(f)) is not None]
        z = self.intercept + (self.weights[idx].sum(axis=0) if idx else 0.0)
        if len(self.classes) == 2 and z.shape == (1,):  # scikit-learn's binary form: one column
            p1 = 1.0 / (1.0 + np.exp(-z[0]))
            return {self.classes[0]: 1 - p1, self.classes[1]: p1}
        e = np.exp(z - z.max())
        p = e / e.sum()
        return dict(zip(self.classes, p.tolist()))

    def top_features(self, k: int = 8) -> dict[str, list[str]]:
        inv = {i: f for f, i in self.vocab.items()}
        out: dict[str, list[str]] = {}
        cols = self.weights if self.weights.shape[1] == len(self.classes) else np.hstack([-self.weights, self.weights])
        for j, c in enumerate(self.classes):
            order = np.argsort(-cols[:, j])[:k]
            out[c] = [inv[i] for i in order if cols[i, j] > 0]
        return out

    def to_json(self) -> dict[str, Any]:
        inv = sorted(self.vocab.items(), key=lambda kv: kv[1])
        return {
            "classes": self.classes,
            "intercept": [round(float(x), 6) for x in self.intercept],
            "weights": {f: [round(float(x), 6) for x in self.weights[i]] for f, i in inv},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Head:
        feats = list(d["weights"])
        w = np.array([d["weights"][f] for f in feats], dtype=float).reshape(len(feats), -1)
        return cls(list(d["classes"]), np.array(d["intercept"], dtype=float), w, {f: i for i, f in enumerate(feats)})


@dataclass
class LinearModel:
    heads: dict[str, Head]  # "category" and/or "urgency"
    threshold: float = 0.6  # the model overrides the rules only when at least this sure …
    max_rule_evidence: float = 3.0  # … and the rules' own evidence is below this
    meta: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, text: str, head: str = "category") -> dict[str, float]:
        h = self.heads.get(head)
        return h.predict_proba(features(text)) if h else {}

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
