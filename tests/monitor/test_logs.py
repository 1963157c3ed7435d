"""Logs never contain a secret: known values, secret-looking keys and token shapes are redacted."""
from __future__ import annotations

import io
import json

import pytest
import structlog

from monitor.logs import REDACTED, Redactor, setup_logging


@pytest.mark.parametrize(
    ("event", "leaked"),
    [
        ({"event": "poll", "error": "401 for token s3cr3t-value"}, "s3cr3t-value"),
        ({"event": "x", "headers": {"Authorization": "Bearer abc.def"}}, "abc.def"),
        ({"event": "x", "detail": "sent Bearer AAAAxyz123 to the API"}, "AAAAxyz123"),
        ({"event": "x", "msg": "slack said no to xoxb-1234-5678-abcdef"}, "xoxb-1234-5678-abcdef"),
        ({"event": "x", "client_secret": "anything"}, "anything"),
        ({"event": "x", "items": ["ok", "s3cr3t-value"]}, "s3cr3t-value"),
    ],
)
def test_redactor(event: dict, leaked: str) -> None:
    out = Redactor(["s3cr3t-value"])(None, "info", event)
    assert leaked not in json.dumps(out)
    assert REDACTED in json.dumps(out)


def test_setup_logging_writes_one_json_event_a_line_without_secrets() -> None:
    buf = io.StringIO()
    setup_logging(level="info", json=True, secrets=["hunter2-token"], stream=buf)
    log = structlog.get_logger("t")
    log.info("source.failing", source="x", error="Unauthorized with hunter2-token")
    log.debug("hidden")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "source.failing" and record["level"] == "info"
    assert "hunter2-token" not in lines[0]
