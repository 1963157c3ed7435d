"""monitor.health_state.step(): the transition table of its docstring, row by row, then whole runs."""
from __future__ import annotations

import pytest

from monitor.health_state import HealthRule, HealthState, Reading, step

F, S = 3, 2
RULE = HealthRule(failure_threshold=F, success_threshold=S, flap_changes=4, flap_window=100.0)
MUTED = HealthRule(failure_threshold=F, success_threshold=S, flap_changes=4, flap_window=100.0,
                   maintenance=((900.0, 1100.0),))
NOW = 1000.0
OK, FAIL, FAIL_UP = Reading(True), Reading(False), Reading(False, upstream_down=True)

UP = HealthState("up", last_ok=True, successes=5)
UP_2F = HealthState("up", failures=F - 1, last_ok=False, changes=(NOW - 50,))
DOWN_T = HealthState("down", failures=5, triggered=True, last_ok=False, changes=(NOW - 500,))
DOWN_Q = HealthState("down", failures=5, triggered=False, last_ok=False)  # muted or suppressed
DOWN_T_1S = HealthState("down", successes=S - 1, triggered=True, last_ok=True)
FLAPPY = (NOW - 40, NOW - 30, NOW - 20)  # one more change makes 4 within the window
DEG_T = HealthState("degraded", triggered=True, last_ok=True, successes=S - 1, changes=(NOW - 500,))
DEG_T_F = HealthState("degraded", triggered=True, last_ok=False, failures=F - 1, changes=(NOW - 500,))
DEG_Q_F = HealthState("degraded", triggered=False, last_ok=False, failures=F - 1, changes=(NOW - 500,))

ROWS = [
    # name,                                    state,   reading, rule,  status',    trig', action
    ("flapping starts: reported once",          HealthState("up", last_ok=False, changes=FLAPPY), OK, RULE,
                                                                            "degraded", True, "flapping"),
    ("flapping while triggered: held",          HealthState("down", triggered=True, last_ok=False, changes=FLAPPY), OK,
                                                RULE,                       "degraded", True, "none"),
    ("flapping in maintenance: muted",          HealthState("up", last_ok=False, changes=FLAPPY), OK, MUTED,
                                                                            "degraded", False, "none"),
    ("degraded settles ok: resolve",            DEG_T,   OK,      RULE,  "up",       False, "resolve"),
    ("degraded settles failing: stays open",    DEG_T_F, FAIL,    RULE,  "down",     True,  "none"),
    ("degraded settles failing, untriggered",   DEG_Q_F, FAIL,    RULE,  "down",     True,  "open"),
    ("degraded, neither yet",                   DEG_T,   FAIL,    RULE,  "degraded", True,  "none"),
    ("up stays up",                             UP,      OK,      RULE,  "up",       False, "none"),
    ("up, failures below threshold",            UP,      FAIL,    RULE,  "up",       False, "none"),
    ("up, threshold reached: open",             UP_2F,   FAIL,    RULE,  "down",     True,  "open"),
    ("up, threshold reached in maintenance",    UP_2F,   FAIL,    MUTED, "down",     False, "muted"),
    ("up, threshold reached, upstream down",    UP_2F,   FAIL_UP, RULE,  "down",     False, "suppressed"),
    ("down triggered, still failing",           DOWN_T,  FAIL,    RULE,  "down",     True,  "none"),
    ("down muted, still muted",                 DOWN_Q,  FAIL,    MUTED, "down",     False, "none"),
    ("down suppressed, upstream still down",    DOWN_Q,  FAIL_UP, RULE,  "down",     False, "none"),
    ("down, mute or upstream ended: open",      DOWN_Q,  FAIL,    RULE,  "down",     True,  "open"),
    ("down, successes below threshold",         DOWN_T,  OK,      RULE,  "down",     True,  "none"),
    ("down, threshold reached: resolve",        DOWN_T_1S, OK,    RULE,  "up",       False, "resolve"),
    ("down untriggered recovers quietly",       HealthState("down", successes=S - 1, last_ok=True), OK, RULE,
                                                                            "up",       False, "none"),
    ("resolve in maintenance still clears",     DOWN_T_1S, OK,    MUTED, "up",       False, "resolve"),
]


@pytest.mark.parametrize(("name", "state", "reading", "rule", "status", "triggered", "action"), ROWS,
                         ids=[r[0] for r in ROWS])
def test_transition_table(name, state, reading, rule, status, triggered, action) -> None:
    new, got = step(state, reading, rule, NOW)
    assert (new.status, new.triggered, got) == (status, triggered, action)


def _run(readings: str, rule: HealthRule = RULE, every: float = 30.0, start: float = NOW) -> list[str]:
    state, actions = HealthState(), []
    for i, ch in enumerate(readings):
        state, action = step(state, Reading(ch == "+"), rule, start + i * every)
        actions.append(action)
    return [a for a in actions if a != "none"]


@pytest.mark.parametrize(("readings", "expected"), [
    ("++--+--+", []),  # never F in a row, changes spread beyond the window
    ("+---", ["open"]),
    ("+-----++", ["open", "resolve"]),
    ("+---+-+--++", ["open", "resolve"]),  # a blip inside an outage resolves only after S in a row
    ("---++---++", ["open", "resolve", "open", "resolve"]),
])
def test_runs_page_once_per_episode(readings: str, expected: list[str]) -> None:
    assert _run(readings, every=60.0) == expected


def test_flapping_is_reported_once_and_resolves_when_it_settles() -> None:
    actions = _run("+-+-+-+-+-" + "+" * 15, every=10.0)  # held at degraded until the window forgets
    assert actions == ["flapping", "resolve"]


def test_changes_age_out_of_the_window() -> None:
    state = HealthState()
    for i, ok in enumerate([True, False, True, False]):  # 3 changes
        state, _ = step(state, Reading(ok), RULE, NOW + i * 10)
    state, action = step(state, Reading(True), RULE, NOW + 500)  # the old changes are gone
    assert action == "none" and state.changes == (NOW + 500,)
