"""The operator's window into a running daemon: /healthz (JSON) and /metrics (Prometheus)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

HealthFn = Callable[[], Awaitable[dict[str, Any]]]


def make_web_app(health: HealthFn, metrics: Callable[[], Awaitable[bytes]]) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        try:
            body = await health()
        except Exception as e:  # whatever broke, the operator's probe gets JSON that says so, never a bare 500
            body = {"status": "down", "problems": [f"health check failed: {type(e).__name__}: {e}"[:500]]}
        # 503 only when something is down; "degraded" (e.g. dead letters) still answers 200 with the why
        return web.json_response(body, status=503 if body.get("status") == "down" else 200)

    async def metrics_view(_request: web.Request) -> web.Response:
        resp = web.Response(body=await metrics())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    return app
