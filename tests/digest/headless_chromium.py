"""A real headless Chromium driven over the DevTools protocol (a websocket, with aiohttp): open a
page, wait for its load event, evaluate JavaScript in it, collect console errors, take a screenshot.

Chromium prints "DevTools listening on ws://…" on stderr once it is ready: that line is the
readiness signal (no sleeping); the process is always terminated and reaped.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Page:
    ws: aiohttp.ClientWebSocketResponse
    session: str
    errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    _events: dict[str, asyncio.Event] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                fut = self._waiting.pop(data["id"])
                if "error" in data:
                    fut.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                else:
                    fut.set_result(data.get("result", {}))
                continue
            method, params = data.get("method", ""), data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                            for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                self.errors.append("exception: " + params["exceptionDetails"].get("text", ""))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                self.errors.append(f"log: {params['entry'].get('text', '')} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed":
                self.failed_requests.append(params.get("errorText", ""))
            if method in self._events:
                self._events[method].set()

    async def send(self, method: str, **params: Any) -> Any:
        i = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[i] = fut
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params, "sessionId": self.session}))
        return await asyncio.wait_for(fut, 30)

    async def open(self, url: str) -> None:
        loaded = self._events.setdefault("Page.loadEventFired", asyncio.Event())
        loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), 30)

    async def js(self, expression: str) -> Any:
        r = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    async def screenshot(self) -> bytes:
        r = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(r["data"])


@asynccontextmanager
async def chromium_page(binary: str) -> AsyncIterator[Page]:
    profile = tempfile.TemporaryDirectory(prefix="om-chromium-")
    proc = await asyncio.create_subprocess_exec(
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--no-default-browser-check", "--disable-extensions", "--remote-debugging-port=0",
        f"--user-data-dir={profile.name}", "--window-size=1000,1400", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        ws_url = None
        while ws_url is None:  # the readiness signal
            line = await asyncio.wait_for(proc.stderr.readline(), 60)
            if not line:
                raise RuntimeError(f"chromium exited before it was ready (code {await proc.wait()})")
            text = line.decode(errors="replace").strip()
            if text.startswith("DevTools listening on "):
                ws_url = text.removeprefix("DevTools listening on ")
        drain = asyncio.create_task(_drain(proc.stderr))
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, max_msg_size=0) as ws:
            browser = Page(ws, session="")
            browser.start()
            target = await _browser_call(browser, "Target.createTarget", url="about:blank")
            attached = await _browser_call(browser, "Target.attachToTarget", targetId=target["targetId"], flatten=True)
            browser.session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                await browser.send(f"{domain}.enable")
            try:
                yield browser
            finally:
                if browser._reader is not None:
                    browser._reader.cancel()
        drain.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        profile.cleanup()


async def _browser_call(page: Page, method: str, **params: Any) -> Any:
    """A call to the browser itself (no session)."""
    i = next(page._ids)
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    page._waiting[i] = fut
    await page.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
    return await asyncio.wait_for(fut, 30)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():  # keep reading so chromium never blocks on a full stderr pipe
        pass
