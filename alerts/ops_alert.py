"""Messages for the operators' channel: the program telling people about itself."""
from __future__ import annotations

from datetime import UTC, datetime

from alerts.escape import escape_mrkdwn, escape_truncated


def build_source_paused(source: str, error: str) -> dict[str, object]:
    """A source stopped because its credentials or config no longer work; nothing is seen from it until fixed."""
    text = (
        f":warning: Source *{escape_mrkdwn(source)}* is paused and sees nothing until fixed: "
        f"{escape_truncated(error, 500)}\nFix the credentials or config, then run `outreach-monitor check` "
        "and send the daemon SIGHUP (or restart it)."
    )
    return {
        "text": escape_truncated(f"Source {source} is paused: {error}", 250),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def _section(text: str, fallback: str) -> dict[str, object]:
    # the fallback (notifications, old clients) is mrkdwn too: strangers' text in it is escaped as well
    return {"text": escape_truncated(fallback, 300), "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    s = max(0, int(seconds))
    if s >= 7200:
        return f"{s / 3600:.1f} h"
    if s >= 120:
        return f"{s // 60} min"
    return f"{s} s"


def build_source_resumed(source: str) -> dict[str, object]:
    """A paused source passed its check again and polls once more."""
    return _section(f":white_check_mark: Source *{escape_mrkdwn(source)}* passed its check and is polling again.",
                    f"Source {source} is polling again")


def build_gap(source: str, stream: str, start: float, end: float) -> dict[str, object]:
    """The platform can no longer return part of a stream: posts in this range may never be seen."""
    s, st = escape_mrkdwn(source), escape_mrkdwn(stream)
    text = (f":hole: *{s}* `{st}` caught up as far as the platform allows, but posts between "
            f"*{_when(start)}* and *{_when(end)}* ({_span(end - start)}) may be missing: the platform no "
            "longer returns them. Search for that range by hand if it matters.")
    return _section(text, f"{source} {stream}: posts between {_when(start)} and {_when(end)} may be missing")


def build_stream_failing(source: str, stream: str, failures: int, error: str) -> dict[str, object]:
    """One stream keeps failing while the rest of its source works."""
    text = (f":warning: *{escape_mrkdwn(source)}* `{escape_mrkdwn(stream)}` has failed {failures} polls in a row "
            f"while the other streams work; its mentions are not being seen: {escape_truncated(error, 500)}")
    return _section(text, f"{source} {stream} keeps failing: {error[:200]}")


def build_stream_recovered(source: str, stream: str, failed_for: float) -> dict[str, object]:
    text = (f":white_check_mark: *{escape_mrkdwn(source)}* `{escape_mrkdwn(stream)}` works again after "
            f"{_span(failed_for)}; it catches up from its cursor.")
    return _section(text, f"{source} {stream} works again")


def build_went_quiet(source: str, last_seen_at: float | None, after: float, expected: float) -> dict[str, object]:
    """A source that usually brings mentions brought none for a while, though its polls succeed."""
    seen = f"since {_when(last_seen_at)}" if last_seen_at is not None else "at all"
    text = (f":mute: Source *{escape_mrkdwn(source)}* has brought no mentions {seen} "
            f"(for {_span(after)} about {expected:.0f} would be usual), although its polls succeed. "
            "Check the queries, the account's access and the platform's status: silence may not mean nobody "
            "is talking.")
    return _section(text, f"Source {source} went quiet: no mentions {seen}")


def build_quiet_over(source: str, quiet_for: float) -> dict[str, object]:
    return _section(f":loud_sound: Source *{escape_mrkdwn(source)}* brings mentions again after "
                    f"{_span(quiet_for)} of silence.", f"Source {source} brings mentions again")


def _lane_name(lane: str) -> str:
    """"slack:#care" → "#care": what the operator configured."""
    return lane.split(":", 1)[1] if ":" in lane else lane


def build_delivery_blocked(lane: str, error: str) -> dict[str, object]:
    """Deliveries to one channel wait (rate-limited, or failing): nothing is lost, it resumes by itself."""
    where = escape_mrkdwn(_lane_name(lane))
    text = (f":hourglass: Alerts to *{where}* are waiting: {escape_truncated(error, 500)}\nNothing is lost; they go "
            "out, most urgent first, as soon as it works again (`outreach-monitor outbox list` shows them).")
    return _section(text, f"Alerts to {_lane_name(lane)} are waiting: {error[:200]}")


def build_delivery_recovered(lane: str, blocked_for: float) -> dict[str, object]:
    where = "Slack" if lane.startswith("service:") else escape_mrkdwn(_lane_name(lane))
    return _section(f":white_check_mark: Delivery to *{where}* works again after {_span(blocked_for)}; the alerts "
                    "that waited are going out now, most urgent first.", f"Delivery to {where} works again")


def build_delivery_dead(target: str, error: str) -> dict[str, object]:
    """An alert was given up (a channel that does not exist, a message Slack refuses)."""
    text = (f":x: An alert to *{escape_mrkdwn(target)}* could not be delivered and was set aside: "
            f"{escape_truncated(error, 500)}\nFix the cause (e.g. the channel name in `slack.channels`, or invite the "
            "bot), then `outreach-monitor outbox retry --dead` sends what was set aside.")
    return _section(text, f"Alerts to {target} are not delivered: {error[:200]}")


def build_task_failing(task: str, error: str, *, recovered_after: float | None = None) -> dict[str, object]:
    """A part of the daemon (the dispatcher, storage) failed and is being retried; or it recovered."""
    if recovered_after is not None:
        return _section(f":white_check_mark: The {escape_mrkdwn(task)} works again after {_span(recovered_after)}; "
                        "what waited is being delivered.", f"The {task} works again")
    text = (f":rotating_light: The {escape_mrkdwn(task)} failed and is retrying every few seconds: "
            f"{escape_truncated(error, 500)}\nAlerts wait meanwhile (nothing is lost); `/healthz` shows the state.")
    return _section(text, f"The {task} is failing: {error[:200]}")


def build_quarantined(source: str, count: int, example_id: str, error: str) -> dict[str, object]:
    """Items a source returned could not be stored even after cleaning; the rest of the poll went on.
    Sent once per source per day: the quarantine table holds every item with its raw payload."""
    text = (f":biohazard_sign: Source *{escape_mrkdwn(source)}* returned {count} item(s) that could not be stored; "
            f"they are kept in the `quarantine` table with their raw payload, and every other item was stored. "
            f"First: `{escape_truncated(example_id, 80)}`: {escape_truncated(error, 400)}\n"
            "`outreach-monitor quarantine list` shows them. You hear of this once a day per source; "
            "`/healthz` counts them.")
    return _section(text, f"Source {source}: {count} item(s) quarantined")
