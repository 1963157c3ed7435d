"""`outreach-monitor outbox list|retry|drop`: see what waits or was given up, and send it again."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from monitor import lanes, outbox
from monitor.ops_cli import ConfigOpt, out, with_engine

app = typer.Typer(help="What waits to be delivered, what was given up, and sending it again.",
                  no_args_is_help=True)



def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_(
    config: Path = ConfigOpt,
    dead: bool = typer.Option(False, "--dead", help="Only rows given up."),
    limit: int = typer.Option(100, help="At most this many."),
) -> None:
    """Rows waiting and rows given up, most urgent and oldest first, with why they wait."""

    async def work(engine):  # type: ignore[no-untyped-def]
        return await outbox.list_rows(engine, status=("dead",) if dead else ("pending", "dead"), limit=limit), \
            await lanes.blocks(engine)

    rows, blocked = with_engine(config, work)
    now = time.time()
    for b in blocked:
        if b.until > now:
            out.print(f"[yellow]waiting[/yellow] {b.lane} since {_when(b.since)} UTC: {b.reason}", highlight=False)
    if not rows:
        out.print("nothing waits and nothing was given up")
        return
    table = Table("id", "status", "prio", "kind", "to", "attempts", "created (UTC)", "next try", "last error")
    for r in rows:
        nxt = "—" if r.status != "pending" else ("now" if r.next_attempt_at <= now else _when(r.next_attempt_at))
        table.add_row(str(r.id), r.status, str(r.priority), r.kind, r.target, str(r.attempts), _when(r.created_at),
                      nxt, r.last_error[:80])
    out.print(table)


@app.command("retry")
def retry(
    ids: list[int] = typer.Argument(None, help="Row ids (from `outbox list`)."),
    config: Path = ConfigOpt,
    dead: bool = typer.Option(False, "--dead", help="Every row given up."),
) -> None:
    """Send rows again now: given-up rows are requeued (a row that may have landed is checked first)."""
    if not ids and not dead:
        raise typer.BadParameter("name row ids, or --dead for every row given up")
    n = with_engine(config, lambda e: outbox.retry(e, ids or (), all_dead=dead, now=time.time()))
    out.print(f"requeued {n} row(s); a running daemon sends them within a second")


@app.command("drop")
def drop(ids: list[int] = typer.Argument(..., help="Row ids (from `outbox list`)."), config: Path = ConfigOpt) -> None:
    """Never send these rows (they are kept, marked dropped)."""
    n = with_engine(config, lambda e: outbox.drop(e, ids))
    out.print(f"dropped {n} row(s)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="outbox")
