"""`outreach-monitor digest --db FILE`: the three formats from a stored database, and clear errors."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from digest_rows import store
from typer.testing import CliRunner

from monitor.cli import _register_all, app
from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade

_register_all()
runner = CliRunner()


@pytest.fixture
async def db(tmp_path) -> Path:
    path = tmp_path / "d.db"
    engine = create_engine(f"sqlite:///{path}")
    await upgrade(engine)
    await store(engine)
    await engine.dispose()
    return path


ARGS = ["--since", "7d", "--until", "2026-11-30", "--timezone", "Europe/Paris", "--brand", "Acme"]


def test_json_with_a_config_naming_competitors(db, tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"brand: {{name: Acme}}\nstorage: {{url: 'sqlite:///{db}'}}\n"
                      "digests: {timezone: Europe/Paris, competitors: [{name: Globex}]}\n")
    out = tmp_path / "d.json"
    r = runner.invoke(app, ["digest", "--config", str(config), "--since", "7d", "--until", "2026-11-30",
                            "--format", "json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["volume"]["total"] == 5 and d["sentiment"]["average"] == -0.14
    assert [v["mentions"] for v in d["share_of_voice"]["voices"]] == [5, 1]
    assert {"volume", "sentiment", "top_posts", "themes", "share_of_voice", "authors", "incidents", "care",
            "coverage"} <= set(d)


def test_markdown_and_html(db, tmp_path) -> None:
    r = runner.invoke(app, ["digest", "--db", str(db), *ARGS, "--format", "md"])
    assert r.exit_code == 0, r.output
    assert "# Acme — Weekly digest, 23 Nov – 29 Nov 2026" in r.stdout
    # no competitors named here: the Globex posts count as the brand's (6 this week, 4 the week before)
    assert "**6 mentions (+50% vs last week)**" in r.stdout
    out = tmp_path / "d.html"
    r = runner.invoke(app, ["digest", "--db", str(db), *ARGS, "--format", "html", "--out", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert html.count('src="data:image/png;base64,') == 3  # volume, categories, tone (no competitors named)
    assert "<title>Acme — Weekly digest, 23 Nov – 29 Nov 2026</title>" in html


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "last tuesday"], "neither a span"),
    (["--format", "pdf"], "expected html, md or json"),
    (["--timezone", "Mars/Olympus"], "unknown time zone"),
])
def test_bad_arguments_say_what_is_wrong(db, args, message) -> None:
    r = runner.invoke(app, ["digest", "--db", str(db), *args])
    assert r.exit_code == 2
    assert message in r.output


def test_needs_one_database(tmp_path) -> None:
    r = runner.invoke(app, ["digest", "--db", str(tmp_path / "missing.db")])
    assert r.exit_code == 2 and "no such file" in r.output


def test_an_older_schema_is_reported_not_read(tmp_path) -> None:
    path = tmp_path / "old.db"

    async def old() -> None:
        engine = create_engine(f"sqlite:///{path}")
        await upgrade(engine, "0005")
        await engine.dispose()

    asyncio.run(old())  # the command runs its own event loop: this test is not a coroutine
    r = runner.invoke(app, ["digest", "--db", str(path), "--format", "json"])
    assert r.exit_code == 2 and "schema revision 0005" in r.output and "db upgrade" in r.output
