"""`outreach-monitor incidents …` on a real database: open, update, resolve, and the refusals."""
from __future__ import annotations

import yaml
from typer.testing import CliRunner

from monitor.cli import _register_all, app


def test_a_person_runs_an_incident_from_the_shell(tmp_path) -> None:
    cfg = tmp_path / "om.yaml"
    cfg.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path / 'om.db'}"},
                                   "services": [{"name": "checkout", "public_name": "Checkout"}]}))
    _register_all()
    run = CliRunner().invoke
    c = ["--config", str(cfg)]
    r = run(app, ["incidents", "open", "checkout", "--title", "Checkout errors", "-m", "We are looking into it.",
                  "--by", "ana", *c])
    assert r.exit_code == 0 and "incident #1 opened" in r.output, r.output
    r = run(app, ["incidents", "open", "checkout", "--title", "again", "-m", "x", *c])
    assert "already open" in r.output
    r = run(app, ["incidents", "update", "1", "--status", "identified", "-m", "A bad deploy", "--note", "deploy [42]", *c])
    assert r.exit_code == 0 and "identified" in r.output
    assert run(app, ["incidents", "update", "1", "--status", "fixed", "-m", "x", *c]).exit_code == 1
    assert run(app, ["incidents", "resolve", "1", *c]).exit_code == 0
    r = run(app, ["incidents", "resolve", "1", *c])
    assert r.exit_code == 1 and "already resolved" in r.output
    r = run(app, ["incidents", "show", "1", *c])
    assert "person:ana" in r.output and "deploy [42]" in r.output and "resolved" in r.output
    r = run(app, ["incidents", "open", "warehouse", "--title", "t", "-m", "m", *c])
    assert r.exit_code == 2 and "unknown service" in r.output
    r = run(app, ["incidents", "list", "--all", *c])
    assert "Checkout" in r.output
