"""`outreach-monitor digest`: build one digest on demand, from the daemon's database or any file."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)  # messages are not wrapped: they name paths


def digest(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="The YAML configuration (its database)."),
    db: Optional[Path] = typer.Option(None, "--db", help="A SQLite database file instead, e.g. the demo's."),
    since: str = typer.Option("7d", help="Start: a span before --until (7d, 24h) or a date (2026-11-23)."),
    until: Optional[str] = typer.Option(None, help="End: a date or date-time (brand time); default now."),
    fmt: str = typer.Option("html", "--format", help="html, md or json."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write here; default the standard output."),
    brand: Optional[str] = typer.Option(None, help="The brand's name (default: brand.name of the config)."),
    timezone: Optional[str] = typer.Option(None, help="IANA time zone (default: digests.timezone of the config)."),
) -> None:
    """Build a digest of what people said in a period: volume, tone, top posts, themes, coverage."""
    from pydantic import ValidationError

    from monitor.config import Config, ConfigFileError, load_config
    from monitor.digest.config import DigestsConfig
    from monitor.digest.build import build
    from monitor.digest.period import PeriodError, period_from
    from monitor.digest.render import data_uris, to_html, to_json, to_markdown
    from monitor.storage.engine import create_engine
    from monitor.storage.migrate import current_revision, head_revision

    if (config is None) == (db is None):
        err.print("give exactly one of --config F or --db FILE")
        raise typer.Exit(2)
    if fmt not in ("html", "md", "json"):
        err.print(f"--format {fmt}: expected html, md or json")
        raise typer.Exit(2)
    if db is not None and not db.is_file():
        err.print(f"--db {db}: no such file")
        raise typer.Exit(2)
    try:
        cfg = load_config(config) if config is not None else Config()
    except ConfigFileError as e:
        err.print(f"[red]✗[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    try:
        dcfg = cfg.digests if timezone is None else \
            DigestsConfig.model_validate({**cfg.digests.model_dump(), "timezone": timezone})
        period = period_from(since, until, dcfg.tz, now=time.time())
    except ValidationError as e:
        err.print(f"--timezone {timezone}: {e.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    except PeriodError as e:
        err.print(f"{e}")
        raise typer.Exit(2) from None
    url = cfg.storage.url if db is None else f"sqlite:///{db.resolve()}"

    async def main():  # type: ignore[no-untyped-def]
        engine = create_engine(url)
        try:
            have, need = await current_revision(engine), head_revision()
            if have != need:  # reading must not change the file; an old schema would fail mid-query
                err.print(f"the database is at schema revision {have or '(none)'}, this version reads {need}: "
                          f"run `outreach-monitor db upgrade` (or a newer demo) first")
                raise typer.Exit(2)
            return await build(engine, period, brand=brand or cfg.brand.name, cfg=dcfg, own=cfg.brand.own_handles)
        finally:
            await engine.dispose()

    d, pngs = asyncio.run(main())
    text = to_json(d) if fmt == "json" else to_markdown(d) if fmt == "md" else to_html(d, data_uris(pngs))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"{d['title']}: written to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("digest")(digest)
