"""`outreach-monitor classify`: the JSONL contract on the shipped defaults and with an operator's rules."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from monitor.triage import cli as triage_cli

FIELDS = {"id", "urgency", "category", "complaint", "actionable", "sentiment", "score", "confidence", "reasons"}


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    a = typer.Typer()
    triage_cli.register(a)
    return a


def run(app, args, stdin: str):
    return CliRunner().invoke(app, args, input=stdin)


def test_contract_on_shipped_defaults(app):
    lines = [
        {"id": 1, "text": "you charged me twice, refund please", "author": {"followers": 48000, "verified": True}},
        {"id": "b", "text": "thanks, lovely service", "metrics": {"like_count": 3}, "source": "x", "lang": "en"},
        {"id": None, "text": ""},
    ]
    r = run(app, ["classify"], "\n".join(json.dumps(x) for x in lines) + "\n")
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, "b", None]
    for o in out:
        assert set(o) == FIELDS
        assert o["urgency"] in {"critical", "high", "normal", "low", "ignore"}
        assert isinstance(o["reasons"], list)
    assert out[0]["category"] == "billing" and out[0]["complaint"] is True
    assert "author has 48k followers, verified" in out[0]["reasons"]
    assert out[1]["category"] == "praise"


def test_bad_lines_are_reported_and_the_rest_carry_on(app):
    stdin = "\n".join([
        '{"id": 1, "text": "the app is down"}',
        "{not json",
        "",
        '{"id": 3}',
        "[1, 2]",
        '{"id": 6, "text": "where is my parcel?"}',
    ]) + "\n"
    r = run(app, ["classify"], stdin)
    assert r.exit_code == 1
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [1, 6]
    assert "line 2: not valid JSON" in r.stderr
    assert "line 4: `text` is missing" in r.stderr
    assert "line 5: expected a JSON object" in r.stderr
    assert "line 3" not in r.stderr  # blank lines are skipped, not errors


def test_config_applies_operator_rules(app, tmp_path):
    rules = tmp_path / "my-rules.yaml"
    rules.write_text("categories:\n  recall:\n    base: 70\n    complaint: true\n    actionable: true\n"
                     "    phrases: [widget recall]\n")
    cfg = tmp_path / "outreach-monitor.yaml"
    cfg.write_text("triage:\n  rules: my-rules.yaml\n")  # relative to the config file
    r = run(app, ["classify", "--config", str(cfg)], '{"id": 1, "text": "is my unit in the widget recall?"}\n')
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["category"] == "recall"


def test_bad_operator_rules_fail_with_the_path(app, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("categories:\n  billing:\n    patterns: ['a', 'b', '(x']\n")
    r = run(app, ["classify", "--rules", str(rules)], "")
    assert r.exit_code == 2
    assert "categories.billing.patterns[2]: invalid regex" in r.stderr


def test_installed_command_works_offline_with_no_config():
    exe = Path(sys.executable).with_name("outreach-monitor")
    if not exe.exists():
        pytest.skip(f"{exe} is not installed")
    p = subprocess.run([str(exe), "classify"], input='{"id": 7, "text": "my account was hacked"}\n',
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["id"] == 7 and out["category"] == "security" and out["urgency"] in {"high", "critical"}


def test_the_contract_reads_in_chunks_and_answers_each_chunk_at_once():
    import io

    from monitor.triage import contract, load_triage

    lines = b"".join(json.dumps({"id": i, "text": f"order {i} never arrived"}).encode() + b"\n" for i in range(50))
    lines += b"\n" + b"not json\n" + b'{"id": 99, "text": "thanks!"}'  # a blank line, a bad one, no final newline
    src = io.BytesIO(lines)
    writes: list[bytes] = []
    problems: list[str] = []
    chunks = iter([lines[:37], lines[37:300], lines[300:]])  # lines cut in the middle, as pipes deliver them
    bad = contract.run(load_triage(), lambda size: next(chunks, b""), writes.append, report=problems.append)
    out = [json.loads(x) for x in b"".join(writes).splitlines()]
    assert [o["id"] for o in out] == [*range(50), 99]
    assert bad == 1 and problems == ["line 52: not valid JSON (Expecting value at column 1)"]
    assert len(writes) == 3  # one write per chunk that completed lines, not one per line
    assert src.read(0) == b""
