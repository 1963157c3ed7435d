"""Public replies: drafted when a ticket's customer writes, held for a person, approved, sent once.

Life of a reply (table `replies`, one row per thread — the unique `thread_key` — whatever happens):

    dry_run                      (policy dry-run: written to the ticket and Slack, never posted)
    held ──approve──► approved ──outbox──► sent          (the reply's id on the ticket: first response)
      │  ╲edit (stays held)        │
      └──skip──► skipped ◄──skip───┘   (an approved reply not yet on its way is dropped from the outbox)
    auto ─────────────► approved   (policy auto, for categories the operator allows)

`plan()` runs inside ingest's transaction (the decision, its reply row, its Slack draft and, for auto,
its outbox row commit together). `approve()` writes the approval and the outbox row in one
transaction; the row's key is the thread (`reply:<source>:<conversation>`), so a double click or two
approvers at once add nothing. Sending, and the checks that hold a reply without dropping it (kill
switch, hourly cap, quiet hours), are in outreach/reply_delivery.py.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.cockpit_messages import reply_heading
from monitor.alert_flow import ticket_thread_channel
from monitor.models import Mention, Verdict
from monitor.outbox import PRIORITY, NewEffect, enqueue
from monitor.storage.dialect import insert_for
from monitor.storage.schema import mentions, outbox, replies, ticket_events, tickets
from outreach.policy import Candidate, History, ReplyConfig, decide
from outreach.reply_templates import Context, Templates

KIND = "outreach.reply"  # the outbox kind that posts a reply (outreach/reply_delivery.py)
DM_KIND = "outreach.dm"  # the private hand-off's direct message, sent with an approved private reply
SLACK_KIND = "slack.message"
# the Slack buttons (alerts/ handles the clicks and calls approve / edit / skip below)
ACTION_APPROVE, ACTION_EDIT, ACTION_SKIP = "reply_approve", "reply_edit", "reply_skip"
ANSWERED = ("held", "approved", "sent")  # what counts for the per-author cool-down


def thread_key(m: Mention) -> str:
    return f"{m.source}:{m.conversation_id or m.external_id}"


def outbox_key(key: str) -> str:
    return f"reply:{key}"


def lane(source: str) -> str:
    """All of a source's replies share one lane: one at a time across daemons, so the cap check holds."""
    return f"outreach:{source}"


@dataclass(frozen=True)
class Voice:
    """What plan() needs besides the posts: the policy, the words, who we are, where Slack drafts go."""

    cfg: ReplyConfig
    templates: Templates
    brand: str = ""
    own_handles: frozenset[str] = frozenset()
    channels: dict[str, str | None] | None = None  # urgency → Slack channel (the ticket's thread is there)


def _channel(channels: dict[str, str | None] | None, urgency: str) -> str | None:
    if not channels:
        return None
    return channels.get(urgency) or channels.get("normal") or next((c for c in channels.values() if c), None)


def render(voice: Voice, m: Mention, category: str, ticket_id: int) -> tuple[str, bool, str | None]:
    """(text, private, hand-off) for a reply to `m`. Only safe variables reach the template."""
    cfg = voice.cfg
    private = cfg.is_private(category)
    dm = private and m.source in cfg.dm_sources
    ctx = Context.of(username=m.author.username, display_name=m.author.name, ticket_id=ticket_id,
                     status_link=cfg.status_link, private_link=cfg.private_link, dm=dm, brand=voice.brand)
    text = voice.templates.render("private" if private else category, m.lang, ctx, source=m.source)
    return text, private, ("dm" if dm else "link") if private else None


def draft_message(reply_id: int, ticket_id: int, text: str, status: str, reason: str, *,
                  subject: str | None = None) -> dict[str, Any]:
    """The Slack message in the ticket's thread. `text` is ours (a template), not the customer's.
    `subject` names what the reply is about when it is not the ticket (an incident's acknowledgement)."""
    head = reply_heading(status, ticket_id, subject=subject)
    # a teammate's edit is free text: escaped like any text shown in Slack (no <!channel>)
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    quoted = "\n".join("> " + line for line in safe.splitlines())
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{head}*\n{quoted}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{reason} · reply {reply_id} · "
                                          f"`outreach-monitor replies approve {reply_id}`"}]},
    ]
    if status == "held":
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": ACTION_APPROVE, "value": str(reply_id), "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": ACTION_EDIT, "value": str(reply_id),
             "text": {"type": "plain_text", "text": "Edit"}},
            {"type": "button", "action_id": ACTION_SKIP, "value": str(reply_id),
             "text": {"type": "plain_text", "text": "Skip"}},
        ]})
    return {"text": f"{head}: {text}", "blocks": blocks}


