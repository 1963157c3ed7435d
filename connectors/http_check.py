"""HTTP(S) health checks (YAML `checks:`): status code, body text or a JSON path, latency, certificate expiry.

A check never raises: whatever happens (refused, timeout, TLS failure, a 503, a slow answer, a
certificate about to expire) becomes one `HealthReading` with `ok` and a `detail` for the team.
aiohttp's errors are translated here and nowhere else. The details name hosts and check names:
they go to Slack and to logs, never into a public template (outreach/templates.py enforces that).

All checks share one `aiohttp.ClientSession` (one connection pool), so a thousand checks cost a
thousand requests, not a thousand pools (see benchmarks/checks.py).
"""
from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.models import HealthReading

CERT_RECHECK = 3600.0  # seconds between certificate look-ups per check
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class HttpCheckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    service: str  # which of `services:` this check watches
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    interval: float = Field(30.0, ge=1)
    timeout: float = Field(10.0, gt=0)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    json_path: str | None = None  # e.g. "checks.db.status" or "components[0].state"
    json_equals: Any = None  # the value at json_path that means healthy (any non-null value if omitted)
    max_latency_ms: float | None = Field(None, gt=0)
    cert_min_days: float | None = Field(14.0, ge=0)  # https only: fail when the certificate expires sooner
    failure_threshold: int = Field(3, ge=1)
    success_threshold: int = Field(2, ge=1)
    flap_changes: int = Field(6, ge=2)
    flap_window: float = Field(600.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return v

    @field_validator("json_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and not parse_path(v):
            raise ValueError("expected a path like 'status' or 'checks.db[0].state'")
        return v

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> HttpCheckConfig:
        if self.timeout > self.interval:
            raise ValueError("timeout must not exceed interval (checks would overlap)")
        return self


def parse_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(path.removeprefix("$").lstrip(".")):
        parts.append(int(index) if index else name)
    return parts


_MISSING = object()


def lookup(data: Any, path: list[str | int]) -> Any:
    for p in path:
        if isinstance(p, int) and isinstance(data, list) and -len(data) <= p < len(data):
            data = data[p]
        elif isinstance(p, str) and isinstance(data, dict) and p in data:
            data = data[p]
        else:
            return _MISSING
    return data


def judge_body(cfg: HttpCheckConfig, text: str) -> str | None:
    """Why the body is not healthy, or None. Pure: tested as a table."""
    if cfg.body_contains is not None and cfg.body_contains not in text:
        return f"body lacks {cfg.body_contains!r}"
    if cfg.json_path is not None:
        import json

        try:
            data = json.loads(text)
        except ValueError:
            return "body is not JSON"
        value = lookup(data, parse_path(cfg.json_path))
        if value is _MISSING:
            return f"{cfg.json_path} missing"
        if cfg.json_equals is not None and value != cfg.json_equals:
            return f"{cfg.json_path} is {value!r}, expected {cfg.json_equals!r}"
        if cfg.json_equals is None and value is None:
            return f"{cfg.json_path} is null"
    return None


def cert_days_left(ssl_object: ssl.SSLObject | None, now: float) -> float | None:
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert or "notAfter" not in cert:
        return None
    return (ssl.cert_time_to_seconds(str(cert["notAfter"])) - now) / 86400.0


class HttpCheck:
    """One configured check; `probe()` makes one request."""

    name = "http"

    def __init__(self, cfg: HttpCheckConfig, session: aiohttp.ClientSession, *,
                 clock: Callable[[], float] = time.time, ssl_context: ssl.SSLContext | None = None) -> None:
        self.cfg = cfg
        self.session = session
        self.clock = clock
        self._ssl = ssl_context  # None: the system's trust store (a test CA in tests)
        self._cert: tuple[float, float | None] | None = None  # (looked up at, days left then)

    async def probe(self) -> list[HealthReading]:
        cfg = self.cfg
        started = time.monotonic()
        at = datetime.fromtimestamp(self.clock(), UTC)
        try:
            async with self.session.request(cfg.method, cfg.url, headers=cfg.headers, allow_redirects=True,
                                            timeout=aiohttp.ClientTimeout(total=cfg.timeout),
                                            ssl=self._ssl if self._ssl is not None else True) as resp:
                text = await resp.text(errors="replace") if cfg.body_contains or cfg.json_path else ""
                if not text:
                    await resp.read()
                status = resp.status
        except TimeoutError:
            return [self._reading(False, at, f"timed out after {cfg.timeout:g} s", None)]
        except aiohttp.ClientConnectorCertificateError as e:
            return [self._reading(False, at, f"certificate not accepted: {e.certificate_error}", None)]
        except aiohttp.ClientSSLError as e:
            return [self._reading(False, at, f"TLS failed: {e}", None)]
        except aiohttp.ClientError as e:
            return [self._reading(False, at, f"{type(e).__name__}: {e}", None)]
        except OSError as e:
            return [self._reading(False, at, f"network error: {e}", None)]
        latency = (time.monotonic() - started) * 1000.0
        if status not in cfg.expect_status:
            return [self._reading(False, at, f"HTTP {status}", latency)]
        why = judge_body(cfg, text)
        if why:
            return [self._reading(False, at, why, latency)]
        if cfg.max_latency_ms is not None and latency > cfg.max_latency_ms:
            return [self._reading(False, at, f"slow: {latency:.0f} ms > {cfg.max_latency_ms:g} ms", latency)]
        if cfg.cert_min_days is not None and cfg.url.startswith("https://"):
            days = await self._cert_days()
            if days is not None and days < cfg.cert_min_days:
                return [self._reading(False, at, f"certificate expires in {days:.1f} days", latency)]
        return [self._reading(True, at, f"HTTP {status}", latency)]

    async def _cert_days(self) -> float | None:
        """Days until the server's certificate expires, looked up at most once an hour.

        aiohttp releases the connection (and its TLS object) as soon as a small body is read, so
        the certificate is read from a handshake of our own, which an hourly cache makes cheap.
        """
        now = self.clock()
        if self._cert is not None and now - self._cert[0] < CERT_RECHECK:
            return None if self._cert[1] is None else self._cert[1] - (now - self._cert[0]) / 86400.0
        u = urlsplit(self.cfg.url)
        ctx = self._ssl or ssl.create_default_context()
        days: float | None = None
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(u.hostname, u.port or 443, ssl=ctx, server_hostname=u.hostname),
                self.cfg.timeout)
            try:
                days = cert_days_left(writer.get_extra_info("ssl_object"), now)
            finally:
                writer.close()
        except (OSError, TimeoutError, ssl.SSLError):
            return None  # the request itself already said whether TLS works
        self._cert = (now, days)
        return days

    def _reading(self, ok: bool, at: datetime, detail: str, latency: float | None) -> HealthReading:
        return HealthReading(check=self.cfg.name, ok=ok, at=at, detail=detail, latency_ms=latency)


def make_session(limit: int = 100) -> aiohttp.ClientSession:
    """The shared session for every HTTP check: a bounded pool, no cookies carried between checks."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300),
                                 cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                 headers={"User-Agent": "outreach-monitor health check"})


async def close_session(session: aiohttp.ClientSession) -> None:
    await session.close()
    await asyncio.sleep(0)  # let the connector's transports close before the loop moves on
