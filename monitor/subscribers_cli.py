"""`outreach-monitor subscribers add|list|remove`: who is told about incidents and delays, without editing
the config (the config's `subscribers:` are listed too, read-only). The running daemon reads the table on
every notice: no restart."""
from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import typer

from monitor.incidents_cli import _run, _when, err, out
from monitor.ops_cli import ConfigOpt

subscribers_app = typer.Typer(help="Subscribers to incident and delay notices: add, list, remove.",
                              no_args_is_help=True)


@subscribers_app.command("add")
def add_(
    address: str = typer.Argument(..., help="An e-mail address or an http(s) webhook URL."),
    service: list[str] = typer.Option([], "--service", help="Only these services (repeat; default: all)."),
    region: list[str] = typer.Option([], "--region", help="Only these regions (delays)."),
    segment: list[str] = typer.Option([], "--segment", help="Only these segments (delays)."),
    config: Path = ConfigOpt,
) -> None:
    from outreach import subscribers

    async def fn(conn: Any, cfg: Any) -> tuple[int, bool]:
        try:
            kind, _ = subscribers.parse_address(address)
        except subscribers.SubscriberError as e:
            err.print(f"[red]✗[/red] {e}", highlight=False)
            raise typer.Exit(2) from None
        known = {s.name for s in cfg.services}
        if unknown := [s for s in service if s not in known]:
            err.print(f"[red]✗[/red] unknown service {unknown[0]!r}; known: {sorted(known)}", highlight=False)
            raise typer.Exit(2)
        if kind == "email" and cfg.email is None:
            err.print("[red]✗[/red] email: e-mail subscribers need an email: section (the SMTP relay) in the config",
                      highlight=False)
            raise typer.Exit(2)
        return await subscribers.add(conn, address, services=service, regions=region, segments=segment,
                                     by=f"person:{getpass.getuser()}")

    sid, added = _run(config, fn)
    out.print(f"subscriber {sid} {'added' if added else 'was already subscribed (nothing changed)'}")


@subscribers_app.command("list")
def list_(config: Path = ConfigOpt) -> None:
    """Everyone who is told: the config's, then the table's (with the id `remove` takes)."""
    from monitor.notify_jobs import subscribers_from
    from outreach import subscribers

    async def fn(conn: Any, cfg: Any) -> tuple[list[Any], list[Any]]:
        return subscribers_from(cfg), await subscribers.stored(conn)

    configured, stored = _run(config, fn, write=False)

    def line(ident: str, s: Any, added: str = "") -> None:
        shown = f"apprise {s.ref}" if s.kind == "apprise" else s.address  # an apprise URL holds a token
        scope = "; ".join(f"{k}: {', '.join(v)}" for k, v in (("services", s.services), ("regions", s.regions),
                                                              ("segments", s.segments)) if v) or "everything"
        out.print(f"{ident:>6}  {s.kind:<7}  {shown}  ({scope}){added}", highlight=False, soft_wrap=True)

    for s in configured:
        line("config", s)
    for st in stored:
        line(str(st.id), st.subscriber, f"  added {_when(st.created_at)} by {st.added_by}")
    if not configured and not stored:
        out.print("no subscribers (config `subscribers:` or `outreach-monitor subscribers add`)")


@subscribers_app.command("remove")
def remove_(ref: str = typer.Argument(..., help="The id from `list`, or the address."), config: Path = ConfigOpt) -> None:
    from outreach import subscribers

    async def fn(conn: Any, cfg: Any) -> int:
        try:
            return await subscribers.remove(conn, ref)
        except subscribers.SubscriberError as e:
            err.print(f"[red]✗[/red] {e}", highlight=False)
            raise typer.Exit(2) from None

    if not _run(config, fn):
        err.print(f"[red]✗[/red] no stored subscriber {ref!r} (the config's are removed by editing it)", highlight=False)
        raise typer.Exit(1)
    out.print(f"subscriber {ref} removed")


def register(app: typer.Typer) -> None:
    app.add_typer(subscribers_app, name="subscribers")