def reply_effects(source: str, key: str, reply_id: int, priority: int, ticket_id: int, *, dm: bool) -> list[NewEffect]:
    """The public reply, and for a hand-off by DM the direct message too (both keyed by the thread)."""
    out = [NewEffect(outbox_key(key), KIND, source, {"reply_id": reply_id}, priority=priority, lane=lane(source),
                     about=f"ticket:{ticket_id}")]
    if dm:
        out.append(NewEffect(f"dm:{key}", DM_KIND, source, {"reply_id": reply_id}, priority=priority,
                             lane=f"outreach-dm:{source}", about=f"ticket:{ticket_id}"))
    return out


async def plan(conn: AsyncConnection, voice: Voice, posts: Sequence[tuple[int, Mention, Verdict, int]], *,
               now: float) -> dict[str, int]:
    """Decide on replies to customers' posts (mention id, mention, verdict, ticket id), in the caller's transaction.

    Returns how many replies were drafted, held and queued. Refusals are recorded on the ticket.
    """
    counts = {"dry_run": 0, "held": 0, "approved": 0, "refused": 0}
    if not posts:
        return counts
    keys = sorted({thread_key(m) for _, m, _, _ in posts})
    answered = {k for (k,) in await conn.execute(select(replies.c.thread_key).where(replies.c.thread_key.in_(keys)))}
    source = posts[0][1].source
    # a thread the brand already answered on the platform (a person, or another tool) needs no acknowledgement
    convs = sorted({m.conversation_id or m.external_id for _, m, _, _ in posts})
    answered |= {f"{source}:{c}" for (c,) in await conn.execute(
        select(mentions.c.conversation_id).where(mentions.c.source == source, mentions.c.is_own.is_(True),
                                                 mentions.c.conversation_id.in_(convs)))}
    authors = sorted({m.author.id for _, m, _, _ in posts})
    last_reply = {a: t for a, t in await conn.execute(
        select(replies.c.author_id, func.max(replies.c.created_at))
        .where(replies.c.source == source, replies.c.author_id.in_(authors), replies.c.status.in_(ANSWERED))
        .group_by(replies.c.author_id))}
    for mention_id, m, v, ticket_id in posts:
        key = thread_key(m)
        c = Candidate(m.author.username, m.author.id, v.category, m.created_at.timestamp(), is_own=m.is_own,
                      is_bot=m.author.is_bot)
        d = decide(c, History(key in answered, last_reply.get(m.author.id)), voice.cfg, now=now,
                   own_handles=voice.own_handles)
        if d.action == "none":
            if not d.reason.startswith("this thread"):  # the usual case for a follow-up: not worth an event
                await conn.execute(insert_for(conn, ticket_events).values(
                    ticket_id=ticket_id, kind="reply_refused", at=now, ref=m.external_id, detail=d.reason[:200]))
                counts["refused"] += 1
            continue
        text, private, handoff = render(voice, m, v.category, ticket_id)
        status = {"dry_run": "dry_run", "hold": "held", "auto": "approved"}[d.action]
        rid = (await conn.execute(
            insert_for(conn, replies).values(
                thread_key=key, ticket_id=ticket_id, mention_id=mention_id, source=m.source, author_id=m.author.id,
                category=v.category, lang=(m.lang or "en")[:16], policy=voice.cfg.mode_for(v.category),
                status=status, private=private, text=text, reason=d.reason[:200], created_at=now,
                outbox_key=outbox_key(key) if status == "approved" else None,
                decided_at=now if status == "approved" else None, decided_by="policy" if status == "approved" else None,
            ).on_conflict_do_nothing(index_elements=["thread_key"]).returning(replies.c.id)
        )).scalar()
        if rid is None:
            continue  # another daemon decided on this thread a moment ago
        answered.add(key)
        if status != "dry_run":
            last_reply[m.author.id] = now
        counts[status] += 1
        effects = []
        if status == "approved":
            effects += reply_effects(m.source, key, rid, PRIORITY.get(v.urgency, 2), ticket_id, dm=handoff == "dm")
        # the ticket's thread, wherever it is (a quieter follow-up's own channel may differ)
        channel = await ticket_thread_channel(conn, ticket_id) or _channel(voice.channels, v.urgency)
        if channel:
            effects.append(NewEffect(f"slack.reply:{rid}", SLACK_KIND, channel,
                                     draft_message(rid, ticket_id, text, status, d.reason),
                                     # a draft asks the team to act: never behind low-priority chatter
                                     priority=min(PRIORITY.get(v.urgency, 2), 2), about=f"reply:{rid}",
                                     thread_of=f"ticket:{ticket_id}"))
        await enqueue(conn, effects, now=now)
        await conn.execute(insert_for(conn, ticket_events).values(
            ticket_id=ticket_id, kind=f"reply_{status}", at=now, ref=str(rid), detail=d.reason[:200]))
        if handoff:
            await conn.execute(update(tickets).where(tickets.c.id == ticket_id, tickets.c.handoff.is_(None))
                               .values(handoff=handoff, handoff_at=now))
            await conn.execute(insert_for(conn, ticket_events).values(
                ticket_id=ticket_id, kind="handoff", at=now, ref=str(rid), detail=handoff))
    return counts


