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
    # every sent row is a Slack message (alerts, the digest and its chart) but the digest's e-mail
    assert r["slack"]["messages"] + r["digests"]["email"] == r["outbox"]["sent"] > 0
    assert r["digests"] == {"built": 1, "slack": 1, "slack_charts": 1, "email": 1}
    assert r["slack"]["max_per_channel_per_s"] <= 1
    assert r["outbox"]["pending"] == r["outbox"]["dead"] == 0
    assert db.exists()  # kept for inspection
    assert "Demo finished" in run.stdout
