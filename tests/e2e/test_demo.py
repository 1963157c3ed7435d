"""`outreach-monitor demo` runs the whole flow on the sandbox, with no credentials, and reports it."""
from __future__ import annotations

import json
import subprocess
import sys


def test_demo_reports_mentions_alerts_and_no_dead_rows(tmp_path) -> None:
    report = tmp_path / "r.json"
    db = tmp_path / "demo.db"
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--duration", "8", "--report", str(report), "--db", str(db)],
        capture_output=True, text=True, timeout=90, env={"PATH": "/usr/bin:/bin"},  # no credentials at all
    )
    assert run.returncode == 0, run.stdout + run.stderr
    r = json.loads(report.read_text())
    assert set(r["sources"]) == {"x", "reddit"}
    for s in r["sources"].values():
        assert s["fetched"] > 0 and s["requests"] > 0 and s["errors"] == 0
    assert r["mentions"]["stored"] > 0 and r["mentions"]["own"] >= 1
    assert sum(r["triage"].values()) == r["mentions"]["stored"] - r["mentions"]["own"]
    n = r["notifications"]
    assert r["slack"]["messages"] == r["outbox"]["sent"] - n["email"] - n["webhook"] > 0
    assert r["slack"]["max_per_channel_per_s"] <= 1
    assert r["outbox"]["pending"] == r["outbox"]["dead"] == 0
    assert r["incidents"]["opened"] >= 1 and r["incidents"]["resolved"] == r["incidents"]["opened"]
    # the outage: first notice and all-clear to two e-mail subscribers and a webhook, never twice
    assert n["email"] >= 4 and n["webhook"] >= 2 and n["webhook_signed_ok"] == n["webhook"]
    assert n["duplicates"] == 0
    assert db.exists()  # kept for inspection
    assert "Demo finished" in run.stdout
