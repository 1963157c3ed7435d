"""What a click on an alert's button does to a ticket: pure decisions, no I/O, tested as a table.

`decide(action, state, user)` reads what the cockpit knows of the ticket (`Handling`) and returns the
change to make and what to tell the person who clicked. A click that changes nothing (a double
click, a teammate who got there first, a ticket already resolved) is a `Decision` with no changes,
so the storage layer applies at most one effect however many times the button is pressed:

| action      | state                          | change                                   | note to the clicker           |
|-------------|--------------------------------|------------------------------------------|-------------------------------|
| claim       | open, unclaimed                | claimed_by=user (+ acknowledged if not)  | "You claimed …"               |
| claim       | claimed by user                | —                                        | "You already have …"          |
| claim       | claimed by someone else        | —                                        | "Already claimed by <@X>"     |
| acknowledge | open, not acknowledged         | acknowledged_by=user                     | "Acknowledged …"              |
| acknowledge | acknowledged                   | —                                        | "Already acknowledged by <@X>"|
| escalate    | open, level < 2                | escalation_level=2                       | "Escalated …"                 |
| escalate    | level 2                        | —                                        | "Already escalated"           |
| resolve     | not solved                     | status=solved                            | "Resolved …"                  |
| spam        | author not suppressed          | suppress author, status=solved           | "Marked as spam …"            |
| any but resolve/spam | solved                | —                                        | "… is already resolved"       |

`escalation_due` is the timer's side (issue item 7): a critical ticket nobody acknowledged is
re-announced after N minutes (level 1) and sent to the escalation channel after M (level 2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from alerts.mention_alert import (  # the alert's buttons; ids posted on earlier alerts keep working
    ACTION_ACK,
    ACTION_APPROVE_REPLY,
    ACTION_CLAIM,
    ACTION_ESCALATE,
    ACTION_OPEN,
    ACTION_RELABEL,
    ACTION_RESOLVE,
    ACTION_SPAM,
)

__all__ = ["ACTION_APPROVE_REPLY", "ACTION_OPEN", "ACTION_RELABEL", "BUTTON_ACTIONS", "Decision", "Handling",
           "EscalationRule", "decide", "escalation_due", "REPLY_APPROVE", "REPLY_EDIT", "REPLY_SKIP"]

Action = Literal["claim", "acknowledge", "escalate", "resolve", "spam"]

# The buttons of a public reply waiting for approval; their value is the reply id.
REPLY_APPROVE = "reply_approve"
REPLY_EDIT = "reply_edit"
REPLY_SKIP = "reply_skip"

BUTTON_ACTIONS: dict[str, Action] = {
    ACTION_CLAIM: "claim",
    ACTION_ACK: "acknowledge",
    ACTION_ESCALATE: "escalate",
    ACTION_RESOLVE: "resolve",
    ACTION_SPAM: "spam",
}

SOLVED = ("solved", "closed", "resolved")  # the tickets lifecycle's end states count as resolved


@dataclass(frozen=True)
class Handling:
    """What the cockpit knows of one ticket when a button is pressed."""

    ticket_id: int
    status: str = "open"
    claimed_by: str | None = None
    acknowledged_by: str | None = None
    escalation_level: int = 0
    author_suppressed: bool = False

    @property
    def solved(self) -> bool:
        return self.status in SOLVED


@dataclass(frozen=True)
class Decision:
    changes: dict[str, Any] = field(default_factory=dict)  # ticket_handling columns, plus "status" and "suppress"
    note: str = ""  # shown to the clicker only

    @property
    def effective(self) -> bool:
        return bool(self.changes)


def _who(user: str | None) -> str:
    return f"<@{user}>" if user else "someone"


def decide(action: Action, s: Handling, user: str) -> Decision:
    t = f"ticket #{s.ticket_id}"
    if action == "resolve":
        if s.solved:
            return Decision(note=f"{t} is already resolved.")
        return Decision({"status": "solved"}, f"Resolved {t}.")
    if action == "spam":
        if s.author_suppressed:
            return Decision(note=f"This author is already marked as spam; {t} is {s.status}.")
        changes: dict[str, Any] = {"suppress": True}
        if not s.solved:
            changes["status"] = "solved"
        return Decision(changes, f"Marked as spam: this author will not be alerted on again; {t} resolved.")
    if s.solved:
        return Decision(note=f"{t} is already resolved.")
    if action == "claim":
        if s.claimed_by == user:
            return Decision(note=f"You already have {t}.")
        if s.claimed_by:
            return Decision(note=f"{t} is already claimed by {_who(s.claimed_by)}.")
        changes = {"claimed_by": user}
        if not s.acknowledged_by:
            changes["acknowledged_by"] = user  # whoever takes it has seen it: the escalation timer stops
        return Decision(changes, f"You claimed {t}.")
    if action == "acknowledge":
        if s.acknowledged_by:
            return Decision(note=f"{t} was already acknowledged by {_who(s.acknowledged_by)}.")
        return Decision({"acknowledged_by": user}, f"Acknowledged {t}.")
    if action == "escalate":
        if s.escalation_level >= 2:
            return Decision(note=f"{t} is already escalated.")
        return Decision({"escalation_level": 2}, f"Escalated {t}.")
    raise ValueError(f"unknown action {action!r}")


@dataclass(frozen=True)
class EscalationRule:
    reannounce_after_s: float  # N minutes: re-announce in the thread with the on-call group
    channel_after_s: float  # M minutes: post in the escalation channel


def escalation_due(s: Handling, *, urgency: str | None, critical_since: float, now: float,
                   rule: EscalationRule) -> int | None:
    """The escalation level a ticket should now be at, when higher than its current one; else None.

    Only critical tickets that are open and that nobody acknowledged (or claimed) escalate by time.
    """
    if urgency != "critical" or s.solved or s.acknowledged_by or s.claimed_by:
        return None
    age = now - critical_since  # since it became critical: a relabel or follow-up starts the clock
    level = 2 if age >= rule.channel_after_s else 1 if age >= rule.reannounce_after_s else 0
    return level if level > s.escalation_level else None
