"""connectors.http_check against real local servers: status, body, JSON path, latency, TLS and certificate expiry."""
from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from aiohttp import web

from connectors.http_check import HttpCheck, HttpCheckConfig, judge_body, make_session
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app


def cfg(url: str, **kw) -> HttpCheckConfig:
    return HttpCheckConfig(name="api", service="checkout", url=url, interval=5, timeout=kw.pop("timeout", 2), **kw)


JUDGE = [
    ({"body_contains": "ok"}, '{"status": "ok"}', None),
    ({"body_contains": "healthy"}, '{"status": "ok"}', "body lacks 'healthy'"),
    ({"json_path": "status", "json_equals": "ok"}, '{"status": "ok"}', None),
    ({"json_path": "checks.db[0].state", "json_equals": "up"}, '{"checks": {"db": [{"state": "down"}]}}',
     "checks.db[0].state is 'down', expected 'up'"),
    ({"json_path": "$.checks.cache"}, '{"checks": {}}', "$.checks.cache missing"),
    ({"json_path": "status"}, '{"status": null}', "status is null"),
    ({"json_path": "status"}, "<html>502</html>", "body is not JSON"),
]


@pytest.mark.parametrize(("kw", "body", "why"), JUDGE)
def test_judge_body_table(kw, body, why) -> None:
    assert judge_body(cfg("http://x/", **kw), body) == why


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="http"):
        cfg("ftp://x/")
    with pytest.raises(ValueError, match="timeout must not exceed interval"):
        cfg("http://x/", timeout=10)


@pytest.fixture
async def world():
    w = HealthWorld(slow_seconds=0.3)
    server = Server(make_health_app(w))
    await server.start()
    session = make_session()
    yield w, server.url, session
    await session.close()
    await server.stop()


async def test_up_down_slow_flapping_and_refused(world) -> None:
    w, base, session = world
    check = HttpCheck(cfg(f"{base}/svc/checkout/health", json_path="status", json_equals="ok",
                          max_latency_ms=200), session)
    (r,) = await check.probe()
    assert (r.ok, r.detail, r.check) == (True, "HTTP 200", "api") and r.latency_ms is not None
    w.set_mode("checkout", "down")
    (r,) = await check.probe()
    assert (r.ok, r.detail) == (False, "HTTP 503")
    w.set_mode("checkout", "slow")
    (r,) = await check.probe()
    assert not r.ok and r.detail.startswith("slow: ")
    w.set_mode("checkout", "flapping")
    assert [(await check.probe())[0].ok for _ in range(4)] == [True, False, True, False]

    server = Server(web.Application())
    await server.start()
    url = server.url
    await server.stop()
    (r,) = await HttpCheck(cfg(f"{url}/health"), session).probe()
    assert not r.ok and "Connect" in r.detail


async def test_timeout_is_a_failed_reading(world) -> None:
    w, base, session = world
    w.slow_seconds = 2.0
    w.set_mode("checkout", "slow")
    (r,) = await HttpCheck(cfg(f"{base}/svc/checkout/health", timeout=0.2), session).probe()
    assert (r.ok, r.detail) == (False, "timed out after 0.2 s")


async def _tls_server(ca: trustme.CA, not_after: datetime) -> tuple[web.AppRunner, int]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=not_after).configure_cert(ctx)
    app = web.Application()

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/health", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.mark.parametrize(("days", "ok"), [(90, True), (5, False)])
async def test_certificate_expiry(days: int, ok: bool) -> None:
    ca = trustme.CA()
    runner, port = await _tls_server(ca, datetime.now(UTC) + timedelta(days=days))
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    session = make_session()
    try:
        (r,) = await HttpCheck(cfg(f"https://127.0.0.1:{port}/health", cert_min_days=14), session,
                               ssl_context=client_ctx).probe()
        assert r.ok is ok
        if not ok:
            assert r.detail.startswith("certificate expires in 4.") or r.detail.startswith("certificate expires in 5")
        # a client that does not trust the CA: a failed reading that says why, not an exception
        (r,) = await HttpCheck(cfg(f"https://127.0.0.1:{port}/health"), session).probe()
        assert not r.ok and "certificate" in r.detail
    finally:
        await session.close()
        await runner.cleanup()
        await asyncio.sleep(0)
