"""A small world for reply tests: the sandbox X over a real socket, the real XSource, ingest and the dispatcher."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.x import XConfig, XSource
from monitor.dispatcher import Dispatcher
from monitor.ingest import AlertPolicy, ingest
from monitor.models import Author, Batch, Mention, Verdict
from monitor.sandbox.clock import ManualClock
from monitor.sandbox.core import Server
from monitor.sandbox.x_api import XWorld, make_x_app
from monitor.storage.schema import replies
from outreach.policy import ReplyConfig
from outreach.replies import Voice
from outreach.reply_delivery import DM_KIND, KIND, DmDelivery, ReplyDelivery
from outreach.reply_templates import Templates

BEARER, BRAND_TOKEN = "sandbox-bearer", "acme-user-token"
CATEGORIES = ("delivery", "billing", "outage", "question", "praise", "spam")


class WordTriage:
    """Triage from the text's first word, which names the category (the tests are about replies, not triage)."""

    def classify(self, m: Mention, **_: Any) -> Verdict:
        word = m.text.split()[0] if m.text.split() else ""
        cat = word if word in CATEGORIES else "other"
        act = cat not in ("praise", "spam", "other")
        return Verdict("high" if act else "low", cat, act, act, -0.5, 70 if act else 10, 0.9)


@dataclass
class ReplyEnv:
    engine: AsyncEngine
    world: XWorld
    clock: ManualClock
    source: XSource
    cfg: ReplyConfig
    paused: bool = False
    channels: dict[str, str | None] | None = None
    templates: Templates = field(default_factory=Templates)

    @property
    def brand(self):  # type: ignore[no-untyped-def]
        return self.world.user_by_username("acme")

    def say(self, who: str, text: str, *, reply_to: str | None = None, name: str | None = None) -> Mention:
        """Post on the sandbox X, and return the post as the connector would read it."""
        self.clock.advance(1)
        user = self.world.add_user(who, name)
        tid = self.world.post(user, text, reply_to=reply_to)
        t = self.world.tweets[tid]
        return Mention(source="x", external_id=tid, text=t.text, author=Author(user.id, user.username, user.name),
                       created_at=datetime.fromtimestamp(t.at, UTC), conversation_id=t.conversation_id,
                       in_reply_to=t.reply_to or "", lang="en", is_own=user.username == "acme")

    async def ingest(self, *posts: Mention):  # type: ignore[no-untyped-def]
        voice = Voice(self.cfg, self.templates, brand="Acme", own_handles=frozenset({"acme"}), channels=self.channels)
        policy = AlertPolicy(self.channels or {}, voice=voice)
        return await ingest(self.engine, Batch(list(posts), []), source="x", triage=WordTriage(), policy=policy,
                            clock=self.clock)

    def dispatcher(self) -> Dispatcher:
        """A new dispatcher and handler each time: a restart loses nothing but memory."""
        async def paused(_: AsyncEngine) -> bool:
            return self.paused

        handler = ReplyDelivery(self.engine, self.cfg, {"x": self.source}, paused=paused, clock=self.clock,
                                min_interval=0)
        dm = DmDelivery(handler, self.templates, brand="Acme")
        return Dispatcher(self.engine, {KIND: handler, DM_KIND: dm}, worker="w", clock=self.clock, base_backoff=1)

    async def dispatch(self) -> None:
        d = self.dispatcher()
        while await d.run_once():
            pass

    async def replies(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(replies).order_by(replies.c.id))).all()

    def brand_posts(self) -> list[Any]:
        return [t for t in self.world.tweets.values() if t.author_id == self.brand.id]


async def start(engine: AsyncEngine, cfg: ReplyConfig, **kw: Any) -> tuple[ReplyEnv, Server]:
    clock = ManualClock(datetime(2026, 11, 30, 14, 0, tzinfo=UTC).timestamp())
    world = XWorld(clock, bearer_token=BEARER)
    world.add_user("acme", "Acme", 250_000, True, token=BRAND_TOKEN)
    server = Server(make_x_app(world))
    url = await server.start()
    src = XSource(XConfig(type="x", bearer_token=BEARER, api_base=url, handles=["acme"], user_token=BRAND_TOKEN),
                  clock=clock)
    return ReplyEnv(engine, world, clock, src, cfg, **kw), server
