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


def setup_logging(*, level: str = "info", json: bool = True, secrets: Iterable[str] = (), stream: Any = None) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries log through stdlib logging; keep their chatter out unless it is a warning.
    logging.basicConfig(level=logging.WARNING, stream=stream or sys.stderr, format="%(levelname)s %(name)s %(message)s")
