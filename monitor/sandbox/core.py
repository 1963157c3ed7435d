"""What every sandbox server shares: a request recorder, injectable faults, and a runner.

A fault is queued for a path prefix and consumed by the next matching request(s), so a test
says exactly which call fails and how:

    faults.add("/2/tweets/search/recent", Fault("429", times=1, reset_in=30))
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

# "timeout" answers after `delay`; "hang" waits `delay` and then drops the connection having done nothing
FaultKind = Literal["429", "429-no-reset", "401", "403", "500", "503", "timeout", "hang", "malformed", "drop",
                    # what real platforms also do:
                    "errors-only",  # X: 200 with only an `errors` list (a suspended account), no data, no meta
                    "401-bare",  # Reddit's edge: 401 without a www-authenticate challenge
                    "403-private",  # Reddit: 403 {"reason": "private"} for one subreddit (not the token)
                    "lost-answer"]  # the request is carried out, then the connection drops before the answer


@dataclass
class Fault:
    kind: FaultKind
    times: int = 1
    reset_in: float = 60.0  # seconds until the rate-limit window resets (429)
    delay: float = 30.0  # how long a "timeout" hangs before answering


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._listeners: list[Callable[[], None]] = []
        self._on_received: list[Callable[[Recorded], None]] = []

    def listen(self, on_answered: Callable[[], None]) -> None:
        """Call `on_answered` after each request is answered (tests wait on traffic, not on time)."""
        self._listeners.append(on_answered)

    def listen_received(self, on_received: Callable[[Recorded], None]) -> None:
        """Call `on_received(request)` as each request arrives, before it is answered: a test can act
        while a call is in flight (e.g. kill the client between Slack accepting a message and the reply)."""
        self._on_received.append(on_received)

    def received(self, rec: Recorded) -> None:
        self.requests.append(rec)
        for fn in self._on_received:
            fn(rec)

    def answered(self) -> None:
        for fn in self._listeners:
            fn()

    def matching(self, path_prefix: str, method: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method)
        ]

    def clear(self) -> None:
        self.requests.clear()


class Faults:
    def __init__(self) -> None:
        self._queue: deque[tuple[str, Fault]] = deque()

    def add(self, path_prefix: str, fault: Fault) -> None:
        self._queue.append((path_prefix, fault))

    def clear(self) -> None:
        self._queue.clear()

    def hold(self, path_prefix: str, fault: Fault) -> Callable[[], None]:
        """Answer every matching request with `fault` until the returned function is called (an
        outage, a 429 storm); lifting it leaves the other queued faults alone."""
        fault.times = 1 << 62
        item = (path_prefix, fault)
        self._queue.append(item)

        def lift() -> None:
            if item in self._queue:
                self._queue.remove(item)

        return lift

    def take(self, path: str) -> Fault | None:
        for item in self._queue:
            prefix, fault = item
            if path.startswith(prefix):
                fault.times -= 1
                if fault.times <= 0:
                    self._queue.remove(item)
                return fault
        return None


NO_CHALLENGE = web.ResponseKey("sandbox_no_challenge", bool)  # send this 401 without www-authenticate


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data), status=status, content_type="application/json", headers=headers or {}
    )


Style = Literal["x", "slack", "reddit", "zendesk", "freshdesk"]

# how the helpdesks word a refusal (their API docs' error examples)
_HELPDESK_ERRORS: dict[str, dict[int, Any]] = {
    "zendesk": {429: {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"},
                401: {"error": "Couldn't authenticate you"},
                403: {"error": "Forbidden", "description": "You do not have access to this page."}},
    "freshdesk": {429: {"code": "rate_limit_exceeded", "message": "You have exceeded the limit of requests per minute"},
                  401: {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."},
                  403: {"code": "access_denied", "message": "You are not authorized to perform this action."}},
}


def fault_response(fault: Fault, *, style: Style) -> web.StreamResponse | None:
    """The answer a real service gives for this fault, in its own dialect. None: handled by caller."""
    now = int(time.time())
    if style in _HELPDESK_ERRORS and fault.kind in ("429", "429-no-reset", "401", "403"):
        status = int(fault.kind[:3])
        headers = {"Retry-After": str(int(fault.reset_in))} if fault.kind == "429" else {}
        return json_response(_HELPDESK_ERRORS[style][status], status, headers)
    if fault.kind in ("429", "429-no-reset"):
        headers: dict[str, str] = {}
        if style == "x":
            body: Any = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
            if fault.kind == "429":
                headers = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0",
                           "x-rate-limit-reset": str(now + int(fault.reset_in))}
        elif style == "slack":
            body = {"ok": False, "error": "ratelimited"}
            if fault.kind == "429":
                headers = {"Retry-After": str(int(fault.reset_in))}
        else:
            body = {"message": "Too Many Requests", "error": 429}
            if fault.kind == "429":
                headers = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "100",
                           "x-ratelimit-reset": str(int(fault.reset_in))}
        return json_response(body, 429, headers)
    if fault.kind == "errors-only":
        return json_response({"errors": [{"value": "acme", "detail": "User has been suspended: [acme].",
                                          "title": "Forbidden", "resource_type": "user", "parameter": "id",
                                          "resource_id": "acme",
                                          "type": "https://api.twitter.com/2/problems/resource-not-found"}]}, 200)
    if fault.kind == "401-bare":
        resp = json_response({"message": "Unauthorized", "error": 401}, 401)
        resp[NO_CHALLENGE] = True  # the Reddit app's challenge middleware leaves it bare
        return resp
    if fault.kind == "403-private":
        return json_response({"reason": "private", "message": "Forbidden", "error": 403}, 403)
    if fault.kind in ("401", "403"):
        status = int(fault.kind)
        if style == "x":
            body = {"title": "Unauthorized" if status == 401 else "Forbidden", "type": "about:blank",
                    "status": status, "detail": "Unauthorized" if status == 401 else "Forbidden"}
        elif style == "slack":
            return json_response({"ok": False, "error": "invalid_auth"}, 200)
        else:
            body = {"message": "Unauthorized" if status == 401 else "Forbidden", "error": status}
        return json_response(body, status)
    if fault.kind in ("500", "503"):
        status = int(fault.kind)
        if style == "x":
            return json_response({"title": "Service Unavailable", "type": "about:blank", "status": status,
                                  "detail": "Service Unavailable"}, status)
        return web.Response(text="upstream error", status=status, content_type="text/html")
    if fault.kind == "malformed":
        return web.Response(text='{"data": [{"id": "1", "text": ', status=200, content_type="application/json")
    return None  # timeout, hang and drop need the request object


def make_middleware(recorder: Recorder, faults: Faults, *, style: Style):  # type: ignore[no-untyped-def]
    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        body = await request.read()
        rec = Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        recorder.received(rec)
        try:
            fault = faults.take(request.path)
            if fault is not None:
                if fault.kind == "timeout":
                    await asyncio.sleep(fault.delay)
                elif fault.kind == "lost-answer":  # done on the service's side; the client never hears
                    await handler(request)
                    if request.transport is not None:
                        request.transport.abort()
                    rec.status = -1
                    raise ConnectionResetError("sandbox dropped the answer")
                elif fault.kind in ("drop", "hang"):
                    if fault.kind == "hang":
                        await asyncio.sleep(fault.delay)
                    if request.transport is not None:
                        request.transport.abort()
                    rec.status = -1
                    raise ConnectionResetError("sandbox dropped the connection")
                else:
                    resp = fault_response(fault, style=style)
                    assert resp is not None
                    rec.status = resp.status
                    return resp
            resp = await handler(request)
            rec.status = resp.status
            return resp
        finally:
            recorder.answered()

    return middleware


class Server:
    """Runs one aiohttp app on 127.0.0.1 (port 0 by default) inside the current event loop."""

    def __init__(self, app: web.Application, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
