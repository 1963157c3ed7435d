"""Every log line goes through the redactor, library loggers included, and an expected failure is one
line with its error, never a traceback (logged by us, by a library, or uncaught)."""
from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest
import structlog

from monitor.logs import setup_logging

TOKEN = "xoxb-1111-2222-abcdefSECRET"
CONFIGURED = "hunter2-configured-secret"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    hook = sys.excepthook
    setup_logging(level="info", json=True, secrets=[CONFIGURED], stream=buf)
    try:
        yield buf
    finally:
        sys.excepthook = hook
        setup_logging(level="info", json=True)  # back to stderr for the tests after this one


def lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.mark.parametrize("library", ["slack_sdk.web.async_client", "aiohttp.client", "apscheduler.scheduler",
                                     "praw", "asyncio"])
def test_a_library_logger_emitting_a_token_is_redacted(logs: io.StringIO, library: str) -> None:
    logging.getLogger(library).warning("calling with token %s and Authorization: Bearer %s", TOKEN, CONFIGURED)
    (line,) = lines(logs)
    assert TOKEN not in logs.getvalue() and CONFIGURED not in logs.getvalue()
    assert line["logger"] == library and line["level"] == "warning" and "[redacted]" in line["event"]


def test_library_chatter_below_warning_stays_out_and_ours_follows_the_level(logs: io.StringIO) -> None:
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("connectors.reddit").info("reddit said %s", TOKEN)
    (line,) = lines(logs)
    assert line["logger"] == "connectors.reddit" and TOKEN not in line["event"]


async def test_a_refused_connection_logged_by_a_library_is_one_line_without_a_traceback(logs: io.StringIO) -> None:
    async with aiohttp.ClientSession() as session:
        try:
            await session.get("http://127.0.0.1:1/")  # nothing listens on port 1
        except aiohttp.ClientError:
            logging.getLogger("apscheduler.executors.default").exception("Job \"poll x\" raised an exception")
    out = logs.getvalue()
    (line,) = lines(logs)
    assert "Traceback" not in out and "exception" not in line
    assert line["error"].startswith("ClientConnectorError") and line["level"] == "error"


def test_an_expected_failure_logged_by_us_is_one_line(logs: io.StringIO) -> None:
    try:
        raise ConnectionRefusedError(111, f"Connect call failed with {TOKEN}")
    except OSError:
        structlog.get_logger("dispatcher").exception("dispatcher.failed")
    (line,) = lines(logs)
    assert "Traceback" not in logs.getvalue() and TOKEN not in logs.getvalue()
    assert line["error"].startswith("ConnectionRefusedError")


def test_a_bug_keeps_its_traceback_redacted(logs: io.StringIO) -> None:
    try:
        raise KeyError(f"unexpected {CONFIGURED}")
    except KeyError:
        logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=True)
    (line,) = lines(logs)
    assert "Traceback" in line["exception"] and "KeyError" in line["exception"]
    assert CONFIGURED not in logs.getvalue()


def test_a_process_dying_of_a_refused_connection_prints_one_line() -> None:
    code = ("from monitor.logs import setup_logging; setup_logging(secrets=['s3cr3t-value']); import socket; "
            "socket.create_connection(('127.0.0.1', 1), timeout=5)  # s3cr3t-value")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in done.stderr, done.stderr
    line = json.loads(err[0])
    assert line["event"] == "process.failed" and line["error"].startswith("ConnectionRefusedError")
