"""Bidirectional control characters never reach Slack: not in mrkdwn, not in plain text, not in any builder."""
from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from alerts import incident_alert, ops_alert
from alerts.escape import BIDI_CONTROLS, escape_mrkdwn, escape_truncated, truncate_plain
from alerts.mention_alert import MentionView, build_mention_alert

ALL = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # embeddings, pop, overrides
    "\u2066", "\u2067", "\u2068", "\u2069",  # isolates
    "\u200e", "\u200f", "\u061c",  # LRM, RLM, Arabic letter mark
]
SPOOF = "refund for invoice\u202efdp.exe\u202c done \u2067@ceo\u2069 \u200f\u061c"


@pytest.mark.parametrize("ch", ALL)
@pytest.mark.parametrize("show", [escape_mrkdwn, lambda t: escape_truncated(t, 12), lambda t: truncate_plain(t, 12)])
def test_every_bidi_control_is_removed_and_the_letters_stay(ch: str, show: Any) -> None:
    assert ch in BIDI_CONTROLS
    assert show(f"ab{ch}cd") == "abcd"


def test_arabic_and_hebrew_letters_are_kept() -> None:
    assert escape_mrkdwn("طلبي متأخر \u200fשלום") == "طلبي متأخر שלום"


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _clean(payload: Any) -> bool:
    return not any(ch in s for s in _strings(payload) for ch in ALL)


def test_a_mention_alert_carries_no_bidi_control_in_any_field() -> None:
    view = MentionView(mention_id=1, source=f"x{SPOOF}", external_id=f"1{SPOOF}", text=SPOOF, urgency="high",
                       category="billing", author_username=f"jane{SPOOF}", author_name=f"Jane{SPOOF}",
                       url=f"https://x.com/jane/status/1?{SPOOF}", reasons=(f"matched {SPOOF}",), ticket_id=3)
    payload = build_mention_alert(view)
    assert _clean(payload), json.dumps(payload, ensure_ascii=False)
    assert "fdp.exe" in json.dumps(payload, ensure_ascii=False)  # the text is still shown, in its real order


def _call_with_hostile_text(fn: Any) -> dict[str, Any]:
    """Call a builder with SPOOF in every string parameter (numbers get numbers)."""
    kwargs: dict[str, Any] = {}
    for name, p in inspect.signature(fn).parameters.items():
        ann = str(p.annotation)
        if "str" in ann:
            kwargs[name] = f"{name} {SPOOF}"
        elif "bool" in ann:
            kwargs[name] = False
        elif "float" in ann or "int" in ann:
            kwargs[name] = 60
        else:
            raise AssertionError(f"{fn.__name__}: teach this test about {name}: {ann}")
    return fn(**kwargs)


BUILDERS = [f for mod in (ops_alert, incident_alert) for n, f in vars(mod).items()
            if n.startswith("build_") and inspect.isfunction(f) and f.__module__ == mod.__name__]


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda f: f.__name__)
def test_every_builder_neutralises_bidi_controls_in_what_it_shows(builder: Any) -> None:
    payload = _call_with_hostile_text(builder)
    assert _clean(payload), json.dumps(payload, ensure_ascii=False)
    assert "fdp.exe" in json.dumps(payload, ensure_ascii=False) or builder.__name__ in (
        "build_source_resumed", "build_quiet_over", "build_stream_recovered", "build_delivery_recovered")


def test_the_builders_under_test_are_all_of_them() -> None:
    assert len(BUILDERS) >= 10  # a new module of builders must be added to BUILDERS
