"""`outreach-monitor demo`: the whole flow against the sandbox, with live progress and a report.

Real clients (tweepy, slack-sdk) talk over sockets to the sandbox X and Slack; the daemon is the
real one, on a temporary SQLite database (kept with --db). No credentials, no network.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import func, select

from alerts.message_update import NOTHING as NOTHING_TO_UPDATE
from monitor import demo_alerts
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.digest import demo as demo_digest
from monitor.models import URGENCIES
from monitor.outbox import backlog as outbox_backlog
from monitor.sandbox.approver import Approver
from monitor.sandbox.outage_demo import OutageDemo
from monitor.sandbox.scenario import demo_scenario
from monitor.sandbox.stack import SandboxStack
from monitor.sandbox.teammate import Teammate
from monitor.storage.schema import alert_storms, mentions, outbox, replies, ticket_actions, ticket_events, tickets
from outreach.status_posts import PREFIX as STATUS_PREFIX

BRAND = "acme"
# The demo's public voice: replies to delivery, billing, security and outage complaints wait for an
# approver (the scripted one clicks Approve in Slack), the rest are dry-run drafts; account matters
# move private with a link. Dry-run for everything stays the default of real configs.
DEMO_TICKETS = {"replies": {"categories": {c: "approve" for c in ("delivery", "billing", "security", "outage")},
                            "private_link": "https://acme.example/help/secure", "hourly_cap": 60,
                            "min_interval": 0.2, "status_link": "https://status.acme.example"},
                # a demo lasts seconds, not days: answered tickets whose customer stays silent 3 s are
                # solved, and critical tickets must be answered within 6 s: the report shows both at work
                "solve_after_hours": 3 / 3600, "sweep_every_s": 1.0,
                "sla": {"first_response_minutes": {"critical": 0.1, "default": 60}}}
# After the scenario the demo waits for the outbox to empty (Slack takes one message a second per
# channel, so on a busy machine that can take a while) for as long as it keeps sending; it gives up
# only after this long without a single row sent.
STALL_LIMIT = 30.0
# the demo's burst is a dozen complaints in a few seconds: small numbers, so the storm shows
DEMO_STORM = {"burst": 5, "window_s": 20, "summary_every_s": 4, "quiet_after_s": 10}


def _progress(daemon: Daemon, stack: SandboxStack, elapsed: float, duration: float, pending: int) -> Table:
    t = Table(title=f"outreach-monitor demo — {elapsed:4.0f}s / {duration:.0f}s", title_justify="left")
    for col in ("source", "state", "fetched", "stored", "requests", "errors", "lag s"):
        t.add_column(col, justify="right" if col not in ("source", "state") else "left")
    now = daemon.clock()
    for name, p in daemon.pollers.items():
        h = p.health
        lag = "" if h.last_success_at is None else f"{now - h.last_success_at:.1f}"
        t.add_row(name, h.state, str(h.fetched), str(h.stored), str(h.requests), str(h.errors), lag)
    slack = len(stack.slack.all_messages())
    t.caption = f"Slack messages: {slack}   outbox pending: {pending}   sandbox X posts: {len(stack.x.tweets)}"
    return t


async def _report(daemon: Daemon, stack: SandboxStack, duration_s: float, health: dict[str, Any]) -> dict[str, Any]:
    """`health`: what /healthz said as the daemon ended (read after the stop, it is always "down")."""
    async with daemon.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(mentions))).scalar_one()
        by_urgency = dict(
            (await conn.execute(select(mentions.c.urgency, func.count()).group_by(mentions.c.urgency))).all()
        )
        own = (await conn.execute(select(func.count()).where(mentions.c.is_own.is_(True)))).scalar_one()
        n_tickets = (await conn.execute(select(func.count()).select_from(tickets))).scalar_one()
        storms = (await conn.execute(select(func.count(), func.coalesce(func.sum(alert_storms.c.members), 0))
                                     .select_from(alert_storms))).one()
        actions = dict((await conn.execute(
            select(ticket_actions.c.action, func.count()).group_by(ticket_actions.c.action))).all())
        care = await _tickets_report(conn)
        # a message update that found nothing to change (the click's own update already showed it)
        no_effect = (await conn.execute(select(func.count()).where(
            outbox.c.status == "sent", outbox.c.result == NOTHING_TO_UPDATE))).scalar_one()
    queued = await outbox_backlog(daemon.engine)
    sources = {name: _source_report(health["sources"][name]) for name in daemon.pollers}
    slack_msgs = stack.slack.all_messages()
    per_channel: dict[str, int] = {}
    for m in slack_msgs:
        per_channel[m["channel"]] = per_channel.get(m["channel"], 0) + 1
    names = stack.slack.channels()
    return {
        "duration_s": round(duration_s, 1),
        "sources": sources,
        "mentions": {
            "stored": stored,
            "duplicates": sum(p.health.duplicates for p in daemon.pollers.values()),
            "own": own,
        },
        "triage": {u: by_urgency.get(u, 0) for u in URGENCIES},
        "tickets": {"opened": n_tickets, **care},
        "replies": await _replies_report(daemon, stack),
        "slack": {
            "messages": len(slack_msgs),
            "per_channel": {f"#{names.get(c, c)}": n for c, n in per_channel.items()},
            "max_per_channel_per_s": stack.slack.max_per_channel_per_s,
            "rate_limited": stack.slack.rate_limited,
            # the cockpit: threads started, alerts changed in place, what the scripted teammates did
            "threads": sum(1 for m in slack_msgs if m.get("reply_count")),
            "updates": stack.slack.updates,
            "actions": {a: int(n) for a, n in sorted(actions.items())},
            "storms": {"storms": int(storms[0]), "collapsed": int(storms[1])},
        },
        "outbox": {"sent": queued.sent, "pending": queued.pending, "dead": queued.dead, "no_effect": no_effect},
        "healthz": health["status"],
        "healthz_problems": health["problems"],
    }


async def _tickets_report(conn: Any) -> dict[str, Any]:
    """Tickets joined, solved, SLA breaches and the median first response (issue 10)."""
    events = dict((await conn.execute(select(ticket_events.c.kind, func.count()).group_by(ticket_events.c.kind))).all())
    waits = sorted(fr - op for fr, op in await conn.execute(
        select(tickets.c.first_response_at, tickets.c.opened_at).where(tickets.c.first_response_at.is_not(None))))
    handoffs = (await conn.execute(select(func.count()).where(tickets.c.handoff.is_not(None)))).scalar_one()
    return {"joined": int(events.get("joined", 0)), "reopened": int(events.get("reopened", 0)),
            "solved": int(events.get("solved", 0)), "sla_breaches": int(events.get("sla_breach", 0)),
            "first_response_p50_s": round(statistics.median(waits), 1) if waits else None,
            "moved_private": handoffs}


async def _replies_report(daemon: Daemon, stack: SandboxStack) -> dict[str, Any]:
    """Public replies: sent, held for approval, skipped — and duplicates as the sandbox X saw them
    (posts it accepted beyond one per reply we recorded as sent: must be 0)."""
    async with daemon.engine.connect() as conn:
        by = dict((await conn.execute(select(replies.c.status, func.count()).group_by(replies.c.status)
                                      .where(~replies.c.thread_key.like(f"{STATUS_PREFIX}%")))).all())
        held = (await conn.execute(select(func.count()).where(ticket_events.c.kind == "reply_held"))).scalar_one()
    accepted = sum(1 for r in stack.x.recorder.requests if r.method == "POST" and r.path == "/2/tweets"
                   and r.status == 201)
    sent = int(by.get("sent", 0))
    accepted -= (await _status_posts_sent(daemon))  # the incident's status posts: in notifications.public
    return {"sent": sent, "held": int(held), "skipped": int(by.get("skipped", 0)),
            "dry_run": int(by.get("dry_run", 0)), "duplicates": max(0, accepted - sent)}


async def _status_posts_sent(daemon: Daemon) -> int:
    async with daemon.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).where(
            replies.c.thread_key.like(f"{STATUS_PREFIX}%"), replies.c.status == "sent"))).scalar_one())


def _source_report(h: dict[str, Any]) -> dict[str, Any]:
    """One source's figures: what it brought, what it cost against its budget, what went wrong."""
    budget = h.get("budget") or {}
    pools = budget.get("pools", {})
    out: dict[str, Any] = {
        "state": h["state"],
        "fetched": h["fetched"],
        "stored": h["stored"],
        "requests": h["requests"],
        "budget_used": budget.get("used"),  # the fullest rate window, as a share of its limit
        "rate_limited": h["rate_limited"],
        "errors": h["errors"],
        "gaps": h["gaps"],
        "lag_s": h["lag_s"],
        "budget": {
            pool: {
                "spent": p["spent_total"],
                "windows": [f"{w['used']}/{w['limit']} per {w['seconds']:g}s" for w in p["windows"]],
                "server_remaining": p["server_remaining"],
                "refused": p["refused"],
            }
            for pool, p in pools.items()
        },
        "streams": {
            name: {"state": st["state"], "fetched": st["fetched"], "errors": st["errors"], "lag_s": st["lag_s"],
                   "interval_s": budget.get("streams", {}).get(name, {}).get("interval_s")}
            for name, st in h["streams"].items()
        },
    }
    if "reads" in budget:
        out["post_reads"] = budget["reads"]
    return out


