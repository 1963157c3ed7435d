"""SIGHUP re-reads the config file and the environment: a fixed credential is taken without a
restart; a config that does not load is refused and the old one keeps running."""
from __future__ import annotations

from helpers import wait_for, write_config
from structlog.testing import capture_logs

from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.sandbox.stack import SLACK_TOKEN, X_BEARER


async def test_sighup_takes_a_fixed_token_from_the_environment(stack, tmp_path, monkeypatch) -> None:
    cfg = stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3,
                       slack_min_interval=0)
    cfg["sources"][0]["bearer_token"] = "${OM_TEST_X_TOKEN}"
    path = write_config(tmp_path / "om.yaml", cfg)
    monkeypatch.setenv("OM_TEST_X_TOKEN", "a-revoked-token")
    daemon = Daemon(load_config(path), config_path=path)
    await daemon.start()
    poller = daemon.pollers["x"]
    try:
        await wait_for(stack, lambda: poller.health.state == "paused", what="paused: the token is refused")
        old_source = poller.source

        # the operator breaks the file first: refused, the old configuration keeps running
        path.write_text("sources: [\n")
        with capture_logs() as logs:
            assert await daemon.reload() is False
        assert poller.source is old_source and poller.health.state == "paused"
        refused = [e for e in logs if e["event"] == "config.reload_refused"]
        assert refused and "not valid YAML" in refused[0]["error"]

        # then fixes the file and the environment, and sends SIGHUP again
        write_config(path, cfg)
        monkeypatch.setenv("OM_TEST_X_TOKEN", X_BEARER)
        assert await daemon.reload() is True
        assert poller.source is not old_source and daemon.sources["x"] is poller.source
        await wait_for(stack, lambda: poller.health.state == "ok", what="resumed with the new token")
        stack.x.add_user("anna_k", "Anna")
        stack.x.post("anna_k", "@acme my refund never arrived")
        await wait_for(stack, lambda: poller.health.stored >= 1, what="a mention stored with the new token")
    finally:
        await daemon.stop()


async def test_sighup_without_changes_keeps_the_sources(stack, tmp_path) -> None:
    cfg = stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3)
    path = write_config(tmp_path / "om.yaml", cfg)
    daemon = Daemon(load_config(path), config_path=path)
    await daemon.start()
    try:
        before = daemon.pollers["x"].source
        assert await daemon.reload() is True
        assert daemon.pollers["x"].source is before  # nothing changed: nothing swapped
    finally:
        await daemon.stop()


async def test_sighup_with_a_fixed_slack_token_sends_at_once_not_at_the_next_recheck(stack, tmp_path, monkeypatch) -> None:
    cfg = stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3,
                       slack_min_interval=0)
    cfg["slack"]["token"] = "${OM_TEST_SLACK_TOKEN}"
    cfg["slack"]["auth_recheck"] = 3600  # without SIGHUP, the refused token would be tried again in an hour
    path = write_config(tmp_path / "om.yaml", cfg)
    monkeypatch.setenv("OM_TEST_SLACK_TOKEN", "xoxb-revoked")
    stack.x.add_user("anna_k", "Anna")
    tid = stack.x.post("anna_k", "@acme I was charged twice for my order")
    daemon = Daemon(load_config(path), config_path=path)
    await daemon.start()
    try:
        async def refused() -> bool:
            return str((await daemon.health())["outbox"].get("slack_token", "")).startswith("refused")

        await wait_for(stack, refused, what="delivery blocked on the refused token")
        monkeypatch.setenv("OM_TEST_SLACK_TOKEN", SLACK_TOKEN)  # the operator fixes the secret, sends SIGHUP
        assert await daemon.reload() is True
        await wait_for(stack, lambda: any(m["metadata"]["event_payload"]["key"] == f"slack.mention:x:{tid}"
                                          for m in stack.slack.all_messages()), what="the alert, right after SIGHUP")
    finally:
        await daemon.stop()
