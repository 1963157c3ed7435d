"""Structured logs, one event a line, with secrets redacted before anything is written."""
from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"token|secret|password|authorization|api_key|cookie", re.I)
_TOKEN_SHAPES = re.compile(r"xox[abposr]-[0-9A-Za-z-]+|Bearer\s+[A-Za-z0-9._~+/%=-]+")
REDACTED = "[redacted]"


class Redactor:
    """A structlog processor: hides values under secret-looking keys, known secret values, and token shapes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for s in self._secrets:
                if s in value:
                    value = value.replace(s, REDACTED)
            return _TOKEN_SHAPES.sub(REDACTED, value)
        if isinstance(value, dict):
            return {k: REDACTED if _SECRET_KEYS.search(str(k)) else self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._clean(v) for v in value)
        return value

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        return self._clean(event)


def expected_failure(exc: BaseException) -> bool:
    """A failure the daemon expects and handles (a refused connection, a timeout, a platform or database
    that is away): logged as one line with the error, never as a traceback. Anything else keeps its
    traceback, because it is a bug someone has to read."""
    from aiohttp import ClientError
    from sqlalchemy.exc import InterfaceError, OperationalError

    from connectors.base import SourceError

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, (OSError, TimeoutError, ClientError, SourceError, OperationalError, InterfaceError)):
            return True
        if str(getattr(seen, "sqlstate", "") or "")[:2] in ("08", "57"):  # PostgreSQL: connection, shutdown
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1]
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def one_line_expected_errors(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: an expected failure becomes `error="Type: message"` instead of a traceback."""
    exc = _exception(event.get("exc_info"))
    if exc is not None and expected_failure(exc):
        del event["exc_info"]
        event.setdefault("error", f"{type(exc).__name__}: {exc}")
    return event


_OURS = ("monitor", "alerts", "connectors", "outreach")  # our own stdlib loggers follow the configured level


def setup_logging(*, level: str = "info", json: bool = True, secrets: Iterable[str] = (), stream: Any = None) -> None:
    """One event a line, redacted, for our structlog loggers AND every stdlib logger (aiohttp, apscheduler,
    slack_sdk, praw, asyncio…): they all end in the same processors, so a token a library logs is
    redacted too, and an expected failure is one line wherever it is logged, even uncaught."""
    out = stream or sys.stderr
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    redactor = Redactor(secrets)
    tail = [one_line_expected_errors, structlog.processors.format_exc_info, redactor, renderer]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.set_name("outreach-monitor")
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    ))
    root = logging.getLogger()
    for h in list(root.handlers):  # ours from an earlier call, or a basicConfig: one way out only
        root.removeHandler(h)
    root.addHandler(handler)
    # Libraries' chatter stays out unless it is a warning; our own follow the configured level.
    root.setLevel(logging.WARNING)
    for name in _OURS:
        logging.getLogger(name).setLevel(level.upper())
    logging.captureWarnings(True)  # Python warnings too go through the redactor
    sys.excepthook = _uncaught


def _uncaught(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    """The last word of a process that dies of an exception: through the same processors, so a refused
    connection at start-up is one line, not a traceback (and a secret in it is redacted)."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    structlog.get_logger("outreach-monitor").critical("process.failed", exc_info=(exc_type, exc, tb))