async def run_demo(
    *, duration: float, report_path: Path | None, db_path: Path | None, seed: int, console: Console
) -> dict[str, Any]:
    stack = SandboxStack()
    await stack.start()
    smtp = await demo_digest.start_smtp()
    if db_path is None:
        # Kept after the demo (the team's view is in it: tickets, triage, the outbox); we say where.
        db_path = Path(tempfile.mkdtemp(prefix="outreach-demo-")) / "demo.db"
    scenario = demo_scenario(BRAND, duration_s=duration * 0.7, seed=seed)
    stack.load(scenario, start_at=time.time() + 1.0)
    outage = OutageDemo(smtp)
    await outage.start()
    stack.slack.add_channel("care-incidents")
    raw = stack.config(brand=BRAND, db_url=f"sqlite:///{db_path}", reddit=True,
                       overrides={**outage.overrides(duration), "tickets": DEMO_TICKETS})
    raw["sources"][0]["user_token"] = scenario.brand_token  # the brand account answers in public
    demo_digest.configure(raw, stack.slack, smtp)
    raw["slack"]["storm"] = DEMO_STORM
    cfg = parse_config(raw, source="<demo>", env={})
    daemon = Daemon(cfg)
    started = time.monotonic()
    await daemon.start()
    def complain(handle: str, text: str) -> None:
        stack.x.add_user(handle, handle.split("_")[0].title(), followers=120)
        stack.x.post(handle, text)

    outage.play(duration, engine=daemon.engine, complain=complain)
    teammate, teammate_stop = Teammate(stack.slack), asyncio.Event()
    teammate_task = asyncio.create_task(teammate.run(teammate_stop), name="teammate")
    approver_task = asyncio.create_task(Approver(stack.slack).run(teammate_stop), name="approver")
    console.print(
        f"sandbox X at {stack.urls['x']}, Reddit at {stack.urls['reddit']}, Slack at {stack.urls['slack']}; "
        f"daemon /healthz on http://127.0.0.1:{daemon.http_port}/healthz; database {db_path}",
        highlight=False,
    )
    try:
        digest_queued = False
        sending = _Sending()
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                elapsed = time.monotonic() - started
                # the daemon's own engine, not /healthz's probe: its 2 s timeouts can lapse on a busy machine
                queued = await outbox_backlog(daemon.engine)
                sending.saw(queued.sent)
                live.update(_progress(daemon, stack, elapsed, duration, queued.pending))
                done = queued.pending == 0 and await outage.settled(daemon.engine)
                if elapsed >= duration and (done or sending.stalled_for() >= STALL_LIMIT):
                    if digest_queued:
                        break
                    # The week's digest, through the outbox, once the scenario's mentions are in and handled
                    # (built at a fixed second, a slow machine's digest could come before the first mention).
                    await demo_digest.send(daemon)
                    digest_queued = True
                    sending.restart()
                await asyncio.sleep(0.5)
        teammate_stop.set()
        await teammate_task
        await approver_task
        await _drain(daemon)
        health = await daemon.health()  # what /healthz said at the end, while the daemon still ran
        await daemon.stop()
        report = await _report_after_stop(daemon, stack, time.monotonic() - started, cfg, outage, health)
        report["digests"] = await _digests_report(cfg, stack, smtp)
    finally:
        await outage.stop()
        await stack.stop()
        await smtp.stop()
    _print_summary(console, report)
    _print_alerts(console, stack)
    console.print(f"\nThe demo's database is kept at {db_path} — e.g. `sqlite3 {db_path} "
                  "'select urgency, text from mentions'` (choose where with --db).", highlight=False, soft_wrap=True)
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"report written to {report_path}")
    return report


