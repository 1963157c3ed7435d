"""Config: ${ENV} interpolation and errors that name the YAML path."""
from __future__ import annotations

import pytest

from monitor.config import ConfigFileError, load_config, parse_config

GOOD = {
    "brand": {"name": "Acme", "own_handles": ["@AcmeAir"]},
    "sources": [{"type": "x", "bearer_token": "${X_TOKEN}", "handles": ["acmeair"], "queries": ["acme"]}],
    "slack": {"token": "${SLACK_TOKEN}", "channels": {"critical": "#urgent", "normal": "#care"}},
}


def test_env_secrets_are_interpolated_and_hidden_in_repr() -> None:
    cfg = parse_config(GOOD, env={"X_TOKEN": "x-secret-1", "SLACK_TOKEN": "xoxb-test"})
    assert cfg.sources[0].bearer_token.get_secret_value() == "x-secret-1"
    assert "x-secret-1" not in repr(cfg)
    assert cfg.brand.own_handles == ["acmeair"]


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"sources": [{"type": "x", "bearer_token": "${NOPE}"}]}, "sources[0].bearer_token", "NOPE is not set"),
        ({"sources": [{"type": "x"}]}, "sources[0].bearer_token", "Field required"),
        ({"sources": [{"type": "x", "bearer_token": "t", "handls": []}]}, "sources[0].handls", "Extra inputs"),
        ({"sources": [{"type": "mastodon"}]}, "sources[0]", "'x', 'reddit'"),
        ({"sources": [{"type": "x", "bearer_token": "t", "interval": -1}]}, "sources[0].interval", "greater than 0"),
        ({"slack": {"token": "t", "channels": {"urgent": "#a"}}}, "slack.channels", "unknown urgency"),
        ({"outbox": {"give_up_after": 0}}, "outbox.give_up_after", "greater than 0"),
            ({"failover_seconds": 1}, "failover_seconds", "greater than or equal to 3"),
        (
            {"sources": [{"type": "x", "bearer_token": "t"}, {"type": "x", "bearer_token": "u"}]},
            "sources",
            "two sources are named 'x'",
        ),
        ([1, 2], "", "mapping at the top level"),
    ],
)
def test_bad_config_names_the_yaml_path(data: object, path: str, words: str) -> None:
    with pytest.raises(ConfigFileError) as e:
        parse_config(data, env={})
    assert (path, words) in [(p, w) for p, msg in e.value.problems for w in [words] if w in msg], e.value.problems


def test_default_in_env_reference() -> None:
    cfg = parse_config({"storage": {"url": "${DB_URL:-sqlite:///x.db}"}}, env={})
    assert cfg.storage.url == "sqlite:///x.db"


def test_unreadable_and_invalid_yaml_files(tmp_path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - type: x\n   bearer_token: [\n")
    with pytest.raises(ConfigFileError, match="line 3"):
        load_config(bad)


def test_example_config_is_valid() -> None:
    from pathlib import Path

    example = Path(__file__).parents[2] / "config" / "outreach-monitor.example.yaml"
    cfg = load_config(example, env={"X_BEARER_TOKEN": "t", "SLACK_BOT_TOKEN": "xoxb-1", "REDDIT_CLIENT_SECRET": "s",
                                    "REDDIT_PASSWORD": "p", "INTAKE_SECRET": "i", "SMTP_PASSWORD": "m",
                                    "STATUS_WEBHOOK_SECRET": "w"})
    assert cfg.sources, "the example should show at least one source"


def test_triage_paths_are_read_beside_the_config_file(tmp_path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "om.yaml"
    path.write_text("triage:\n  rules: my-rules.yaml\n  model: /var/lib/om/model.json\n")
    cfg = load_config(path)
    assert cfg.triage.rules == tmp_path / "etc" / "my-rules.yaml"
    assert str(cfg.triage.model) == "/var/lib/om/model.json"


def test_alert_min_urgency_must_be_an_urgency() -> None:
    with pytest.raises(ConfigFileError, match="triage.alert_min_urgency"):
        parse_config({"triage": {"alert_min_urgency": "urgent"}}, env={})
