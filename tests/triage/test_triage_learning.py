"""relabel -> train -> use: the model is switched on only when it beats the rules on held-back labels."""
from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
import typer
from typer.testing import CliRunner

from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade
from monitor.storage.schema import mentions
from monitor.triage import cli as triage_cli
from monitor.triage import feedback, load_triage
from monitor.triage.feedback import Correction
from monitor.triage.model import ModelError, load_model
from monitor.triage.training import train

POINTS = ["points balance", "reward points", "loyalty miles", "star balance", "bonus credits"]
VANISH = ["vanished", "disappeared", "went to zero", "reset overnight", "is gone", "shows nothing"]
THING = ["kiosk screen", "scanner at the gate", "smart lock", "thermostat", "self checkout till"]
FLICKER = ["flickers", "keeps rebooting", "shows a spinning wheel", "goes blank", "beeps forever"]
CHAT = ["saw your ad on tv", "my cousin works there", "nice weather in town", "watching the match", "new logo huh"]


def team_labels(n: int, seed: int = 1) -> list[tuple[str, str, str]]:
    """Posts in words the shipped rules do not know, labelled the way a team would."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 3
        tail = rng.choice(["", " today", " again", " this morning", " at the store"])
        if kind == 0:
            out.append((f"my {rng.choice(POINTS)} {rng.choice(VANISH)}{tail}", "billing", "normal"))
        elif kind == 1:
            out.append((f"the {rng.choice(THING)} {rng.choice(FLICKER)}{tail}", "outage", "high"))
        else:
            out.append((f"{rng.choice(CHAT)}{tail}", "other", "low"))
    return out


def corrections(rows) -> list[Correction]:
    return [Correction(i, t, u, c, "test", float(i)) for i, (t, c, u) in enumerate(rows)]


@pytest.fixture(scope="module")
def triage():
    return load_triage()


def test_learns_what_the_rules_miss_and_is_accepted(triage, tmp_path):
    result = train(triage, corrections(team_labels(90)))
    assert result.accepted, result.report()
    assert result.blend_score > result.rules_score
    report = result.report()
    assert "accepted" in report and "category billing:" in report
    path = tmp_path / "model.json"
    result.model.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "outreach-monitor/triage-model" and doc["version"] == 1
    used = load_triage(model_path=path)
    v = used.classify_text("my star balance vanished again")
    assert v.category == "billing"
    assert any("learned model" in r for r in v.reasons)
    # strong rule evidence is not overridden
    assert used.classify_text("my account was hacked, someone logged in").category == "security"


def test_refused_when_it_cannot_beat_the_rules(triage):
    # the team agreed with every verdict: there is nothing to gain, so nothing changes
    texts = [t for t, _, _ in team_labels(60)] + ["you charged me twice", "the app is down", "thanks a lot, great job"] * 10
    rows = []
    for i, t in enumerate(texts):
        v = triage.classify_text(t)
        rows.append(Correction(i, t, v.urgency, v.category, "test", float(i)))
    result = train(triage, rows)
    assert not result.accepted and result.model is None
    assert "refused" in result.report()


def test_refused_with_too_few_corrections(triage):
    result = train(triage, corrections(team_labels(10)), min_feedback=30)
    assert not result.accepted and "too few" in result.report()


@pytest.mark.parametrize("content,fragment", [
    ("not json", "invalid JSON"),
    ('{"format": "something-else"}', "not a triage model"),
    ('{"format": "outreach-monitor/triage-model", "version": 99}', "version 99"),
    ('{"format": "outreach-monitor/triage-model", "version": 1, "heads": {}}', "damaged"),
])
def test_bad_model_files_are_refused_clearly(tmp_path, content, fragment):
    p = tmp_path / "m.json"
    p.write_text(content)
    with pytest.raises(ModelError, match=fragment):
        load_model(p)


async def test_corrections_keep_the_newest_per_mention(engine):
    await feedback.record(engine, mention_id=1, text="a", urgency="low", category=None, by="x", now=1.0)
    await feedback.record(engine, mention_id=1, text="a", urgency=None, category="billing", by="y", now=2.0)
    await feedback.record(engine, mention_id=None, text="b", urgency="high", category="outage", by="x", now=3.0)
    got = sorted(await feedback.corrections(engine), key=lambda c: c.text)
    assert [(c.text, c.urgency, c.category, c.by) for c in got] == [("a", "low", "billing", "y"), ("b", "high", "outage", "x")]


# -- end to end through the CLI -----------------------------------------------------------------

async def _seed_mentions(url: str, texts: list[str]) -> list[int]:
    eng = create_engine(url)
    try:
        await upgrade(eng)
        ids = []
        async with eng.begin() as conn:
            for i, t in enumerate(texts):
                r = await conn.execute(mentions.insert().values(
                    source="x", external_id=str(i), author_id="1", text=t, created_at=time.time(),
                    fetched_at=time.time()))
                ids.append(r.inserted_primary_key[0])
        return ids
    finally:
        await eng.dispose()


async def _record_rest(url: str, items) -> None:
    eng = create_engine(url)
    try:
        for mid, (text, cat, urg) in items:
            await feedback.relabel_mention(eng, mid, urgency=urg, category=cat, by="slack")
    finally:
        await eng.dispose()


def test_relabel_train_use_end_to_end(tmp_path):
    db = tmp_path / "om.db"
    cfg = tmp_path / "om.yaml"
    cfg.write_text(f"storage:\n  url: sqlite:///{db}\ntriage:\n  model: triage-model.json\n")
    rows = team_labels(90, seed=3)
    ids = asyncio.run(_seed_mentions(f"sqlite+aiosqlite:///{db}", [t for t, _, _ in rows]))
    app = typer.Typer()
    triage_cli.register(app)
    runner = CliRunner()

    r = runner.invoke(app, ["triage", "relabel", str(ids[0]), "--urgency", "urgent", "--config", str(cfg)])
    assert r.exit_code == 2 and "--urgency must be one of" in r.stderr
    r = runner.invoke(app, ["triage", "relabel", "999999", "--category", "billing", "--config", str(cfg)])
    assert r.exit_code == 2 and "no mention with id 999999" in r.stderr
    r = runner.invoke(app, ["triage", "train", "--config", str(cfg)])
    assert r.exit_code == 1 and "too few" in r.stdout

    for mid, (_, cat, urg) in list(zip(ids, rows))[:3]:
        r = runner.invoke(app, ["triage", "relabel", str(mid), "--urgency", urg, "--category", cat, "--by", "ana",
                                "--config", str(cfg)])
        assert r.exit_code == 0, r.output
        assert f"mention {mid} relabelled ({urg}, {cat})" in r.stdout
    asyncio.run(_record_rest(f"sqlite+aiosqlite:///{db}", list(zip(ids, rows))[3:]))  # as Slack would

    r = runner.invoke(app, ["triage", "train", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "accepted" in r.stdout and (tmp_path / "triage-model.json").exists()

    r = runner.invoke(app, ["classify", "--config", str(cfg)], input='{"id": 1, "text": "my bonus credits went to zero"}\n')
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["category"] == "billing" and any("learned model" in x for x in out["reasons"])


def test_relabel_rejects_unknown_category(tmp_path):
    cfg = tmp_path / "om.yaml"
    cfg.write_text(f"storage:\n  url: sqlite:///{tmp_path / 'om.db'}\n")
    app = typer.Typer()
    triage_cli.register(app)
    r = CliRunner().invoke(app, ["triage", "relabel", "1", "--category", "weather", "--config", str(cfg)])
    assert r.exit_code == 2 and "--category must be one of" in r.stderr


def test_shipped_examples_are_tried_and_reported(triage):
    extra = [(t, c) for t, c, _ in team_labels(60, seed=9)]
    result = train(triage, corrections(team_labels(60)), extra=extra)
    assert result.accepted
    assert "60 examples from the shipped data" in result.report()
    assert result.model.meta["shipped_examples"] in (0, 60)
