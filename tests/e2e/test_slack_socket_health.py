"""/healthz tells the operators when the buttons are dead: Socket Mode connected or not, since when, why."""
from __future__ import annotations

from helpers import wait_for

from monitor.config import parse_config
from monitor.daemon import Daemon


def _daemon(stack, db_url: str, **slack) -> Daemon:
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0)
    cfg["slack"].update(slack)
    return Daemon(parse_config(cfg, env={}))


async def test_a_dropped_socket_shows_in_healthz_until_it_is_back(stack, db_url) -> None:
    daemon = _daemon(stack, db_url, socket_ping_s=0.2)
    await daemon.start()
    try:
        health = await daemon.health()
        assert health["slack_interactivity"]["mode"] == "socket"
        assert health["slack_interactivity"]["connected"] is True and health["status"] == "ok"

        workspace = stack.slack
        good = workspace.app_token
        workspace.app_token = "xapp-rotated"  # the app-level token was rotated: the daemon cannot come back
        await workspace.socket.close_all()

        async def dead() -> bool:
            s = (await daemon.health())["slack_interactivity"]
            return s["connected"] is False and s["last_error"] == "invalid_auth"
        await wait_for(stack, dead, what="healthz saying Socket Mode is down")
        health = await daemon.health()
        assert health["status"] == "degraded"  # alerts still go out: degraded, not down
        assert any("Socket Mode is disconnected" in p and "invalid_auth" in p for p in health["problems"])

        workspace.app_token = good

        async def back() -> bool:
            return (await daemon.health())["slack_interactivity"]["connected"] is True
        await wait_for(stack, back, what="the daemon reconnecting")
        health = await daemon.health()
        assert health["slack_interactivity"]["connections"] == 2 and health["status"] == "ok"
    finally:
        await daemon.stop()


async def test_a_refused_app_token_does_not_stop_the_daemon(stack, db_url) -> None:
    stack.x.add_user("anna_k", "Anna", followers=900)
    stack.x.post("anna_k", "@acme I was charged twice for my order, please refund me")
    daemon = _daemon(stack, db_url, app_token="xapp-wrong")
    await daemon.start()  # returns: alerts do not wait for the buttons
    try:
        await wait_for(stack, lambda: len(stack.slack.all_messages()) == 1, what="the alert, buttons or not")
        s = (await daemon.health())["slack_interactivity"]
        assert s["connected"] is False and s["last_error"] == "invalid_auth" and s["connections"] == 0
    finally:
        await daemon.stop()
