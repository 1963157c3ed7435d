"""SIGHUP: the running daemon takes a new config file and environment without a restart.

The operators' alert about a paused source says "fix the credentials and send SIGHUP": so the file
and the `${ENV}` values are read again, and each source whose settings or credentials changed gets
a new connector object, swapped in between polls (the scheduler is paused while no poll runs).
Slack's token and channels are taken too. A config that does not load is refused with its error
in the log, and the old one keeps running. What only a restart changes is said in the log:
`storage.url`, `server`, sources added or removed (their jobs are scheduled at start).
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import Source, SourceError
from monitor import lanes
from monitor.budget import planner_for
from monitor.config import Config, ConfigFileError, load_config
from monitor.ingest import AlertPolicy
from monitor.sources import build_sources

if TYPE_CHECKING:
    from monitor.daemon import Daemon

log = structlog.get_logger("reload")

POLL_DRAIN_S = 30.0  # how long a reload waits for running polls before swapping sources


async def apply_config(daemon: Daemon, path: str | os.PathLike[str]) -> bool:
    """Load `path` (with the environment as it is now) and apply it; False when refused."""
    try:
        new = load_config(path)
        built = build_sources(new)
    except (ConfigFileError, SourceError) as e:
        log.error("config.reload_refused", path=str(path), error=str(e), note="the running configuration is kept")
        return False
    old = daemon.cfg
    needs_restart = _needs_restart(old, new)
    changed = [sc for sc in new.sources if sc.name in daemon.pollers and sc != _by_name(old, sc.name)]
    unused: list[Source] = [s for name, s in built.items() if name not in {sc.name for sc in changed}]
    retired: list[Source] = []
    scheduler = daemon.scheduler
    if changed:
        if scheduler is not None:
            scheduler.pause()  # no poll starts while sources are swapped
        try:
            running = daemon.running_polls()
            if running:
                await asyncio.wait(running, timeout=POLL_DRAIN_S)
            for sc in changed:
                poller = daemon.pollers[sc.name]
                retired.append(poller.source)
                source = built[sc.name]
                poller.source = daemon.sources[sc.name] = source
                streams = source.streams()
                if poller.planner is None or set(streams) != set(poller.planner.streams):
                    poller.planner = planner_for(sc, streams) if streams else None
        finally:
            if scheduler is not None:
                scheduler.resume()
    _take_slack(daemon, old, new)
    if daemon.dispatcher is not None:
        # like paused sources, blocked deliveries are tried again at once, not at their next recheck
        try:
            await lanes.try_blocked_now(daemon.engine, now=daemon.clock())
        except (SQLAlchemyError, OSError) as e:  # storage down: the blocks end on their own timer
            log.warning("config.reload_retry_deliveries_failed", error=str(e))
        daemon.dispatcher.wake()
    # Whatever needs a restart keeps its old value, so what runs is what the log says.
    triage = old.triage.model_copy(update={"alert_min_urgency": new.triage.alert_min_urgency})
    daemon.cfg = new.model_copy(update={"storage": old.storage, "server": old.server, "triage": triage,
                                        "sources": [_by_name(new, sc.name) or sc for sc in old.sources]})
    for s in [*retired, *unused]:
        try:
            await s.close()
        except Exception:  # noqa: BLE001 - closing an old client must not undo the reload
            log.warning("config.reload_close_failed", exc_info=True)
    log.info("config.reloaded", path=str(path), sources_changed=[sc.name for sc in changed],
             slack_changed=old.slack != new.slack, needs_restart=needs_restart)
    if needs_restart:
        log.warning("config.reload_needs_restart", settings=needs_restart,
                    note="these settings keep their old values until the daemon is restarted")
    return True


def _by_name(cfg: Config, name: str):  # type: ignore[no-untyped-def]
    return next((sc for sc in cfg.sources if sc.name == name), None)


def _needs_restart(old: Config, new: Config) -> list[str]:
    out = []
    if old.storage != new.storage:
        out.append("storage.url")
    if old.server != new.server:
        out.append("server")
    if {s.name for s in old.sources} != {s.name for s in new.sources}:
        out.append("sources (added or removed)")
    if (old.triage.rules, old.triage.model) != (new.triage.rules, new.triage.model):
        out.append("triage.rules / triage.model")
    if old.tickets.helpdesk != new.tickets.helpdesk:
        out.append("tickets.helpdesk")
    return out


def _take_slack(daemon: Daemon, old: Config, new: Config) -> None:
    """A new Slack token or channels: new clients for the dispatcher, new routing for the pollers."""
    if new.slack is None or (new.slack == old.slack and new.triage.alert_min_urgency == old.triage.alert_min_urgency):
        return
    if daemon._given_handlers is None and daemon.dispatcher is not None:
        from alerts.mention_delivery import KIND as MENTION_ALERT
        from alerts.mention_delivery import MentionAlertDelivery
        from alerts.slack_delivery import SlackDelivery, make_slack_client

        slack = SlackDelivery(make_slack_client(new.slack.token, new.slack.api_base),
                              min_interval=new.slack.min_interval_per_channel, auth_retry_after=new.slack.auth_recheck)
        daemon.dispatcher.handlers["slack.message"] = slack
        daemon.dispatcher.handlers[MENTION_ALERT] = MentionAlertDelivery(slack)
    for poller in daemon.pollers.values():
        # only the routing changes: tickets, replies, storms, the helpdesk and listen-only streams stay
        old_policy = poller.policy or AlertPolicy({})
        poller.policy = replace(old_policy, channels=new.slack.channels, min_urgency=new.triage.alert_min_urgency)
