"""`outreach-monitor incidents list|show|open|update|resolve`: a person runs an incident from the shell.

Each command writes the incident change and its Slack message (outbox rows) in one transaction; the
running daemon delivers them (and the customers' notices, on the cadence) — this command sends
nothing itself, so it is safe to run while the daemon runs, and twice by mistake.
"""
from __future__ import annotations

import asyncio
import getpass
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from monitor.ops_cli import ConfigOpt, _load

incidents_app = typer.Typer(help="Service incidents: list, open, update, resolve.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _when(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


async def _with_conn(config: Path, fn: Any, *, write: bool) -> Any:
    from monitor.storage.engine import create_engine
    from monitor.storage.migrate import upgrade

    cfg = _load(config)
    engine = create_engine(cfg.storage.url)
    try:
        await upgrade(engine)
        async with (engine.begin() if write else engine.connect()) as conn:
            return await fn(conn, cfg)
    finally:
        await engine.dispose()


def _run(config: Path, fn: Any, *, write: bool = True) -> Any:
    from monitor.incidents import IncidentError

    try:
        return asyncio.run(_with_conn(config, fn, write=write))
    except IncidentError as e:
        err.print(f"[red]✗[/red] {e}", highlight=False)
        raise typer.Exit(1) from None


def _by(who: str | None) -> str:
    return f"person:{who or getpass.getuser()}"


@incidents_app.command("list")
def list_(config: Path = ConfigOpt, all_: bool = typer.Option(False, "--all", help="Resolved ones too.")) -> None:
    """Open incidents (newest first)."""
    from monitor.incidents import list_incidents

    rows = _run(config, lambda conn, cfg: list_incidents(conn, open_only=not all_), write=False)
    table = Table("#", "service", "status", "impact", "seen by", "title", "opened (UTC)", "resolved (UTC)")
    for i in rows:
        table.add_row(str(i.id), i.service, i.status, i.impact, "public" if i.public else "team only", i.title,
                      _when(i.opened_at), _when(i.resolved_at))
    out.print(table)


@incidents_app.command("show")
def show(incident_id: int, config: Path = ConfigOpt) -> None:
    """One incident's timeline."""
    from monitor.incidents import get, timeline

    async def fn(conn, cfg):  # type: ignore[no-untyped-def]
        return await get(conn, incident_id), await timeline(conn, incident_id)

    inc, line = _run(config, fn, write=False)
    if inc is None:
        err.print(f"no incident #{incident_id}")
        raise typer.Exit(1)
    out.print(f"#{inc.id} {inc.title} — {inc.service}, {inc.status}, {'public' if inc.public else 'team only'}")
    for u in line:
        out.print(f"  {_when(u.created_at)}  {u.status:<13} {u.by:<24} {u.message}" + (f"  [{u.note}]" if u.note else ""),
                  highlight=False, markup=False, soft_wrap=True)


@incidents_app.command("open")
def open_(
    service: str = typer.Argument(..., help="One of the services: in the config."),
    title: str = typer.Option(..., "--title", help="What the team and customers read as the headline."),
    message: str = typer.Option(..., "--message", "-m", help="The first update, as customers will read it."),
    internal: bool = typer.Option(False, "--internal", help="Team only: customers are told nothing yet."),
    impact: str = typer.Option("major", help="minor | major | critical"),
    by: str | None = typer.Option(None, "--by", help="Your name (default: your login)."),
    config: Path = ConfigOpt,
) -> None:
    from monitor.incidents import open_incident

    async def fn(conn, cfg):  # type: ignore[no-untyped-def]
        services = {s.name: s for s in cfg.services}
        if services and service not in services:
            err.print(f"unknown service {service!r}; known: {sorted(services)}")
            raise typer.Exit(2)
        svc = services.get(service)
        return await open_incident(conn, service=service, title=title, message=message, by=_by(by), now=time.time(),
                                   slack_channel=cfg.incidents.channel if cfg.slack else None, public=not internal,
                                   impact=impact, terms=[svc.display, *svc.aliases] if svc else [])

    inc, created = _run(config, fn)
    out.print(f"incident #{inc.id} {'opened' if created else 'was already open; your update is on its timeline'}")


@incidents_app.command("update")
def update_(
    incident_id: int,
    status: str = typer.Option(..., "--status", help="investigating | identified | monitoring | resolved"),
    message: str = typer.Option(..., "--message", "-m"),
    note: str = typer.Option("", "--note", help="For the team only."),
    by: str | None = typer.Option(None, "--by"),
    config: Path = ConfigOpt,
) -> None:
    from monitor.incidents import update_incident

    inc = _run(config, lambda conn, cfg: update_incident(
        conn, incident_id, status=status, message=message, note=note, by=_by(by), now=time.time(),
        slack_channel=cfg.incidents.channel if cfg.slack else None))
    out.print(f"incident #{inc.id} is {inc.status}")


@incidents_app.command("resolve")
def resolve_(
    incident_id: int,
    message: str = typer.Option("This is resolved. Thank you for your patience.", "--message", "-m"),
    by: str | None = typer.Option(None, "--by"),
    config: Path = ConfigOpt,
) -> None:
    from monitor.incidents import resolve

    inc = _run(config, lambda conn, cfg: resolve(conn, incident_id, message=message, by=_by(by), now=time.time(),
                                                  slack_channel=cfg.incidents.channel if cfg.slack else None))
    out.print(f"incident #{inc.id} resolved")


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")
