"""The incident's buttons in Slack (Acknowledge, Identified, Monitoring, Resolve): a person runs the incident.

`decide(action, status, acknowledged_by, incident_id, user)` is pure and tested as a table:

| action       | incident                         | change          | note to the clicker                    |
|--------------|----------------------------------|-----------------|----------------------------------------|
| any          | resolved                         | —               | "… is already resolved"                |
| acknowledge  | acknowledged by someone          | —               | "… already acknowledged by <@X>"       |
| acknowledge  | not acknowledged                 | acknowledged    | "You acknowledged …"                   |
| a status S   | at S already                     | —               | "… is already S"                       |
| a status S   | past S (a stale button)          | —               | "… is already T (past S)"              |
| a status S   | before S                         | status = S      | "Incident #N is S now …"               |

Each click is ONE transaction through monitor/incidents.py (guarded by the status it read, so a
double click, two teammates, or a teammate and a recovering check do one thing); the update is on
the incident's timeline with who and when (`by = "slack:<user>"`) and in its Slack thread, and
customers hear of a status change on the cadence (monitor/notify_jobs.py).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.incident_alert import BUTTONS
from monitor import incidents as inc
from monitor.storage.schema import incident_updates

ACKNOWLEDGED = "acknowledged in Slack"  # the timeline note that records who acknowledged
# what customers read when a person moves the incident on from Slack (they can correct it with the CLI)
MESSAGES = {"identified": "We have found the cause of the problem with {name} and are working on a fix.",
            "monitoring": "A fix for {name} is in place and we are watching it closely.",
            "resolved": "{name} is working normally again. Thank you for your patience."}


@dataclass(frozen=True)
class Decision:
    change: Literal["acknowledge", "identified", "monitoring", "resolved"] | None
    note: str


def decide(action: str, status: str, acknowledged_by: str | None, incident_id: int, user: str) -> Decision:
    n = f"Incident #{incident_id}"
    if status == "resolved":
        return Decision(None, f"{n} is already resolved.")
    if action == "acknowledge":
        if acknowledged_by:
            return Decision(None, f"{n} was already acknowledged by <@{acknowledged_by}>.")
        return Decision("acknowledge", f"You acknowledged {n}.")
    if action not in inc.STATUSES:
        raise ValueError(f"unknown incident action {action!r}")
    if status == action:
        return Decision(None, f"{n} is already {status}.")
    if inc.STATUSES.index(status) > inc.STATUSES.index(action):
        return Decision(None, f"{n} is already {status} (past {action}); nothing changed.")
    return Decision(action, f"{n} is {action} now; customers hear of it on the cadence.")  # type: ignore[arg-type]


class IncidentDesk:
    """What the Slack buttons call (alerts/interactivity.py)."""

    def __init__(self, engine: AsyncEngine, *, channel: str | None, public_names: dict[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.channel = channel
        self.public_names = public_names
        self.clock = clock

    async def click(self, action_id: str, incident_id: int, user: str) -> tuple[bool, str]:
        """(changed, note for the clicker)."""
        now = self.clock()
        async with self.engine.begin() as conn:
            # locked: a double click's two presses arrive together, and the second must see the first's change
            current = await inc.get(conn, incident_id, lock=True)
            if current is None:
                return False, f"There is no incident #{incident_id}."
            acked = (await conn.execute(select(incident_updates.c.by).where(
                incident_updates.c.incident_id == incident_id, incident_updates.c.note == ACKNOWLEDGED)
                .order_by(incident_updates.c.id).limit(1))).scalar()
            d = decide(BUTTONS[action_id], current.status, acked.removeprefix("slack:") if acked else None,
                       incident_id, user)
            if d.change is None:
                return False, d.note
            try:
                if d.change == "acknowledge":
                    await inc.add_note(conn, current, note=ACKNOWLEDGED, by=f"slack:{user}", now=now,
                                       slack_channel=self.channel)
                else:
                    name = self.public_names.get(current.service, current.service)
                    await inc.update_incident(conn, incident_id, status=d.change,
                                              message=MESSAGES[d.change].format(name=name), by=f"slack:{user}",
                                              now=now, slack_channel=self.channel, note="from the Slack button")
            except inc.IncidentError as e:
                return False, f"{e}."
        return True, d.note