# ── what people do with a held reply (the CLI and Slack's buttons) ───────────────────────────────
@dataclass(frozen=True)
class Reply:
    id: int
    ticket_id: int
    mention_id: int
    source: str
    thread_key: str
    category: str
    policy: str
    status: str
    private: bool
    text: str
    reason: str
    ref: str | None
    created_at: float
    decided_by: str | None


def _reply(r: Any) -> Reply:
    return Reply(r.id, r.ticket_id, r.mention_id, r.source, r.thread_key, r.category, r.policy, r.status,
                 bool(r.private), r.text, r.reason or "", r.ref, r.created_at, r.decided_by)


async def get(engine: AsyncEngine, reply_id: int) -> Reply | None:
    async with engine.connect() as conn:
        r = (await conn.execute(select(replies).where(replies.c.id == reply_id))).first()
    return None if r is None else _reply(r)


async def list_replies(engine: AsyncEngine, *, status: Sequence[str] | None = ("held", "approved"),
                       limit: int = 50) -> list[Reply]:
    stmt = select(replies).order_by(replies.c.created_at.desc(), replies.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(replies.c.status.in_(list(status)))
    async with engine.connect() as conn:
        return [_reply(r) for r in await conn.execute(stmt)]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    note: str  # what to tell the person, in words


async def approve(engine: AsyncEngine, reply_id: int, by: str, *, now: float | None = None) -> Outcome:
    """Approve a held reply: it goes out through the outbox. Approving twice posts once."""
    now = time.time() if now is None else now
    async with engine.begin() as conn:
        r = (await conn.execute(select(replies).where(replies.c.id == reply_id))).first()
        if r is None:
            return Outcome(False, f"There is no reply {reply_id}.")
        if r.status != "held":
            return Outcome(r.status in ("approved", "sent"), _not_waiting(r))
        res = await conn.execute(update(replies).where(replies.c.id == reply_id, replies.c.status == "held")
                                 .values(status="approved", decided_at=now, decided_by=by[:128],
                                         outbox_key=outbox_key(r.thread_key)))
        if res.rowcount != 1:  # someone else decided between our read and our write
            return Outcome(False, f"Reply {reply_id} was decided by someone else just now.")
        t = (await conn.execute(select(tickets.c.urgency, tickets.c.handoff).where(tickets.c.id == r.ticket_id))).first()
        urgency, handoff = (t.urgency, t.handoff) if t is not None else (None, None)
        await enqueue(conn, reply_effects(r.source, r.thread_key, r.id, PRIORITY.get(urgency or "normal", 2),
                                          r.ticket_id, dm=bool(r.private) and handoff == "dm"), now=now)
        await conn.execute(insert_for(conn, ticket_events).values(
            ticket_id=r.ticket_id, kind="reply_approved", at=now, ref=str(reply_id), detail=f"by {by}"[:200]))
    return Outcome(True, f"Reply {reply_id} approved by {by}; it will be posted (ticket #{r.ticket_id}).")


async def edit(engine: AsyncEngine, reply_id: int, text: str, by: str, *, now: float | None = None) -> Outcome:
    """Change a held reply's words (a person wrote them; they still need approving)."""
    now = time.time() if now is None else now
    text = " ".join(text.split())
    if not text:
        return Outcome(False, "A reply cannot be empty.")
    async with engine.begin() as conn:
        r = (await conn.execute(select(replies).where(replies.c.id == reply_id))).first()
        if r is None:
            return Outcome(False, f"There is no reply {reply_id}.")
        if r.source == "x" and len(text) > 280:
            return Outcome(False, f"X allows 280 characters; this is {len(text)}.")
        res = await conn.execute(update(replies).where(replies.c.id == reply_id, replies.c.status == "held")
                                 .values(text=text))
        if res.rowcount != 1:
            return Outcome(False, _not_waiting(r))
        await conn.execute(insert_for(conn, ticket_events).values(
            ticket_id=r.ticket_id, kind="reply_edited", at=now, ref=str(reply_id), detail=f"by {by}"[:200]))
    return Outcome(True, f"Reply {reply_id} edited by {by}; it still waits for approval.")


async def skip(engine: AsyncEngine, reply_id: int, by: str, *, now: float | None = None) -> Outcome:
    """Do not post this reply. An approved one is taken back unless its sending already began."""
    now = time.time() if now is None else now
    async with engine.begin() as conn:
        r = (await conn.execute(select(replies).where(replies.c.id == reply_id))).first()
        if r is None:
            return Outcome(False, f"There is no reply {reply_id}.")
        if r.status not in ("held", "approved", "dry_run"):
            return Outcome(r.status == "skipped", _not_waiting(r))
        if r.status == "approved" and not await _take_back(conn, r.thread_key):
            return Outcome(False, f"Reply {reply_id} is being posted right now; it cannot be stopped.")
        await conn.execute(update(replies).where(replies.c.id == reply_id, replies.c.status == r.status)
                           .values(status="skipped", decided_at=now, decided_by=by[:128]))
        await conn.execute(insert_for(conn, ticket_events).values(
            ticket_id=r.ticket_id, kind="reply_skipped", at=now, ref=str(reply_id), detail=f"by {by}"[:200]))
    return Outcome(True, f"Reply {reply_id} skipped by {by}; nothing will be posted.")


async def _take_back(conn: AsyncConnection, key: str) -> bool:
    """Drop an approved reply's outbox rows, unless its sending began (one in flight is past stopping)."""
    idle = (outbox.c.status == "pending", outbox.c.in_doubt.is_(False), outbox.c.claimed_by.is_(None))
    res = await conn.execute(update(outbox).where(outbox.c.key == outbox_key(key), *idle).values(status="dropped"))
    if res.rowcount != 1:
        return False
    await conn.execute(update(outbox).where(outbox.c.key == f"dm:{key}", *idle).values(status="dropped"))
    return True


async def skip_for_spam(conn: AsyncConnection, source: str, author_id: str, *, by: str, now: float) -> int:
    """The team marked this author as spam: their replies still waiting are skipped, in the caller's
    transaction (the click's). Returns how many; an approved one already being posted goes out."""
    waiting = (await conn.execute(select(replies).where(
        replies.c.source == source, replies.c.author_id == author_id,
        replies.c.status.in_(["held", "dry_run", "approved"])))).all()
    skipped = 0
    for r in waiting:
        if r.status == "approved" and not await _take_back(conn, r.thread_key):
            continue
        res = await conn.execute(update(replies).where(replies.c.id == r.id, replies.c.status == r.status)
                                 .values(status="skipped", decided_at=now, decided_by=by[:128],
                                         reason="the author was marked as spam"))
        if res.rowcount == 1:
            await conn.execute(insert_for(conn, ticket_events).values(
                ticket_id=r.ticket_id, kind="reply_skipped", at=now, ref=str(r.id),
                detail=f"author marked as spam by {by}"[:200]))
            skipped += 1
    return skipped


def _not_waiting(r: Any) -> str:
    return {
        "approved": f"Reply {r.id} is already approved (by {r.decided_by}); it is posted once.",
        "sent": f"Reply {r.id} was already posted ({r.ref}).",
        "skipped": f"Reply {r.id} was skipped (by {r.decided_by}).",
        "dry_run": f"Reply {r.id} is a dry-run draft: the policy for {r.category} does not post "
                   f"(set tickets.replies.categories.{r.category}: approve).",
    }.get(r.status, f"Reply {r.id} is {r.status}.")


OnSent = Callable[[AsyncConnection, Any, str], Awaitable[None]]  # (transaction, reply row, its post id)


async def record_sent(engine: AsyncEngine, reply_id: int, ref: str, *, now: float, asked_at: float | None = None,
                      on_sent: OnSent | None = None) -> None:
    """The reply is public: on the reply, and on its ticket as a response (the first one sets first_response_at).

    `asked_at`: when we asked the platform to post it. A customer message newer than that keeps the
    ticket open (the poll that stored it may have run before this). Idempotent: a reconcile after a
    crash may call it again for the same reply. `on_sent` adds what follows from it (the helpdesk
    comment) in the same transaction.
    """
    async with engine.begin() as conn:
        r = (await conn.execute(select(replies).where(replies.c.id == reply_id))).first()
        if r is None or r.status == "sent":
            return
        await conn.execute(update(replies).where(replies.c.id == reply_id).values(status="sent", ref=ref, sent_at=now))
        if on_sent is not None:
            await on_sent(conn, r, ref)
        t = (await conn.execute(select(tickets).where(tickets.c.id == r.ticket_id))).first()
        if t is None:
            return
        values: dict[str, Any] = {"reply_ref": ref, "updated_at": now,
                                  "last_response_at": max(t.last_response_at or now, now)}
        if t.first_response_at is None:
            values.update(first_response_at=now, first_response_ref=ref)
            await conn.execute(insert_for(conn, ticket_events).values(
                ticket_id=t.id, kind="first_response", at=now, ref=ref, detail="our reply"))
        customer_since = (t.last_customer_at or t.opened_at) > (asked_at if asked_at is not None else now)
        if t.status == "open" and not customer_since:
            values["status"] = "pending"
        await conn.execute(update(tickets).where(tickets.c.id == t.id).values(**values))
        await conn.execute(insert_for(conn, ticket_events).values(
            ticket_id=t.id, kind="reply_sent", at=now, ref=ref, detail=str(reply_id)))


async def sent_since(engine: AsyncEngine, since: float) -> list[float]:
    async with engine.connect() as conn:
        return [t for (t,) in await conn.execute(select(replies.c.sent_at).where(replies.c.sent_at >= since))]


class ReplyDesk:
    """The Slack buttons' view of the replies (alerts/interactivity.ReplyDesk)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def waiting_for_ticket(self, ticket_id: int) -> int | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(replies.c.id).where(replies.c.ticket_id == ticket_id,
                                                                  replies.c.status == "held")
                                       .order_by(replies.c.id).limit(1))).scalar()

    async def text(self, reply_id: int) -> str | None:
        r = await get(self.engine, reply_id)
        return r.text if r is not None and r.status == "held" else None

    async def approve(self, reply_id: int, by: str, *, text: str | None = None) -> str:
        if text is not None:
            edited = await edit(self.engine, reply_id, text, by)
            if not edited.ok:
                return edited.note
        return (await approve(self.engine, reply_id, by)).note

    async def skip(self, reply_id: int, by: str) -> str:
        return (await skip(self.engine, reply_id, by)).note

    async def waiting(self) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(replies)
                                       .where(replies.c.status == "held"))).scalar_one()


SlackReplyDesk = ReplyDesk  # the name monitor/slack_cockpit.py looked for first