class _Sending:
    """How long the outbox has gone without sending a row."""

    def __init__(self) -> None:
        self.sent: int | None = None
        self.since = time.monotonic()

    def saw(self, sent: int) -> None:
        if sent != self.sent:
            self.sent, self.since = sent, time.monotonic()

    def restart(self) -> None:
        self.since = time.monotonic()

    def stalled_for(self) -> float:
        return time.monotonic() - self.since


async def _drain(daemon: Daemon) -> None:
    """The teammate's last clicks queued message updates: let them go out before stopping, for as long
    as rows keep going out (10 s without one: the rest stays queued in the kept database)."""
    sending = _Sending()
    while sending.stalled_for() < 10:
        queued = await outbox_backlog(daemon.engine)
        if not queued.pending:
            return
        sending.saw(queued.sent)
        await asyncio.sleep(0.2)


async def _report_after_stop(daemon: Daemon, stack: SandboxStack, duration_s: float, cfg: Any,
                             outage: OutageDemo, health: dict[str, Any]) -> dict[str, Any]:
    # the daemon disposed its engine on stop; a fresh one reads the final state
    from monitor.storage.engine import create_engine

    daemon.engine = create_engine(cfg.storage.url)
    try:
        posts = [r.json() for r in stack.x.recorder.requests if r.method == "POST" and r.path == "/2/tweets"
                 and r.status == 201]  # what X accepted from the daemon
        return {**await _report(daemon, stack, duration_s, health), **await outage.report(daemon.engine, posts)}
    finally:
        await daemon.engine.dispose()


