"""Triage: explainable urgency for every mention, fast enough to run inline.

    triage = load_triage()                      # shipped rules (config/rules.yaml), no model
    verdict = triage.classify(mention, prior_contacts=2, open_incidents=["checkout"])
    verdict = triage.classify_text("charged twice!!", author={"followers": 48000})

Modules: `rules` (load and check rules.yaml), `matcher` (fast phrase/pattern matching),
`sentiment` (VADER, exact but faster), `signals` (reach, engagement, repeat contact, incidents),
`engine` (the verdict), `model` (the optional learned model), `feedback`/`training` (relabel and
train), `datasets`/`evaluation` (the labelled data and honest figures; see EVALUATION.md).
"""
from __future__ import annotations

from pathlib import Path

from monitor.triage.engine import Triage
from monitor.triage.rules import DEFAULT_RULES_PATH, Rules, RulesError, load_rules

__all__ = ["DEFAULT_RULES_PATH", "Rules", "RulesError", "Triage", "load_triage"]


def load_triage(rules_path: Path | None = None, model_path: Path | None = None) -> Triage:
    """The shipped rules when `rules_path` is None; a learned model only when `model_path` is given.

    Raises RulesError (naming the bad entry) or ModelError (an unreadable or incompatible model).
    """
    rules = load_rules(rules_path)
    model = None
    if model_path is not None:
        from monitor.triage.model import load_model

        model = load_model(Path(model_path))
    return Triage(rules, model=model)
