"""The marketing pages over HTTP (both backends), and one digest page opened in a real headless
Chromium: its title, its sections, its chart images loaded, no console error; a screenshot is kept
(test-artifacts/digest-page.png, or $OUTREACH_TEST_ARTIFACTS)."""
from __future__ import annotations

import csv
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from digest_rows import END, PARIS, START, store
from headless_chromium import chromium_page, find_chromium

from monitor.digest import store as digest_store
from monitor.digest.build import build
from monitor.digest.config import CompetitorConfig, DigestsConfig
from monitor.digest.period import Period
from monitor.digest.web import make_digest_app

ARTIFACTS = Path(os.environ.get("OUTREACH_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
SECTIONS = ["volume", "sentiment", "top-posts", "themes", "share-of-voice", "authors", "incidents", "care", "coverage"]


@pytest.fixture
async def site(engine) -> AsyncIterator[tuple[str, int]]:
    await store(engine)
    cfg = DigestsConfig(timezone="Europe/Paris", competitors=[CompetitorConfig(name="Globex")])
    d, _ = await build(engine, Period(START, END, PARIS), brand="Acme", cfg=cfg, now=END)
    async with engine.begin() as conn:
        digest_id = await digest_store.save(conn, key="weekly:test", schedule="weekly", data=d, now=END)
    runner = web.AppRunner(make_digest_app(engine, brand="Acme", tz=PARIS))
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", digest_id
    finally:
        await runner.cleanup()


async def test_index_page_charts_json_and_csv(site) -> None:
    base, digest_id = site
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/digests") as r:
            assert r.status == 200
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
            index = await r.text()
        assert f'href="/digests/{digest_id}"' in index and "Acme — Weekly digest, 23 Nov – 29 Nov 2026" in index
        async with http.get(f"{base}/digests/{digest_id}") as r:
            page = await r.text()
        for name in ("volume", "categories", "sentiment", "share_of_voice"):
            assert f'src="/digests/{digest_id}/charts/{name}.png"' in page
            async with http.get(f"{base}/digests/{digest_id}/charts/{name}.png") as r:
                assert r.status == 200 and r.content_type == "image/png"
                assert (await r.read()).startswith(b"\x89PNG")
        async with http.get(f"{base}/digests/{digest_id}.json") as r:
            assert (await r.json())["volume"]["total"] == 5
        async with http.get(f"{base}/digests/{digest_id}.csv") as r:
            assert r.headers["Content-Disposition"].startswith("attachment")
            rows = list(csv.DictReader(io.StringIO(await r.text())))
        # every mention of the period but our own post, oldest first, times in brand time
        assert [x["author"] for x in rows] == ["ann", "bob", "carl", "ann", "gil", "dan"]
        assert rows[0]["created"] == "2026-11-24T10:00:00+01:00" and rows[0]["engagement"] == "4"
        for missing in ("/digests/999", "/digests/999.csv", f"/digests/{digest_id}/charts/nope.png", "/metrics",
                        "/healthz"):
            async with http.get(base + missing) as r:
                assert r.status == 404, missing


async def test_page_in_headless_chromium(site, db_url) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the browser check needs one backend; the HTTP test above covers both")
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    base, digest_id = site
    async with chromium_page(binary) as page:
        await page.open(f"{base}/digests/{digest_id}")
        title = await page.js("document.title")
        sections = await page.js("Array.from(document.querySelectorAll('section')).map(s => s.id)")
        headings = await page.js("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        images = await page.js("Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, "
                               "i.naturalWidth, i.naturalHeight])")
        links = await page.js("Array.from(document.querySelectorAll('blockquote a')).map(a => a.href)")
        shot = await page.screenshot()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "digest-page.png").write_bytes(shot)
        await page.open(f"{base}/digests")
        index_links = await page.js("Array.from(document.querySelectorAll('a')).map(a => a.textContent)")
        errors = list(page.errors)
    assert title == "Acme — Weekly digest, 23 Nov – 29 Nov 2026"
    assert sections == SECTIONS
    assert headings[0] == "Volume" and "Coverage" in headings
    assert len(images) == 4 and all(done and w > 300 and h > 100 for _, done, w, h in images), images
    assert "https://x.com/bob/status/2" in links
    assert "Acme — Weekly digest, 23 Nov – 29 Nov 2026" in index_links
    assert errors == []
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000
