"""The operator's commands: `run`, `check`, `db upgrade`."""
from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from monitor.config import Config, ConfigFileError, load_config

err = Console(stderr=True)
out = Console()

ConfigOpt = typer.Option(..., "--config", "-c", help="The YAML configuration file.", exists=False)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigFileError as e:
        err.print(f"[red]✗[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(2) from None


def run(config: Path = ConfigOpt) -> None:
    """Run the daemon until SIGTERM or Ctrl-C."""
    from monitor.daemon import Daemon
    from monitor.logs import setup_logging

    cfg = _load(config)
    setup_logging(level=cfg.logging.level, json=cfg.logging.json_, secrets=_secrets(cfg))

    async def main() -> None:
        await Daemon(cfg).run_until_stopped()

    asyncio.run(main())


def check(config: Path = ConfigOpt) -> None:
    """Validate the configuration and try every credential; exit 0 when everything is usable."""
    from monitor.checks import run_checks

    cfg = _load(config)
    out.print(f"[green]✓[/green] {config}: configuration is valid", highlight=False)
    results = asyncio.run(run_checks(cfg))
    ok = True
    for r in results:
        mark = "[green]✓[/green]" if r.ok else "[red]✗[/red]"
        out.print(f"{mark} {r.what}: {r.detail}", highlight=False)
        ok &= r.ok
    raise typer.Exit(0 if ok else 1)


def db_upgrade(config: Path = ConfigOpt) -> None:
    """Create or migrate the database to the newest schema."""
    from monitor.storage.engine import create_engine
    from monitor.storage.migrate import upgrade

    cfg = _load(config)

    async def main() -> str:
        engine = create_engine(cfg.storage.url)
        try:
            return await upgrade(engine)
        finally:
            await engine.dispose()

    out.print(f"database is at revision {asyncio.run(main())}")


def _secrets(cfg: Config) -> list[str]:
    """Every secret value in the config, so the log redactor can hide it wherever it appears."""
    from pydantic import BaseModel, SecretStr

    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, SecretStr):
            found.append(node.get_secret_value())
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)

    walk(cfg)
    return found


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("check")(check)
    db = typer.Typer(help="Database schema.", no_args_is_help=True)
    db.command("upgrade")(db_upgrade)
    app.add_typer(db, name="db")
