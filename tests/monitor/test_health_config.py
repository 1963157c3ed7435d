"""The health sections' errors name the YAML path, including references between sections."""
from __future__ import annotations

import pytest

from monitor.config import ConfigFileError, parse_config

BASE = {"services": [{"name": "checkout"}, {"name": "payments"}]}

CASES = [
    ({"checks": [{"name": "c", "service": "cart", "url": "http://x/"}]}, "checks[0].service", "unknown service 'cart'"),
    ({"checks": [{"name": "c", "service": "checkout", "url": "x"}]}, "checks[0].url", "http"),
    ({"checks": [{"name": "c", "service": "checkout", "url": "http://x/"}] * 2}, "checks[1].name", "two checks"),
    ({"services": [{"name": "checkout", "depends_on": ["ledger"]}]}, "services[0].depends_on[0]", "unknown service"),
    ({"services": [{"name": "Check Out"}]}, "services[0].name", "pattern"),
    ({"statuspages": [{"name": "s", "url": "https://s/", "components": {"API": "nope"}}]},
     "statuspages[0].components.API", "unknown service"),
    ({"subscribers": [{"email": "a@b.c"}]}, "subscribers[0].email", "email: section"),
    ({"subscribers": [{"email": "a@b.c", "webhook": "https://h/"}]}, "subscribers[0]", "exactly one"),
    ({"subscribers": [{"webhook": "https://h/", "services": ["x"]}]}, "subscribers[0].services[0]", "unknown"),
    ({"subscribers": [{"apprise": "bogus://nothing"}]}, "subscribers[0]", "not a URL apprise understands"),
    ({"subscribers": [{"apprise": "ntfy://t", "email": "a@b.c"}]}, "subscribers[0]", "exactly one"),
    ({"delay_feeds": [{"name": "parcels"}]}, "delay_feeds[0].url", "intake"),
    ({"intake": {"port": 1}}, "intake.secret", "Field required"),
    ({"services": [{"name": "checkout", "maintenance": [{"start": "2026-12-01T03:00:00Z",
                                                         "end": "2026-12-01T02:00:00Z"}]}]},
     "services[0].maintenance[0]", "end must be after start"),
    ({"email": {"security": "ssl"}}, "email", "security"),
]


@pytest.mark.parametrize(("extra", "path", "message"), CASES)
def test_errors_name_the_yaml_path(extra: dict, path: str, message: str) -> None:
    with pytest.raises(ConfigFileError) as e:
        parse_config({**BASE, **extra}, env={})
    assert any(p == path and message in m for p, m in e.value.problems), e.value.problems


def test_a_full_health_config_parses() -> None:
    cfg = parse_config({**BASE, "checks": [{"name": "c", "service": "checkout", "url": "https://x/"}],
                        "intake": {"secret": "${S}"}, "delay_feeds": [{"name": "parcels"}],
                        "email": {"host": "smtp", "username": "u", "password": "${P}"},
                        "subscribers": [{"email": "a@b.c", "services": ["checkout"]}]}, env={"S": "s", "P": "p"})
    assert cfg.intake is not None and cfg.intake.secret.get_secret_value() == "s"
    assert cfg.checks[0].failure_threshold == 3 and cfg.incidents.cadence.every == 1800
