"""The outside world of service health, in one aiohttp app: flaky services, an upstream's Statuspage,
a delay feed and a webhook sink (and `post_alertmanager`, which plays Alertmanager).

    world = HealthWorld(); server = Server(make_health_app(world)); await server.start()
    world.set_mode("checkout", "down")           # up | down | slow | flapping
    GET  /svc/checkout/health                     # 200 {"status": "ok"} / 503 / slow 200 / alternating
    GET  /statuspage/api/v2/summary.json          # world.statuspage (set_component("API", "major_outage"))
    GET  /delays                                  # world.delays (the polled delay feed)
    POST /hooks/<name>                            # the webhook sink: recorded, signature checked when a secret is set
    POST /control/<service>/<mode>                # script the flaky service from outside
"""
from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web

from monitor.sandbox.core import Recorder, json_response
from monitor.sandbox.texts import shared_data_dir

Mode = Literal["up", "down", "slow", "flapping"]


def _default_summary() -> dict[str, Any]:
    return {
        "page": {"id": "sbxpage01", "name": "Example Cloud", "url": "https://status.example.com",
                 "time_zone": "Etc/UTC", "updated_at": "2026-03-04T10:21:07.512Z"},
        "components": [
            {"id": "b13yz5g2cw10", "name": "API", "status": "operational", "group": False, "group_id": None,
             "page_id": "sbxpage01", "position": 1, "description": "Public REST API", "showcase": True,
             "only_show_if_degraded": False},
            {"id": "9zpz5l5kqlts", "name": "Dashboard", "status": "operational", "group": False, "group_id": None,
             "page_id": "sbxpage01", "position": 2, "description": None, "showcase": False,
             "only_show_if_degraded": False},
        ],
        "incidents": [],
        "scheduled_maintenances": [],
        "status": {"indicator": "none", "description": "All Systems Operational"},
    }


@dataclass
class Hook:
    name: str
    headers: dict[str, str]
    body: bytes
    signed_ok: bool | None  # None: no secret configured for this sink

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HealthWorld:
    slow_seconds: float = 2.0
    modes: dict[str, Mode] = field(default_factory=dict)
    statuspage: dict[str, Any] = field(default_factory=_default_summary)
    delays: dict[str, Any] = field(default_factory=lambda: {"delays": []})
    hooks: list[Hook] = field(default_factory=list)
    hook_secrets: dict[str, str] = field(default_factory=dict)  # sink name -> shared secret
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.recorder = Recorder()
        self._flip: dict[str, bool] = {}

    def set_mode(self, service: str, mode: Mode) -> None:
        self.modes[service] = mode

    def set_component(self, name: str, status: str, incident: str | None = None) -> None:
        for c in self.statuspage["components"]:
            if c["name"] == name:
                c["status"] = status
        self.statuspage["incidents"] = [] if incident is None else [{
            "id": "sbxinc01", "name": incident, "status": "investigating", "impact": "major",
            "incident_updates": [{"id": "u1", "status": "investigating", "body": incident,
                                  "affected_components": [{"code": c["id"], "name": c["name"]}
                                                          for c in self.statuspage["components"] if c["name"] == name]}]}]

    def health_requests(self, service: str) -> int:
        return len(self.recorder.matching(f"/svc/{service}/"))

    async def handle_health(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        mode = self.modes.get(name, "up")
        if mode == "flapping":
            self._flip[name] = not self._flip.get(name, False)
            mode = "up" if self._flip[name] else "down"
        if mode == "down":
            return json_response({"status": "error", "error": "upstream connect error"}, 503)
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        return json_response({"status": "ok", "checks": {"db": {"status": "ok"}}})

    async def handle_hook(self, request: web.Request) -> web.StreamResponse:
        from outreach.notify_delivery import verify

        name = request.match_info["name"]
        body = await request.read()
        secret = self.hook_secrets.get(name)
        signed = None
        if secret is not None:
            signed = verify(secret, request.headers.get("X-Outreach-Timestamp", ""), body,
                            request.headers.get("X-Outreach-Signature", ""), now=self.clock())
        self.hooks.append(Hook(name, dict(request.headers), body, signed))
        if signed is False:
            return json_response({"error": "bad signature"}, 401)
        return json_response({"ok": True})


def make_health_app(world: HealthWorld) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        from monitor.sandbox.core import Recorded

        rec = Recorded(request.method, request.path, dict(request.query), dict(request.headers), b"")
        world.recorder.requests.append(rec)
        try:
            resp = await handler(request)
            rec.status = resp.status
            return resp
        finally:
            world.recorder.answered()

    app = web.Application(middlewares=[record])
    app.router.add_get("/svc/{name}/health", world.handle_health)
    async def summary(request: web.Request) -> web.Response:
        return json_response(copy.deepcopy(world.statuspage))

    async def delays(request: web.Request) -> web.Response:
        return json_response(world.delays)

    app.router.add_get("/statuspage/api/v2/summary.json", summary)
    app.router.add_get("/delays", delays)
    app.router.add_post("/hooks/{name}", world.handle_hook)

    async def control(request: web.Request) -> web.Response:
        """Script the flaky services from outside (the benchmark, a person at `outreach-monitor sandbox`)."""
        mode = request.match_info["mode"]
        if mode not in ("up", "down", "slow", "flapping"):
            return json_response({"error": "mode: up | down | slow | flapping"}, 400)
        world.set_mode(request.match_info["name"], mode)  # type: ignore[arg-type]
        return json_response({"ok": True})

    app.router.add_post("/control/{name}/{mode}", control)
    return app


async def post_alertmanager(url: str, payload: dict[str, Any], *, secret: str | None) -> tuple[int, str]:
    """Play Alertmanager: POST a v4 webhook payload with `Authorization: Bearer <secret>` (its http_config)."""
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.28.1"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    async with aiohttp.ClientSession(trust_env=False) as s, s.post(url, data=json.dumps(payload),
                                                                   headers=headers) as r:
        return r.status, await r.text()


def shared_fixtures_dir() -> Path | None:
    """`fixtures/` beside the shared data folder (texts.shared_data_dir), or None where it is absent."""
    data = shared_data_dir()
    fixtures = (data.parent if data is not None else Path(__file__).resolve().parents[3] / "shared") / "fixtures"
    return fixtures if fixtures.is_dir() else None


def shared_fixture(name: str) -> bytes:
    """One of the shared payload examples (Statuspage, Alertmanager), as bytes."""
    folder = shared_fixtures_dir()
    if folder is None:
        raise FileNotFoundError(f"the shared fixtures folder is absent: {name} cannot be read")
    return (folder / name).read_bytes()


def alertmanager_fixture() -> dict[str, Any]:
    return json.loads(shared_fixture("alertmanager_webhook.json"))
