"""The Slack cockpit inside the daemon: its outbox handlers, its bolt app, and its escalation timer.

The daemon makes one `SlackCockpit`, lets it `register` its handlers before the dispatcher is built,
`start`s it once the scheduler runs, and `stop`s it on shutdown. Socket Mode is started only when
`slack.app_token` is configured (or the signed HTTP endpoint, with `interactivity: http`).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.actions import EscalationRule, Handling, escalation_due
from alerts.cockpit_messages import reply_message
from alerts.interactivity import CockpitDeps, GroupMembers, build_app, http_handler
from alerts.mention_alert import MentionView, TicketCard, build_mention_alert
from alerts.message_update import KIND as UPDATE_KIND
from alerts.message_update import MessageUpdateDelivery, RenderedPostDelivery
from alerts.slack_delivery import SlackDelivery, make_slack_client
from alerts.storm import StormRule, storm_parent
from monitor import incidents, leases, outbox, slack_registry, switches
from monitor.alert_flow import STORM_KIND, newest_members, storm_step
from monitor.cockpit import Cockpit, UnknownMention, Where, card, update_key, view_of
from monitor.config import SlackConfig
from monitor.delivery import DeliveryHandler, OutboxItem
from monitor.socket_health import SocketHealth
from monitor.storage.dialect import insert_for
from monitor.storage.schema import alert_storms, mentions, replies, slack_messages, ticket_handling, tickets
from monitor.storage.schema import outbox as outbox_table
from outreach.reply_subject import subject

log = structlog.get_logger("cockpit")

ESCALATION_LEASE = "job:escalation"
STORM_LEASE = "job:storms"
# how long start() waits for Socket Mode before going on without it (it keeps trying meanwhile)
SOCKET_START_WAIT_S = 10.0


def storm_rule(cfg: SlackConfig) -> StormRule | None:
    s = cfg.storm
    if not s.enabled:
        return None
    return StormRule(burst=s.burst, window_s=s.window_s, summary_every_s=s.summary_every_s,
                     quiet_after_s=s.quiet_after_s)


async def ticket_messages(conn: Any, ticket_id: int) -> list[Where]:
    """The ticket's alerts in Slack that carry its card: the top-level mention alerts (from the registry)."""
    m, o = slack_messages.c, outbox_table.c
    rows = await conn.execute(
        select(m.channel_id, m.ts, o.payload)
        .select_from(slack_messages.join(outbox_table, o.key == m.outbox_key))
        .where(m.about == f"ticket:{ticket_id}", m.thread_ts.is_(None), o.kind == "slack.mention"))
    return [Where(ch, ts, int(p["mention_id"])) for ch, ts, p in rows if isinstance(p, dict) and "mention_id" in p]


class DbSwitches:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def replies_paused(self) -> bool:
        return await switches.replies_paused(self.engine)

    async def set_replies_paused(self, paused: bool, by: str) -> None:
        await switches.set_replies_paused(self.engine, paused, by)


def reply_desk(engine: AsyncEngine) -> Any:
    """The public-reply desk of outreach/ when this build has one (the tickets issue), else None."""
    try:
        from outreach.replies import ReplyDesk  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return ReplyDesk(engine)


