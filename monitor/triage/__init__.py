"""Triage: explainable urgency for every mention, fast enough to run inline.

    triage = load_triage()                      # shipped rules + the shipped complaint model
    verdict = triage.classify(mention, prior_contacts=2, open_incidents=["checkout"])
    verdict = triage.classify_text("charged twice!!", author={"followers": 48000})

Modules: `rules` (load and check rules.yaml and its language packs), `matcher` (fast phrase/pattern
matching), `language` (which language a post is in), `sentiment` (VADER, exact but faster),
`signals` (reach, engagement, repeat contact, incidents), `engine` (the verdict), `model` (the
shipped complaint model and the team's learned model), `shipped_model` (how the shipped model is
built and when it is on), `feedback`/`training` (relabel and train), `datasets`/`evaluation` (the
labelled data and honest figures; see EVALUATION.md), `batch` (triage off the event loop).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from monitor.triage.engine import Triage
from monitor.triage.rules import DEFAULT_RULES_PATH, Rules, RulesError, load_rules

__all__ = ["DEFAULT_RULES_PATH", "Rules", "RulesError", "Triage", "load_triage"]


def load_triage(rules_path: Path | None = None, model_path: Path | None = None,
                learned: Path | Literal[False] | None = None) -> Triage:
    """The shipped rules when `rules_path` is None; the team's model only when `model_path` is given.

    `learned`: the complaint model blended with the rules — None for the shipped one (used only if
    its cross-industry check switched it on, see shipped_model.py), a path for another, False for
    rules alone. Raises RulesError (naming the bad entry) or ModelError (an unreadable model).
    """
    from monitor.triage.model import SHIPPED_COMPLAINT_MODEL, load_complaint_model, load_model

    rules = load_rules(rules_path)
    model = load_model(Path(model_path)) if model_path is not None else None
    complaint_model = None
    if learned is None:
        if SHIPPED_COMPLAINT_MODEL.is_file():
            shipped = load_complaint_model(SHIPPED_COMPLAINT_MODEL)
            complaint_model = shipped if shipped.meta.get("enabled", False) else None
    elif learned is not False:
        complaint_model = load_complaint_model(Path(learned))
    return Triage(rules, model=model, learned=complaint_model)
