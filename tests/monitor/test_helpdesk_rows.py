"""monitor.helpdesk_sync's pure parts as tables (what becomes a row, what an error becomes), the
`tickets.helpdesk` config's errors, and `check` trying the helpdesk's credentials over the sandbox."""
from __future__ import annotations

import pytest

from connectors.base import AuthError, BadPayload, ConfigError, TransientError
from monitor.checks import run_checks
from monitor.config import ConfigFileError, parse_config
from monitor.delivery import PermanentFailure, RetryLater
from monitor.helpdesk_sync import COMMENT_KIND, CREATE_KIND, ingest_effects, translate
from monitor.sandbox.core import Server
from monitor.sandbox.freshdesk_api import make_freshdesk_app
from monitor.sandbox.helpdesk_world import HelpdeskWorld
from monitor.sandbox.zendesk_api import make_zendesk_app


# the resolver's events → outbox rows: a ticket opened is a create, a post added to it a comment
@pytest.mark.parametrize(("events", "rows"), [
    ([(7, "opened", "p1")], [("helpdesk:create:7", CREATE_KIND, "helpdesk:7", None)]),
    ([(7, "joined", "p2")], [("helpdesk:note:x:p2", COMMENT_KIND, None, "helpdesk:7")]),
    ([(7, "context", "p3")], [("helpdesk:note:x:p3", COMMENT_KIND, None, "helpdesk:7")]),  # a stranger's remark
    ([(7, "responded", "p4"), (7, "first_response", "p4")],  # the brand's answer: one comment
     [("helpdesk:note:x:p4", COMMENT_KIND, None, "helpdesk:7")]),
    ([(7, "reopened", "p5"), (7, "joined", "p5")], [("helpdesk:note:x:p5", COMMENT_KIND, None, "helpdesk:7")]),
    ([(8, "opened", "p6"), (8, "joined", "p7")],
     [("helpdesk:create:8", CREATE_KIND, "helpdesk:8", None), ("helpdesk:note:x:p7", COMMENT_KIND, None, "helpdesk:8")]),
    ([], []),
])
def test_ingest_effects(events, rows) -> None:
    effects = ingest_effects("zendesk", "x", events, {"p1": "critical"})
    assert [(e.key, e.kind, e.about, e.thread_of) for e in effects] == rows
    assert all(e.target == "zendesk" for e in effects)  # one lane per helpdesk: "helpdesk:zendesk"
    assert [e.priority for e in effects if e.key == "helpdesk:create:7"] in ([], [0])  # a critical ticket first
    # the customer wrote after it was solved: the comment opens the helpdesk ticket again
    assert [e.payload.get("reopen", False) for e in effects if e.kind == COMMENT_KIND] == \
        [any(k == "reopened" and r == e.payload["post_id"] for _, k, r in events) for e in effects
         if e.kind == COMMENT_KIND]
    assert any(e.payload.get("reopen") for e in effects) == any(k == "reopened" for _, k, _ in events)


@pytest.mark.parametrize(("error", "outcome", "counts", "retry_after"), [
    (TransientError("429", retry_after=17, rate_limited=True), RetryLater, False, 17),  # a wait, not an attempt
    (TransientError("503"), RetryLater, True, None),  # an attempt; the lane backs off
    (TransientError("timeout", retry_after=5), RetryLater, True, 5),
    (AuthError("401"), RetryLater, False, 60.0),  # rows wait for a person to fix the token
    (BadPayload("not JSON"), RetryLater, True, None),  # it may have landed: looked for before the retry
    (ConfigError("422 closed prevents ticket update"), PermanentFailure, None, None),
])
def test_translate(error, outcome, counts, retry_after) -> None:
    out = translate(error, "zendesk")
    assert isinstance(out, outcome)
    if isinstance(out, RetryLater):
        assert (out.counts, out.retry_after, out.scope) == (counts, retry_after, "lane")


@pytest.mark.parametrize(("helpdesk", "env", "path", "words"), [
    ({"kind": "zendesk", "subdomain": "acme", "email": "a@acme.test", "token": "${ZD_TOKEN}"}, {},
     "tickets.helpdesk.token", "ZD_TOKEN is not set"),
    ({"kind": "jira", "url": "https://x", "token": "t"}, {}, "tickets.helpdesk.kind", "'zendesk' or 'freshdesk'"),
    ({"kind": "zendesk", "subdomain": "acme", "token": "t"}, {}, "tickets.helpdesk", "needs `email`"),
    ({"kind": "freshdesk", "token": "t"}, {}, "tickets.helpdesk", "needs `url`"),
    ({"kind": "freshdesk", "url": "https://acme.freshdesk.com", "token": "t", "status_every_s": 0}, {},
     "tickets.helpdesk.status_every_s", "greater than 0"),
])
def test_config_errors_name_the_yaml_path(helpdesk, env, path, words) -> None:
    with pytest.raises(ConfigFileError) as e:
        parse_config({"tickets": {"helpdesk": helpdesk}}, env=env)
    ((where, what),) = e.value.problems
    assert where == path and words in what


def test_subdomain_makes_the_url() -> None:
    hd = parse_config({"tickets": {"helpdesk": {"kind": "freshdesk", "subdomain": "acme", "token": "${FD}"}}},
                      env={"FD": "k"}).tickets.helpdesk
    assert hd is not None and hd.base_url == "https://acme.freshdesk.com" and hd.token.get_secret_value() == "k"


@pytest.mark.parametrize("kind", ["zendesk", "freshdesk"])
async def test_check_tries_the_credentials(kind, tmp_path) -> None:
    zd = kind == "zendesk"
    world = HelpdeskWorld(kind, username="agent@acme.test/token" if zd else "key", password="key" if zd else "X")
    server = Server((make_zendesk_app if zd else make_freshdesk_app)(world))
    url = await server.start()
    try:
        for token, ok in (("key", True), ("wrong", False)):
            cfg = parse_config({"storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"},
                                "tickets": {"helpdesk": {"kind": kind, "url": url, "token": token,
                                                         **({"email": "agent@acme.test"} if zd else {})}}})
            (result,) = [r for r in await run_checks(cfg) if r.what == f"helpdesk {kind}"]
            assert result.ok is ok, result.detail
            assert ("agent@acme.test" in result.detail) if ok else ("tickets.helpdesk: AuthError" in result.detail)
            assert "wrong" not in result.detail  # the secret is never printed
    finally:
        await server.stop()


def test_a_changed_helpdesk_needs_a_restart() -> None:
    from monitor.reload import _needs_restart

    none = parse_config({})
    zd = parse_config({"tickets": {"helpdesk": {"kind": "zendesk", "subdomain": "acme", "email": "a@acme.test",
                                                "token": "t"}}})
    assert _needs_restart(none, zd) == ["tickets.helpdesk"] and _needs_restart(zd, zd) == []
