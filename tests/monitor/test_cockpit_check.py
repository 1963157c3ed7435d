"""`check` tells the operator whether the cockpit's Slack settings work, naming the YAML path."""
from __future__ import annotations

from monitor.config import parse_config
from monitor.sandbox.core import Server
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app
from monitor.slack_cockpit import check_cockpit


async def test_check_names_what_is_wrong() -> None:
    ws = SlackWorkspace(rate_per_channel=None)
    server = Server(make_slack_app(ws))
    base = await server.start() + "/api/"
    try:
        def cfg(**slack):
            return parse_config({"slack": {"token": ws.token, "api_base": base, **slack}}, env={}).slack

        good = await check_cockpit(cfg(app_token=ws.app_token, approvers_group="S0APPROVERS",
                                       oncall_group="S0ONCALL"))
        assert [(w, ok) for w, ok, _ in good] == [("slack.app_token", True), ("slack.approvers_group", True),
                                                  ("slack.oncall_group", True)]
        bad = await check_cockpit(cfg(app_token=ws.token, approvers_group="S0NOSUCH"))
        assert [(w, ok) for w, ok, _ in bad] == [("slack.app_token", False), ("slack.approvers_group", False)]
        assert bad[0][2].startswith("this is not an app-level token")
        assert bad[1][2] == "there is no user group S0NOSUCH"
        assert await check_cockpit(cfg()) == []  # no cockpit configured: nothing to check
    finally:
        await server.stop()
