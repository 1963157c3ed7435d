"""`outreach-monitor quarantine list|show`: the items a source returned that could not be stored."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from monitor import quarantine
from monitor.ops_cli import ConfigOpt, err, out, with_engine

app = typer.Typer(help="Items a source returned that could not be stored, with their raw payload and error.",
                  no_args_is_help=True)



@app.command("list")
def list_(
    config: Path = ConfigOpt,
    source: str = typer.Option(None, help="Only this source."),
    limit: int = typer.Option(50, help="At most this many."),
) -> None:
    """Quarantined items, newest first."""
    rows = with_engine(config, lambda e: quarantine.list_kept(e, source=source, limit=limit))
    if not rows:
        out.print("nothing is quarantined")
        return
    table = Table("#", "when (UTC)", "source", "stream", "id", "error")
    for r in rows:
        when = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(str(r.id), when, r.source, r.stream, r.external_id, r.error[:120])
    out.print(table)


@app.command("show")
def show(item: int = typer.Argument(..., help="The # from `quarantine list`."), config: Path = ConfigOpt) -> None:
    """One item: its error and its raw payload as JSON (non-ASCII characters escaped, exactly as it came)."""
    row = with_engine(config, lambda e: quarantine.get_kept(e, item))
    if row is None:
        err.print(f"no quarantined item #{item}")
        raise typer.Exit(1)
    out.print(f"#{row.id} {row.source} {row.stream} {row.external_id}\nerror: {row.error}", highlight=False,
              markup=False)
    out.print(json.dumps(json.loads(row.payload), indent=2, ensure_ascii=True), highlight=False, markup=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="quarantine")