class SlackCockpit:
    def __init__(self, cfg: SlackConfig, engine: AsyncEngine, *, instance: str,
                 clock: Callable[[], float] = time.time, wake: Callable[[], None] = lambda: None,
                 health: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.cfg = cfg
        self.engine = engine
        self.instance = instance
        self.clock = clock
        self.wake = wake
        self.health = health
        self.cockpit = Cockpit(engine, clock=clock, escalation_channel=cfg.escalation.channel,
                               oncall_group=cfg.oncall_group, messages_about=ticket_messages)
        self.storm = storm_rule(cfg)
        self.client = make_slack_client(cfg.token, cfg.api_base)
        self.socket: AsyncSocketModeHandler | None = None
        self.socket_health: SocketHealth | None = None
        self._connecting: asyncio.Task[None] | None = None
        # the signed HTTP endpoint, served by the daemon's web server at cfg.interactivity_path
        self.http_handler: Callable[[web.Request], Awaitable[web.Response]] | None = None
        self.incident_desk: Any = None  # monitor.incident_desk.IncidentDesk (the daemon sets it)
        self.rule = EscalationRule(cfg.escalation.reannounce_after_minutes * 60, cfg.escalation.channel_after_minutes * 60)

    # -- outbox side --------------------------------------------------------------------------------

    async def card_for(self, view: MentionView) -> TicketCard | None:
        if view.ticket_id is None:
            return None
        async with self.engine.connect() as conn:
            return await card(conn, view.ticket_id)

    async def render_update(self, item: OutboxItem) -> tuple[str, str, dict[str, Any]] | None:
        """Which message a slack.update row refreshes, and its content now (see alerts.message_update)."""
        p = item.payload
        async with self.engine.connect() as conn:
            if "storm_id" in p:
                # the storm's own message: top-level in its channel, or a reply in an incident's thread
                posted = (await conn.execute(select(slack_messages.c.channel_id, slack_messages.c.ts).where(
                    slack_messages.c.outbox_key == f"{STORM_KIND}:{int(p['storm_id'])}"))).first()
                if posted is None:
                    return None  # not posted yet (or dead-lettered): when it is, it renders the counter itself
                return posted.channel_id, posted.ts, await self._storm_message(conn, int(p["storm_id"]))
            if "reply_id" in p:
                # a status post has no mention (mention_id 0): hence the outer join
                r = (await conn.execute(
                    select(replies, mentions.c.author_username)
                    .select_from(replies.outerjoin(mentions, mentions.c.id == replies.c.mention_id))
                    .where(replies.c.id == int(p["reply_id"])))).first()
                if r is None:
                    return None
                return str(p["channel"]), str(p["ts"]), reply_message(
                    r.id, r.ticket_id, r.text, r.status, r.decided_by, r.ref,
                    subject=subject(r.thread_key, r.ticket_id, username=r.author_username or "", source=r.source))
            if p.get("channel") and p.get("ts"):
                channel, ts, mention_id = str(p["channel"]), str(p["ts"]), p.get("mention_id")
            elif item.parent is not None:
                channel, ts = item.parent.channel_id, item.parent.ts
                if await _clicked_update_exists(conn, channel, ts, p.get("action_row")):
                    return None  # the click's own update of this message shows the same state (or newer)
                mention_id = await _mention_of(conn, channel, ts)
            else:
                return None  # the parent was never posted: when it is, it renders the state itself
            if mention_id is None:
                return None
            try:
                view = await view_of(conn, int(mention_id))
            except UnknownMention:
                return None  # aged out by retention: the alert stays as it was
            tid = p.get("ticket_id") or view.ticket_id
            return channel, ts, build_mention_alert(view, await card(conn, tid) if tid is not None else TicketCard())

    async def render_storm(self, item: OutboxItem) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return await self._storm_message(conn, int(item.payload["storm_id"]))

    async def _storm_message(self, conn: Any, storm_id: int) -> dict[str, Any]:
        s = (await conn.execute(select(alert_storms).where(alert_storms.c.id == storm_id))).one()
        incident = int(s.about.split(":")[1]) if s.about and s.about.startswith("incident:") else None
        return storm_parent(channel_label=s.channel, members=s.members, started_at=s.started_at,
                            last_at=s.last_member_at, newest=await newest_members(conn, storm_id),
                            closed=s.closed_at is not None, incident_id=incident)

    def register(self, handlers: dict[str, DeliveryHandler]) -> None:
        slack = handlers.get("slack.message")
        if not isinstance(slack, SlackDelivery):
            return
        handlers.setdefault(UPDATE_KIND, MessageUpdateDelivery(slack, self.render_update))  # type: ignore[arg-type]
        handlers.setdefault(STORM_KIND, RenderedPostDelivery(STORM_KIND, slack, self.render_storm))  # type: ignore[arg-type]
        mention = handlers.get("slack.mention")
        if mention is not None and getattr(mention, "card_for", False) is None:
            mention.card_for = self.card_for  # type: ignore[attr-defined]

    # -- Slack side ---------------------------------------------------------------------------------

    def deps(self) -> CockpitDeps:
        return CockpitDeps(cockpit=self.cockpit, switches=DbSwitches(self.engine), status=self.status,
                           approvers=GroupMembers(self.client, self.cfg.approvers_group),
                           replies=reply_desk(self.engine), incidents=self.incident_desk, on_change=self.wake)

    async def start(self) -> None:
        if self.cfg.interactivity == "http" and self.cfg.signing_secret is not None:
            app = build_app(self.client, self.deps())
            self.http_handler = http_handler(app, self.cfg.signing_secret.get_secret_value())
            log.info("cockpit.http", path=self.cfg.interactivity_path)
        elif self.cfg.app_token is not None:
            app = build_app(self.client, self.deps())
            self.socket_health = SocketHealth(self.clock)
            self.socket = AsyncSocketModeHandler(app, self.cfg.app_token.get_secret_value(), web_client=self.client,
                                                 logger=self.socket_health.logger,
                                                 ping_interval=self.cfg.socket_ping_s)
            self.socket.client.proxy = self.client.proxy  # None for a local sandbox (slack-sdk reads HTTPS_PROXY)
            # slack-sdk retries a refused connection forever: the daemon starts without it (alerts still go
            # out) and /healthz says the buttons are dead, rather than hanging here
            self._connecting = asyncio.create_task(self.socket.connect_async(), name="socket-mode-connect")
            failed = asyncio.create_task(self.socket_health.answered.wait())
            await asyncio.wait({self._connecting, failed}, timeout=SOCKET_START_WAIT_S,
                               return_when=asyncio.FIRST_COMPLETED)
            failed.cancel()
            client = self.socket.client
            self.socket_health.watch(client.is_connected)
            self.socket_health.observe(await client.is_connected())
            if not self.socket_health.connected:
                log.warning("cockpit.socket_mode_down", reason=self.socket_health.last_error or "not connected yet",
                            note="alerts are posted; buttons, modals and /outreach wait for the connection")

    async def stop(self) -> None:
        if self.socket_health is not None:
            await self.socket_health.stop()
        if self.socket is not None:
            await self.socket.close_async()
            self.socket = None
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
            self._connecting = None

    def interactivity(self, now: float) -> dict[str, Any]:
        """For /healthz: how clicks reach the daemon, and whether they can right now."""
        if self.http_handler is not None:
            return {"mode": "http", "path": self.cfg.interactivity_path}
        if self.socket_health is None:
            return {"mode": "off"}
        return {"mode": "socket", **self.socket_health.as_dict(now)}

    def interactivity_problem(self, now: float) -> str | None:
        return self.socket_health.problem(now) if self.socket_health is not None else None

    async def status(self) -> dict[str, Any]:
        health = await self.health() if self.health is not None else {}
        async with self.engine.connect() as conn:
            h = ticket_handling.c
            open_t = (await conn.execute(select(func.count()).select_from(tickets)
                                         .where(tickets.c.status == "open"))).scalar_one()
            claimed = (await conn.execute(select(func.count()).select_from(tickets.join(
                ticket_handling, h.ticket_id == tickets.c.id)).where(
                tickets.c.status == "open", h.claimed_by.is_not(None)))).scalar_one()
            crit = (await conn.execute(select(func.count()).select_from(tickets.outerjoin(
                ticket_handling, h.ticket_id == tickets.c.id)).where(
                tickets.c.status == "open", tickets.c.urgency == "critical", h.acknowledged_by.is_(None),
                h.claimed_by.is_(None)))).scalar_one()
            open_incidents = [i.service for i in await incidents.open_incidents(conn)]
        desk = reply_desk(self.engine)
        return {
            "health": health.get("status", "unknown"), "outbox": health.get("outbox", {}),
            "sources": health.get("sources", {}), "incidents": open_incidents,
            "replies_paused": await switches.replies_paused(self.engine),
            "replies_waiting": await desk.waiting() if desk is not None else 0,
            "tickets": {"open": open_t, "unclaimed": open_t - claimed, "critical_unacknowledged": crit},
        }

    # -- timers (one daemon at a time each, under a lease) -------------------------------------------

    def jobs(self) -> list[tuple[str, float]]:
        out = [("cockpit:escalation", self.cfg.escalation.check_every_s)]
        if self.storm is not None:
            out.append(("cockpit:storms", max(1.0, min(self.storm.summary_every_s, self.storm.quiet_after_s) / 2)))
        return out

    async def run_job(self, job_id: str) -> int:
        if job_id == "cockpit:escalation":
            return await self.escalation_job()
        if job_id == "cockpit:storms":
            return await self.storm_job()
        raise ValueError(job_id)

    async def storm_job(self) -> int:
        if self.storm is None:
            return 0
        now = self.clock()
        if not await leases.acquire(self.engine, STORM_LEASE, self.instance, ttl=60.0, now=now):
            return 0
        async with self.engine.begin() as conn:
            effects = await storm_step(conn, now=now, rule=self.storm)
            added = await outbox.enqueue(conn, effects, now=now)
        if added:
            self.wake()
        return added

    async def escalation_job(self) -> int:
        now = self.clock()
        ttl = max(self.cfg.escalation.check_every_s * 2, 10.0)
        if not await leases.acquire(self.engine, ESCALATION_LEASE, self.instance, ttl=ttl, now=now):
            return 0
        h = ticket_handling.c
        # the ticket's own urgency now (relabels, more urgent follow-ups), timed from when it became critical
        critical_since = func.coalesce(tickets.c.critical_since, tickets.c.opened_at).label("critical_since")
        async with self.engine.begin() as conn:
            due = (await conn.execute(
                select(tickets.c.id, tickets.c.status, tickets.c.urgency, critical_since, h.claimed_by,
                       h.acknowledged_by, h.escalation_level)
                .select_from(tickets.outerjoin(ticket_handling, h.ticket_id == tickets.c.id))
                .where(tickets.c.status == "open", tickets.c.urgency == "critical",
                       critical_since <= now - self.rule.reannounce_after_s,
                       and_(h.acknowledged_by.is_(None), h.claimed_by.is_(None)) | h.ticket_id.is_(None))
                .limit(200))).all()
            for r in due:
                if r.escalation_level is None:
                    await conn.execute(insert_for(conn, ticket_handling).on_conflict_do_nothing(
                        index_elements=["ticket_id"]).values(ticket_id=r.id, escalation_level=0, updated_at=now))
        raised = 0
        for r in due:
            state = Handling(ticket_id=r.id, status=r.status, claimed_by=r.claimed_by,
                             acknowledged_by=r.acknowledged_by, escalation_level=r.escalation_level or 0)
            level = escalation_due(state, urgency=r.urgency, critical_since=r.critical_since, now=now, rule=self.rule)
            if level is not None and await self.cockpit.escalate_by_time(
                    r.id, level, expected_level=state.escalation_level):
                raised += 1
                log.info("cockpit.escalated", ticket=r.id, level=level)
        if raised:
            self.wake()
        return raised



async def _clicked_update_exists(conn: Any, channel: str, ts: str, action_row: Any) -> bool:
    """Whether the action that queued a thread-parent update also queued one for the clicked message."""
    if action_row is None:
        return False
    key = update_key(channel, ts, int(action_row))
    status = (await conn.execute(select(outbox_table.c.status).where(outbox_table.c.key == key))).scalar()
    return status in ("pending", "sent")


async def _mention_of(conn: Any, channel_id: str, ts: str) -> int | None:
    """The mention whose alert the registered message (channel, ts) is."""
    msg = await slack_registry.find_by_ts(conn, channel_id, ts)
    if msg is None:
        return None
    payload = (await conn.execute(select(outbox_table.c.payload).where(outbox_table.c.key == msg.outbox_key))).scalar()
    return int(payload["mention_id"]) if isinstance(payload, dict) and "mention_id" in payload else None


async def check_cockpit(cfg: SlackConfig) -> list[tuple[str, bool, str]]:
    """`outreach-monitor check`: the app-level token opens Socket Mode, and the user groups exist."""
    from slack_sdk.errors import SlackApiError

    out: list[tuple[str, bool, str]] = []
    client = make_slack_client(cfg.token, cfg.api_base)
    if cfg.app_token is not None and cfg.interactivity == "socket":
        try:
            await client.apps_connections_open(app_token=cfg.app_token.get_secret_value())
            out.append(("slack.app_token", True, "Socket Mode connects: buttons, modals and /outreach will work"))
        except SlackApiError as e:
            error = e.response.get("error")
            hint = {"not_allowed_token_type": "this is not an app-level token (xapp-…)",
                    "invalid_auth": "Slack does not accept it (revoked or mistyped)"}.get(str(error), str(error))
            out.append(("slack.app_token", False, f"{hint}; create one under Basic Information → App-Level "
                                                  "Tokens with connections:write, and enable Socket Mode"))
        except Exception as e:
            out.append(("slack.app_token", False, f"{type(e).__name__}: {e}"))
    for name in ("approvers_group", "oncall_group"):
        group = getattr(cfg, name)
        if not group:
            continue
        try:
            members = await client.usergroups_users_list(usergroup=group)
            out.append((f"slack.{name}", True, f"user group {group} has {len(members.get('users') or [])} members"))
        except SlackApiError as e:
            error = e.response.get("error")
            hint = {"no_such_subteam": f"there is no user group {group}",
                    "missing_scope": "the bot token needs usergroups:read"}.get(str(error), str(error))
            out.append((f"slack.{name}", False, hint))
        except Exception as e:
            out.append((f"slack.{name}", False, f"{type(e).__name__}: {e}"))
    return out
