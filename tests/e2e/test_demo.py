"""`outreach-monitor demo` runs the whole flow on the sandbox, with no credentials, and reports it."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path


def test_demo_reports_mentions_alerts_and_no_dead_rows(tmp_path) -> None:
    report = tmp_path / "r.json"
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--duration", "8", "--report", str(report)],
        capture_output=True, text=True, timeout=90, env={"PATH": "/usr/bin:/bin"},  # no credentials at all
    )
    assert run.returncode == 0, run.stdout + run.stderr
    r = json.loads(report.read_text())
    assert set(r["sources"]) == {"x", "reddit"}
    for s in r["sources"].values():
        assert s["fetched"] > 0 and s["requests"] > 0 and s["errors"] == 0
    assert r["mentions"]["stored"] > 0 and r["mentions"]["own"] >= 1
    assert sum(r["triage"].values()) == r["mentions"]["stored"] - r["mentions"]["own"]
    # every outbox row sent is one Slack message posted (alerts, the digest and its chart), one
    # alert updated in place, one public reply, or the digest's e-mail — or an update that found the
    # message already showing its state (a click's own update went first)
    n = r["notifications"]  # and one e-mail or webhook per customer notice of the outage, one status post on X
    assert (r["slack"]["messages"] + r["slack"]["updates"] + r["digests"]["email"] + n["email"] + n["webhook"]
            + r["replies"]["sent"] + n["public"] + r["outbox"]["no_effect"] == r["outbox"]["sent"] > 0)
    assert r["outbox"]["no_effect"] <= r["slack"]["updates"]
    assert r["digests"] == {"built": 1, "slack": 1, "slack_charts": 1, "email": 1}
    # /healthz as the daemon ended, while it still ran: never "the dispatcher is not delivering"
    assert not any("dispatcher" in p for p in r["healthz_problems"]), r["healthz_problems"]
    # tickets follow customers; replies were held, approved in Slack and posted once; billing went private
    t, rp = r["tickets"], r["replies"]
    assert t["opened"] > 0 and t["joined"] >= 1 and t["moved_private"] >= 1 and t["first_response_p50_s"] > 0
    assert {"solved", "sla_breaches"} <= set(t)
    assert rp["held"] >= rp["sent"] >= 1 and rp["duplicates"] == 0
    assert r["slack"]["max_per_channel_per_s"] <= 1
    # the scripted teammates' clicks went over Socket Mode and changed the alerts in place
    assert {"claim", "relabel", "resolve"} <= set(r["slack"]["actions"])
    assert r["slack"]["updates"] >= sum(r["slack"]["actions"].values()) > 0
    # the scenario's burst collapsed into a storm (a counter and summaries in its thread)
    assert r["slack"]["storms"]["collapsed"] > 0 and r["slack"]["threads"] >= 1
    assert r["outbox"]["pending"] == r["outbox"]["dead"] == 0
    assert r["incidents"]["opened"] >= 1 and r["incidents"]["resolved"] == r["incidents"]["opened"]
    # the outage: first notice and all-clear to two e-mail subscribers and a webhook, never twice
    assert n["email"] >= 4 and n["webhook"] >= 2 and n["webhook_signed_ok"] == n["webhook"]
    assert n["duplicates"] == 0
    # the status post on X (the outage, then its end) and the complainers' answers, approved in Slack
    assert n["public"] == 2 and n["acknowledged_complaints"] >= 1
    assert n["followed_up"] == n["acknowledged_complaints"]
    assert "Demo finished" in run.stdout
    # what the care team saw, the most urgent first: the scenario's critical safety report
    seen = run.stdout.split("What the care team saw in Slack", 1)[1]
    assert seen.count("── #care") >= 2 and "CRITICAL · SAFETY" in seen and "[ Claim ]" in seen
    assert seen.index("CRITICAL") < seen.index("── #care", seen.index("CRITICAL"))
    # without --db the database is kept, and the demo says where
    kept = re.search(r"database is kept at (\S+demo\.db)", " ".join(run.stdout.split()))
    assert kept is not None, run.stdout
    db = Path(kept.group(1))
    try:
        assert db.exists()
    finally:
        shutil.rmtree(db.parent, ignore_errors=True)
