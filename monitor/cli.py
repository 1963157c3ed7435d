"""The `outreach-monitor` command. Each area registers its own commands; this file only wires them."""
from __future__ import annotations

import signal
import sys

import typer

app = typer.Typer(
    name="outreach-monitor",
    help="Watch what people say about the brand and how its services are doing; tell the team; answer safely.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_all() -> None:
    from monitor import care_cli, incidents_cli, ops_cli, outbox_cli, quarantine_cli, subscribers_cli
    from monitor.digest import cli as digest_cli
    from monitor.sandbox import cli as sandbox_cli
    from monitor.triage import cli as triage_cli

    ops_cli.register(app)
    care_cli.register(app)
    outbox_cli.register(app)
    quarantine_cli.register(app)
    incidents_cli.register(app)
    subscribers_cli.register(app)
    triage_cli.register(app)
    sandbox_cli.register(app)
    digest_cli.register(app)


def main() -> None:
    if sys.argv[1:2] == ["run"]:
        # A daemon told to stop while it is still importing has nothing in flight: leave cleanly
        # (exit 0, as after a drain). The event loop installs the draining handler once it runs.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _register_all()
    app()