async def _digests_report(cfg: Any, stack: SandboxStack, smtp: Any) -> dict[str, Any]:
    from monitor.storage.engine import create_engine

    engine = create_engine(cfg.storage.url)
    try:
        return await demo_digest.report(engine, smtp, stack.slack)
    finally:
        await engine.dispose()


def _print_alerts(console: Console, stack: SandboxStack) -> None:
    """Two or three of the alerts, as the care team read them in Slack (the most urgent first)."""
    names = stack.slack.channels()
    # as each alert arrived (the scripted teammates claim, relabel and resolve them afterwards)
    posted = [stack.slack.as_posted.get((m["channel"], m["ts"]), m) | {"channel": m["channel"]}
              for m in stack.slack.all_messages()]
    shown = demo_alerts.pick(posted, names)
    if not shown:
        return
    console.print("\n[bold]What the care team saw in Slack (the most urgent alerts, as they arrived):[/bold]")
    for m in shown:
        console.print()
        for line in demo_alerts.render(m, names.get(m["channel"], m["channel"])):
            console.print(line, highlight=False, markup=False, soft_wrap=True)


def _print_summary(console: Console, r: dict[str, Any]) -> None:
    console.print()
    console.print(f"[bold]Demo finished in {r['duration_s']}s[/bold]")
    for name, s in r["sources"].items():
        used = "" if s.get("budget_used") is None else f" ({s['budget_used']:.0%} of the fullest rate window)"
        console.print(
            f"  {name}: fetched {s['fetched']}, {s['requests']} requests{used}, {s['rate_limited']} rate-limited, "
            f"{s['errors']} errors, {s['gaps']} gaps, lag {s['lag_s']}s"
        )
    m = r["mentions"]
    console.print(f"  mentions stored {m['stored']} (our own {m['own']}), duplicates absorbed {m['duplicates']}")
    console.print("  triage: " + ", ".join(f"{u} {n}" for u, n in r["triage"].items()))
    s = r["slack"]
    console.print(f"  Slack: {s['messages']} messages, at most {s['max_per_channel_per_s']} per channel per second; "
                  f"{s['threads']} threads, {s['updates']} messages updated in place, "
                  f"{s['storms']['collapsed']} mentions collapsed into {s['storms']['storms']} storm(s)")
    if s["actions"]:
        console.print("  teammates' clicks: " + ", ".join(f"{a} {n}" for a, n in s["actions"].items()))
    t, rp = r["tickets"], r["replies"]
    console.print(f"  tickets: {t['opened']} opened, {t['joined']} follow-ups joined, {t['solved']} solved, "
                  f"{t['sla_breaches']} SLA breaches, median first response {t['first_response_p50_s']}s, "
                  f"{t['moved_private']} moved private")
    console.print(f"  public replies: {rp['held']} held for approval, {rp['sent']} sent, {rp['skipped']} skipped, "
                  f"{rp['duplicates']} duplicates")
    o = r["outbox"]
    console.print(f"  outbox: {o['sent']} sent, {o['pending']} pending, {o['dead']} dead")
    i, n = r["incidents"], r["notifications"]
    console.print(f"  incidents: {i['opened']} opened, {i['resolved']} resolved, {i['complaints_attached']} complaints "
                  f"attached; notices: {n['email']} e-mails, {n['webhook']} webhooks, {n['public']} public posts, "
                  f"{n['acknowledged_complaints']} complainers acknowledged ({n['followed_up']} told it is over), "
                  f"{n['duplicates']} duplicates")
    if "digests" in r:
        g = r["digests"]
        console.print(f"  digests: {g['built']} built, {g['slack']} Slack posts ({g['slack_charts']} charts), "
                      f"{g['email']} e-mails")
