"""A hostile post never stalls the daemon: a poll's batch is triaged in a thread, each post bounded.

The post is 100,000 characters. The triage it gets is held (after classifying it for real) until the
test has seen `/healthz` answer from an aiohttp server on the same event loop: if triage ran on the
loop, the server could not answer until triage was released, and the test would fail. No timing
is asserted.
"""
from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from monitor.ingest import ingest
from monitor.models import Author, Batch, Mention
from monitor.triage import Triage, load_triage
from monitor.triage.batch import triage_batch, triage_off_loop
from monitor.web import make_web_app

HOSTILE = ("you charged me twice and the app is down " * 2500)[:100_000]


class HeldTriage(Triage):
    """The shipped triage, holding each verdict until released (the test decides when)."""

    def __init__(self, real: Triage) -> None:
        super().__init__(real.rules, model=real.model, learned=real.learned)
        self.release = threading.Event()
        self.classified = threading.Event()

    def classify(self, mention, **kw):  # type: ignore[no-untyped-def]
        verdict = super().classify(mention, **kw)
        self.classified.set()
        assert self.release.wait(timeout=60), "never released"
        return verdict


def post(eid: str, text: str) -> Mention:
    return Mention(source="x", external_id=eid, text=text, author=Author("7", "eve"),
                   created_at=datetime(2026, 1, 1, tzinfo=UTC), conversation_id=eid, stream="mentions:acme")


@pytest.fixture(scope="module")
def shipped() -> Triage:
    return load_triage()


@pytest.fixture
async def healthz_url():
    async def health() -> dict:
        return {"status": "ok"}

    async def metrics() -> bytes:
        return b""

    runner = web.AppRunner(make_web_app(health, metrics))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - port 0: ask the socket
    try:
        yield f"http://127.0.0.1:{port}/healthz"
    finally:
        await runner.cleanup()


async def test_healthz_answers_while_a_100k_post_is_triaged(shipped, healthz_url, engine):
    held = HeldTriage(shipped)
    task = asyncio.create_task(ingest(engine, Batch([post("1", HOSTILE)], []), source="x", triage=held, policy=None))
    await asyncio.to_thread(held.classified.wait, 60)  # triage has started (in its thread)
    async with aiohttp.ClientSession() as http, http.get(healthz_url) as resp:
        assert resp.status == 200
        assert (await resp.json()) == {"status": "ok"}
    assert not task.done()  # the server answered while the post was still being triaged
    held.release.set()
    result = await task
    assert result.stored == 1


async def test_the_long_post_gets_a_verdict_on_a_prefix_and_says_so(shipped):
    [v] = await triage_off_loop(shipped, [post("2", HOSTILE)], Counter())
    assert v is not None
    assert any(r == "long post (100,000 characters): triaged on the first 4,000" for r in v.reasons), v.reasons
    assert v.category == "billing" and v.complaint


def test_batch_counts_repeat_contact_and_skips_our_own_and_removed_posts(shipped):
    from dataclasses import replace

    own = replace(post("3", "we're looking into it"), is_own=True)
    gone = replace(post("4", "deleted"), removed=True)
    contacts: Counter[str] = Counter({"7": 1})
    first, none1, none2, second = triage_batch(shipped, [post("5", "still down"), own, gone, post("6", "still down!!")], contacts)
    assert none1 is None and none2 is None
    assert "2nd message in 24 h" in first.reasons and "3rd message in 24 h" in second.reasons
