"""`outreach-monitor sandbox` (the fake outside world, standalone) and `outreach-monitor demo`."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console


def sandbox(
    x_port: int = typer.Option(8701, help="Port for the X API v2 stand-in (0: any free port)."),
    slack_port: int = typer.Option(8702, help="Port for the Slack Web API stand-in (0: any free port)."),
    reddit_port: int = typer.Option(8703, help="Port for the Reddit API stand-in (0: any free port)."),
    scenario: bool = typer.Option(True, help="Keep playing the demo scenario's posts into the fake X and Reddit."),
    write_config: Path | None = typer.Option(
        None, "--write-config", help="Write a ready daemon config pointing at this sandbox to this file."),
    db: Path | None = typer.Option(None, help="The database that config uses (default: beside the config file)."),
    http_port: int = typer.Option(8080, help="The /healthz port that config uses (0: any free port)."),
    health_port: int = typer.Option(8704, help="Port for the flaky services, Statuspage, delay feed and webhook sink."),
    smtp_port: int = typer.Option(8725, help="Port for the SMTP server (plain, no auth)."),
) -> None:
    """Run the sandbox until Ctrl-C and print its base URLs; with --write-config, a config for
    `outreach-monitor check` and `run` (handles, subreddit, channels, www_base, the sandbox's tokens)."""
    from monitor.sandbox.stack import (
        REDDIT_BOT,
        REDDIT_CLIENT,
        SLACK_TOKEN,
        X_BEARER,
        SandboxStack,
    )
    from monitor.sandbox.traffic import keep_playing

    async def main() -> None:
        stack = SandboxStack(ports={"x": x_port, "slack": slack_port, "reddit": reddit_port})
        urls = await stack.start()
        # what a config names must exist even before the scenario's first post
        stack.x.add_user(BRAND, BRAND.title(), followers=250_000, verified=True)
        stack.reddit.add_subreddit(BRAND)
        traffic = asyncio.create_task(keep_playing(stack, BRAND)) if scenario else None
        print(f"X API v2:      {urls['x']}   (bearer token: {X_BEARER})")
        print(f"Reddit API:    {urls['reddit']}   (client {REDDIT_CLIENT[0]} / {REDDIT_CLIENT[1]}, "
              f"user {REDDIT_BOT[0]} / {REDDIT_BOT[1]})")
        print(f"Slack Web API: {urls['slack']}   (bot token: {SLACK_TOKEN})")
        print(f"Slack by hand: {urls['slack'].removesuffix('api/')}   (open it in a browser: the channels, "
              "and the alerts' buttons to click as a teammate)")
        from monitor.sandbox.core import Server
        from monitor.sandbox.health_world import HealthWorld, make_health_app
        from monitor.sandbox.smtp import SandboxSMTP

        health = Server(make_health_app(HealthWorld()), port=health_port)
        h = await health.start()
        smtp = SandboxSMTP(port=smtp_port)
        await smtp.start()
        print(f"Health:        {h}/svc/<service>/health (POST {h}/control/<service>/up|down|slow|flapping), "
              f"{h}/statuspage (a Statuspage), {h}/delays (a delay feed), POST {h}/hooks/<name> (webhook sink)")
        print(f"SMTP:          127.0.0.1:{smtp.port}   (security: none)")
        if write_config is not None:
            _write_config(stack, write_config, db, http_port)
            print(f"Config written to {write_config}: outreach-monitor check --config {write_config} && "
                  f"outreach-monitor run --config {write_config}")
        print("sandbox ready" + (", playing the demo scenario until stopped" if scenario else ""), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            if traffic is not None:
                traffic.cancel()
            await smtp.stop()
            await health.stop()
            await stack.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


BRAND = "acme"
_HEADER = """\
# Written by `outreach-monitor sandbox --write-config`: a daemon config pointing at the local
# sandbox (X, Reddit and Slack stand-ins on 127.0.0.1). The tokens below are the sandbox's, not
# secrets; a real config reads its secrets from the environment (${NAME}). Valid while the sandbox
# runs on the same ports.
"""


def _write_config(stack: Any, path: Path, db: Path | None, http_port: int) -> None:
    import yaml

    database = (db or path.resolve().parent / "outreach-sandbox.db").resolve()
    cfg = stack.config(brand=BRAND, db_url=f"sqlite:///{database}", reddit=True, x_interval=10, reddit_interval=10,
                       http_port=http_port)
    path.write_text(_HEADER + yaml.safe_dump(cfg, sort_keys=False))


def demo(
    duration: float = typer.Option(40.0, help="Seconds of scenario to play."),
    report: Path | None = typer.Option(None, help="Write the summary as JSON here."),
    db: Path | None = typer.Option(None, help="Keep the SQLite database here for inspection."),
    seed: int = typer.Option(7, help="Scenario seed."),
) -> None:
    """Run the whole flow against the sandbox: no credentials, no network."""
    from monitor.demo import run_demo
    from monitor.logs import setup_logging

    console = Console()
    log_path = Path(str(report) + ".log") if report else None
    with open(log_path or "/dev/null", "w") as log_stream:
        setup_logging(level="info", json=True, stream=log_stream)
        result = asyncio.run(run_demo(duration=duration, report_path=report, db_path=db, seed=seed, console=console))
    ok = result["mentions"]["stored"] > 0 and result["slack"]["messages"] > 0 and result["outbox"]["dead"] == 0
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
    app.command("demo")(demo)
