"""The pages marketing reads: `/digests` lists the built digests, each has its own page with charts,
its figures as JSON and its mentions as CSV.

Served on its own listener (digests.pages), never beside /metrics or /healthz, so an operator can
expose it without exposing the daemon. The pages are static HTML with no script; a strict
Content-Security-Policy keeps it that way even if a post's text were to slip past the escaping.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.digest import charts, humanize as H, render, store

_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_CACHE = 32  # drawn charts kept in memory (a stored digest never changes, so they never go stale)


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    resp = await handler(request)
    resp.headers.setdefault("Content-Security-Policy", _CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    return resp


def make_digest_app(engine: AsyncEngine, *, brand: str, tz: ZoneInfo) -> web.Application:
    drawn: OrderedDict[int, dict[str, bytes]] = OrderedDict()

    async def _stored(request: web.Request) -> store.Stored:
        try:
            digest_id = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound(text="no such digest") from None
        found = await store.get(engine, digest_id)
        if found is None:
            raise web.HTTPNotFound(text="no such digest")
        return found

    async def _charts(s: store.Stored) -> dict[str, bytes]:
        if s.id not in drawn:
            drawn[s.id] = await asyncio.to_thread(charts.draw, s.data)
            while len(drawn) > _CACHE:
                drawn.popitem(last=False)
        drawn.move_to_end(s.id)
        return drawn[s.id]

    async def index(_request: web.Request) -> web.Response:
        items = [
            {"title": s.data["title"], "href": f"/digests/{s.id}", "csv": f"/digests/{s.id}.csv",
             "period": s.data["period"]["label"], "mentions": H.count(s.data["volume"].get("total", 0)),
             "built": H.when(s.created_at, tz)}
            for s in await store.recent(engine)
        ]
        return web.Response(text=render.index_html(brand, items), content_type="text/html")

    async def page(request: web.Request) -> web.Response:
        s = await _stored(request)
        names = await _charts(s)
        srcs = {n: f"/digests/{s.id}/charts/{n}.png" for n in names}
        html = render.to_html(s.data, srcs, links={"index": "/digests", "csv": f"/digests/{s.id}.csv"})
        return web.Response(text=html, content_type="text/html")

    async def chart(request: web.Request) -> web.Response:
        s = await _stored(request)
        png = (await _charts(s)).get(request.match_info["name"])
        if png is None:
            raise web.HTTPNotFound(text="no such chart")
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "max-age=86400"})

    async def as_json(request: web.Request) -> web.Response:
        s = await _stored(request)
        return web.Response(text=render.to_json(s.data), content_type="application/json")

    async def as_csv(request: web.Request) -> web.StreamResponse:
        s = await _stored(request)
        resp = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="digest-{s.id}-mentions.csv"'})
        await resp.prepare(request)
        lines = render.CsvLines(tz)
        chunk = [lines.header()]
        async for r in store.period_mentions(engine, s.period_start, s.period_end):  # streamed, not held
            chunk.append(lines.row(r))
            if len(chunk) >= 500:
                await resp.write("".join(chunk).encode())
                chunk.clear()
        await resp.write("".join(chunk).encode())
        await resp.write_eof()
        return resp

    app = web.Application(middlewares=[_headers])
    async def home(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/digests")

    app.router.add_get("/", home)
    app.router.add_get("/digests", index)
    app.router.add_get("/digests/{id:\\d+}", page)
    app.router.add_get("/digests/{id:\\d+}.json", as_json)
    app.router.add_get("/digests/{id:\\d+}.csv", as_csv)
    app.router.add_get("/digests/{id:\\d+}/charts/{name}.png", chart)
    return app
