"""The operator's commands: `run`, `check`, `db upgrade`."""
from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.config import Config, ConfigFileError, load_config
from monitor.startup import EXIT_CONFIG, EXIT_ENVIRONMENT, StartupProblem

T = TypeVar("T")
err = Console(stderr=True)
out = Console()

ConfigOpt = typer.Option(..., "--config", "-c", help="The YAML configuration file.", exists=False)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigFileError as e:
        err.print(f"[red]✗[/red] {e}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None


def with_engine(config: Path, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Load the config, run `work` with an engine on its database, dispose of the engine: what every
    operator sub-command (outbox, quarantine, tickets, replies) does around its query."""
    from monitor.storage.engine import create_engine

    cfg = _load(config)

    async def main() -> T:
        engine = create_engine(cfg.storage.url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _refuse(problem: StartupProblem) -> typer.Exit:
    """One line on stderr, the setting and the fix; the exit code says config (2) or environment (3)."""
    err.print(f"[red]✗[/red] {problem}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(problem.exit_code)


def run(config: Path = ConfigOpt) -> None:
    """Run the daemon until SIGTERM or Ctrl-C. Exit 2: the configuration is wrong; 3: the environment."""
    from monitor.daemon import Daemon
    from monitor.logs import setup_logging
    from monitor.startup import explain_bind, explain_storage, preflight

    cfg = _load(config)
    setup_logging(level=cfg.logging.level, json=cfg.logging.json_, secrets=_secrets(cfg))

    async def main() -> None:
        problem = await preflight(cfg.storage.url, cfg.server.host, cfg.server.port)
        if problem is not None:
            raise problem
        await Daemon(cfg, config_path=config).run_until_stopped()

    try:
        asyncio.run(main())
    except StartupProblem as problem:
        raise _refuse(problem) from None
    except OSError as e:  # what preflight could not foresee (the port taken in between)
        if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise _refuse(explain_bind(e, cfg.server.host, cfg.server.port)) from None
        raise _refuse(explain_storage(e, cfg.storage.url)) from None
    except SQLAlchemyError as e:  # the database went away between preflight and migration
        raise _refuse(explain_storage(e, cfg.storage.url)) from None


def check(config: Path = ConfigOpt) -> None:
    """Validate the configuration and try every credential. Exit 0 when everything is usable, 1 when
    a source or Slack refused, 2 when the configuration is wrong, 3 when the database is unusable."""
    from monitor.checks import run_checks

    cfg = _load(config)
    out.print(f"[green]✓[/green] {config}: configuration is valid", highlight=False, soft_wrap=True)
    results = asyncio.run(run_checks(cfg))
    code = 0
    for r in results:
        mark = "[green]✓[/green]" if r.ok else "[red]✗[/red]"
        out.print(f"{mark} {r.what}: {r.detail}", highlight=False, soft_wrap=True)
        if not r.ok:
            code = max(code, EXIT_ENVIRONMENT if r.environment else 1)
    raise typer.Exit(code)


def db_upgrade(config: Path = ConfigOpt) -> None:
    """Create or migrate the database to the newest schema."""
    from monitor.startup import storage_problem
    from monitor.storage.engine import create_engine
    from monitor.storage.migrate import upgrade

    cfg = _load(config)

    async def main() -> str:
        problem = await storage_problem(cfg.storage.url)
        if problem is not None:
            raise problem
        engine = create_engine(cfg.storage.url)
        try:
            return await upgrade(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(main())
    except StartupProblem as problem:
        raise _refuse(problem) from None
    out.print(f"database is at revision {revision}")


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
