"""`outreach-monitor tickets [show ID | close ID]` and `outreach-monitor replies list|approve|edit|skip`.

`outreach-monitor tickets --config F` still lists the live tickets, as it always did.
"""
from __future__ import annotations

import getpass
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.ops_cli import with_engine

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

OptConfig = typer.Option(None, "--config", "-c", help="The YAML configuration file.")


def _when(at: float | None) -> str:
    return "—" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")


def _dur(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _with_engine(ctx: typer.Context, config: Path | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    path = config or (ctx.obj or {}).get("config")
    if path is None:
        err.print("--config is required")
        raise typer.Exit(2)
    return with_engine(path, work)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a container): still say it was the CLI
        return "cli"


# ── tickets ─────────────────────────────────────────────────────────────────────────────────────
tickets_app = typer.Typer(help="Tickets: one per customer conversation. Without a command: the live ones.",
                          invoke_without_command=True)


@tickets_app.callback()
def tickets_list(
    ctx: typer.Context,
    config: Path = OptConfig,
    all_: bool = typer.Option(False, "--all", help="Closed tickets too."),
    limit: int = typer.Option(50, help="At most this many."),
) -> None:
    """List tickets: most urgent and most recently active first."""
    ctx.obj = {"config": config}
    if ctx.invoked_subcommand is not None:
        return
    from monitor.tickets import list_tickets

    rows = _with_engine(ctx, config, lambda e: list_tickets(e, status=None if all_ else "live", limit=limit))
    table = Table("#", "status", "urgency", "source", "msgs", "author", "latest message", "active (UTC)")
    for t in rows:
        text = t.latest_text if len(t.latest_text) <= 80 else t.latest_text[:79] + "…"
        table.add_row(str(t.id), t.status, t.urgency, t.source, str(t.messages), f"@{t.author}", text,
                      _when(t.updated_at))
    out.print(table)


@tickets_app.command("show")
def tickets_show(ctx: typer.Context, ticket_id: int = typer.Argument(...), config: Path = OptConfig) -> None:
    """One ticket: its messages in order, what happened, its replies, its response times."""
    from monitor.tickets import show

    d = _with_engine(ctx, config, lambda e: show(e, ticket_id))
    if d is None:
        err.print(f"no ticket {ticket_id}")
        raise typer.Exit(1)
    r = d.row
    out.print(f"[bold]Ticket #{r['id']}[/bold] · {r['status']} · {r['urgency'] or '—'} · {r['category'] or '—'} · "
              f"{r['source']} · opened {_when(r['opened_at'])} UTC", highlight=False)
    out.print(f"first response: {_dur(d.first_response_s)}  resolution: {_dur(d.resolution_s)}"
              + (f"  moved private: {r['handoff']}" if r.get("handoff") else ""), highlight=False)
    table = Table("when (UTC)", "who", "message", "urgency")
    for m in d.messages:
        table.add_row(_when(m.at), ("us: @" if m.is_own else "@") + m.author, m.text, m.urgency or "")
    out.print(table)
    for rep in d.replies:
        out.print(f"reply {rep['id']} [{rep['status']}] ({rep['policy']}): {rep['text']}", highlight=False, markup=False)
    for kind, at, ref, detail in d.events:
        out.print(f"  {_when(at)}  {kind} {ref} {detail}".rstrip(), highlight=False, markup=False)


@tickets_app.command("close")
def tickets_close(ctx: typer.Context, ticket_id: int = typer.Argument(...), config: Path = OptConfig) -> None:
    """Close a ticket now (a customer who writes again gets a new one)."""
    from monitor.tickets import close

    before = _with_engine(ctx, config, lambda e: close(e, ticket_id, by=_who(), now=time.time()))
    if before is None:
        err.print(f"ticket {ticket_id} does not exist or is already closed")
        raise typer.Exit(1)
    out.print(f"ticket #{ticket_id} closed (was {before})")


# ── replies ─────────────────────────────────────────────────────────────────────────────────────
replies_app = typer.Typer(help="Public replies: drafts, approvals, what was posted.", no_args_is_help=True)


@replies_app.command("list")
def replies_list(
    ctx: typer.Context,
    config: Path = OptConfig,
    status: str = typer.Option("held,approved", help="Comma-separated: dry_run, held, approved, sent, skipped; "
                                                       "or 'all'."),
    limit: int = typer.Option(50, help="At most this many."),
) -> None:
    """Replies waiting for a person (or any status), newest first."""
    from outreach.replies import list_replies

    wanted = None if status == "all" else [s.strip() for s in status.split(",") if s.strip()]
    rows = _with_engine(ctx, config, lambda e: list_replies(e, status=wanted, limit=limit))
    table = Table("id", "ticket", "status", "policy", "category", "private", "text", "created (UTC)")
    for r in rows:
        table.add_row(str(r.id), f"#{r.ticket_id}" if r.ticket_id else "-", r.status, r.policy, r.category, "yes" if r.private else "",
                      r.text, _when(r.created_at))
    out.print(table)


def _outcome(result: Any) -> None:
    (out if result.ok else err).print(result.note, highlight=False, markup=False)
    raise typer.Exit(0 if result.ok else 1)


@replies_app.command("approve")
def replies_approve(ctx: typer.Context, reply_id: int = typer.Argument(...), config: Path = OptConfig) -> None:
    """Approve a held reply: the daemon posts it (once, even if approved twice)."""
    from outreach.replies import approve

    _outcome(_with_engine(ctx, config, lambda e: approve(e, reply_id, _who())))


@replies_app.command("edit")
def replies_edit(ctx: typer.Context, reply_id: int = typer.Argument(...),
                 text: str = typer.Option(..., "--text", help="The new words (still held until approved)."),
                 config: Path = OptConfig) -> None:
    """Change a held reply's text."""
    from outreach.replies import edit

    _outcome(_with_engine(ctx, config, lambda e: edit(e, reply_id, text, _who())))


@replies_app.command("skip")
def replies_skip(ctx: typer.Context, reply_id: int = typer.Argument(...), config: Path = OptConfig) -> None:
    """Never post this reply."""
    from outreach.replies import skip

    _outcome(_with_engine(ctx, config, lambda e: skip(e, reply_id, _who())))


def register(app: typer.Typer) -> None:
    app.add_typer(tickets_app, name="tickets")
    app.add_typer(replies_app, name="replies")
