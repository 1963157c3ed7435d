"""The cases of the reliability matrix. Each is `async def case(h: Harness) -> Result`, run once per backend.

What "recover_s" means in each case is said in its docstring; `figures` carries what only that
case measures (failover times, the critical alert's latency, …).
"""
from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from monitor.sandbox.core import Fault, Recorder
from monitor.sandbox.crash_run import kill_repeatedly, last_life
from monitor.sandbox.ledger import settled, slack_keys
from monitor.sandbox.stack import X_BEARER
from monitor.storage.schema import leases, mentions, outbox
from reliability_harness import BRAND, Harness, Result

WARMUP_POSTS = 5
POSTS_DURING_FAULT = 20  # spread over the fault, whatever its length: a long outage is not a flood


async def _warm(h: Harness) -> None:
    """The first posts through, so the fault meets a daemon that works."""
    h.publish(2 if h.s.quick else WARMUP_POSTS, 1.0)
    took = await h.settle()
    if took is None:
        h.result.notes.append("the warm-up posts never settled: the daemon was not working before the fault")


async def _fault_case(h: Harness, fault_s: float, begin: Callable[[], Awaitable[None] | None],
                      end: Callable[[], Awaitable[None] | None], *, after_lift: Callable[[], None] | None = None,
                      posts: int = POSTS_DURING_FAULT, damaged: Recorder | None = None,
                      resumed: Callable[[float], Awaitable[bool]] | None = None) -> Result:
    """The shape most cases share: warm up, damage for `fault_s` while posts keep coming, lift, recover.

    `damaged`: the recorder of the service the fault is on (its first call during the fault is when the
    daemon can know). `resumed(lifted_at)`: when the daemon is working again; then recover_s is the
    time to it, and `drained_s` (every alert sent) is a figure of its own."""
    d = await h.daemon(config=h.config())
    await _warm(h)
    t_fault = time.time()
    h.sample_health(d, tried=None if damaged is None else
                    (lambda: any(r.at >= t_fault for r in reversed(damaged.requests[-50:]))))
    h.publish(min(posts, max(3, int(fault_s))), fault_s)
    maybe = begin()
    if maybe is not None:
        await maybe
    await asyncio.sleep(fault_s)
    maybe = end()
    if maybe is not None:
        await maybe
    await h.stop_sampling()
    if after_lift is not None:
        after_lift()
    if not d.running:
        h.result.notes.append(f"the daemon died during the fault (exit {d.proc.returncode if d.proc else '?'})")
    if resumed is None:
        return await h.finish(await h.settle(alive=d))
    lifted_at, t_lift = time.time(), time.monotonic()
    resumed_s = None
    try:
        resumed_s = await h.stack.wait_until(lambda: resumed(lifted_at), timeout=h.s.settle_s,
                                             what="the daemon working again", alive=lambda: d.running)
    except (TimeoutError, RuntimeError) as e:
        h.result.notes.append(str(e))
    drained = await h.settle(alive=d)
    backlog = Counter(m["channel"] for m in h.stack.slack.all_messages() if float(m["ts"]) >= lifted_at)
    h.result.figures.update(drained_s=_r(None if drained is None else time.monotonic() - t_lift),
                            sent_after_lift=dict(backlog),
                            # Slack takes about one message a second per channel: no daemon drains faster
                            slack_pace_floor_s=max(backlog.values(), default=1) - 1)
    return await h.finish(resumed_s)


# ── the cases ──────────────────────────────────────────────────────────────────────────────

async def kills(h: Harness) -> Result:
    """`--kills` lives killed with -9 after readiness (half the instant Slack receives a message, half at a
    seeded moment), then a last life. Alerts from "low" up, so every life has messages to send.
    recover_s: the last life's time from readiness to all stored and sent."""
    h.stack.slack.faults.add("/api/chat.postMessage", Fault("timeout", times=1 << 62, delay=0.15))
    path = h.config(triage={"alert_min_urgency": "low"})
    run = await kill_repeatedly(h.stack, path, kills=h.s.kills, seed=h.s.seed, log_path=h.log)
    h.ids += run.ids
    took, code = await last_life(h.stack, path, lambda: settled(h.engine, h.ids), log_path=h.log,
                                 settle_timeout=h.s.settle_s)
    h.result.exit_code = code
    h.result.figures.update(kills=run.lives, mid_delivery=run.mid_delivery, random=run.random_kills,
                            reconciled_lookups=len(h.stack.slack.recorder.matching("/api/conversations.history")))
    return await h.finish(took, stop=False)


async def failover(h: Harness) -> Result:
    """Two daemons on one database; the one polling is killed with -9 while it holds outbox rows.
    figures: poll_takeover_s (kill → a post published at the kill is stored by the survivor),
    outbox_takeover_s (kill → every row the dead one had claimed is sent); recover_s = kill → settled."""
    path = h.config()
    h.result.figures["failover_seconds"] = h.s.failover_seconds or "shipped default"
    h.stack.slack.faults.hold("/api/chat.postMessage", Fault("timeout", delay=0.3))  # rows stay claimed a while
    a = await h.daemon("daemon A", config=path)
    b = await h.daemon("daemon B", config=path)
    await _warm(h)
    by_instance = {a.ready["instance"]: a, b.ready["instance"]: b}  # type: ignore[index]

    async def holder() -> str | None:
        async with h.engine.connect() as conn:
            return (await conn.execute(select(leases.c.holder).where(leases.c.name.like("poll:%")))).scalar()

    async def claimed_by(instance: str) -> list[str]:
        async with h.engine.connect() as conn:
            return [k for (k,) in await conn.execute(
                select(outbox.c.key).where(outbox.c.claimed_by == instance, outbox.c.status == "pending"))]

    h.publish(15, 1.0)
    victim_name: str | None = None
    in_hand: list[str] = []

    async def victim_holds_rows() -> bool:
        nonlocal victim_name, in_hand
        victim_name = await holder()
        if victim_name not in by_instance:
            return False
        in_hand = await claimed_by(victim_name)
        return bool(in_hand)

    try:  # both dispatchers claim rows, so the poller may hold none for a while: kill it anyway after a bound
        await h.stack.wait_until(victim_holds_rows, timeout=15 if h.s.quick else 30,
                                 what="the polling daemon to hold outbox rows")
    except TimeoutError:
        h.result.notes.append("the polling daemon held no outbox rows when killed")
    if victim_name not in by_instance:
        h.result.error = "no daemon held the poll lease"
        return await h.finish(None)
    victim = by_instance[victim_name]
    survivor = b if victim is a else a
    await victim.kill()
    t_kill = time.monotonic()
    in_hand = await claimed_by(victim_name)
    marker = h.publish(1, 0.0)
    h.publish(4, 2.0)

    async def marker_stored() -> bool:
        async with h.engine.connect() as conn:
            return bool((await conn.execute(
                select(func.count()).select_from(mentions).where(mentions.c.external_id.in_(marker)))).scalar_one())

    async def rows_sent() -> bool:
        if not in_hand:
            return True
        async with h.engine.connect() as conn:
            return not (await conn.execute(select(func.count()).where(
                outbox.c.key.in_(in_hand), outbox.c.status == "pending"))).scalar_one()

    poll_s = outbox_s = None
    bound = h.s.settle_s + 120
    try:
        poll_s = await h.stack.wait_until(marker_stored, timeout=bound, what="the survivor to poll")
        outbox_s = await h.stack.wait_until(rows_sent, timeout=bound, what="the dead daemon's rows") + poll_s
    except TimeoutError as e:
        h.result.notes.append(str(e))
    recover = await h.settle(bound=bound, alive=survivor)
    h.stack.slack.faults.clear()
    h.result.figures.update(poll_takeover_s=_r(poll_s), outbox_takeover_s=_r(outbox_s), rows_in_hand=len(in_hand))
    return await h.finish(None if recover is None else time.monotonic() - t_kill)


async def database_down(h: Harness) -> Result:
    """The database unavailable for `db_down` seconds (PostgreSQL: our own server stopped; SQLite: an
    exclusive lock held by another process). recover_s: database back → every post stored and alerts
    flowing again (one delivered after the outage); figures: drained_s (→ every alert sent, which
    Slack's pace of a message a second per channel bounds: slack_pace_floor_s)."""
    fault_s = h.s.fault_s["database_down"]
    h.result.figures["what"] = h.backend.what_unavailable_means
    outage = h.backend.unavailable(h.db_url)

    async def begin() -> None:
        await h.engine.dispose()  # our own pooled connections would die with the server
        await outage.__aenter__()

    async def resumed(lifted_at: float) -> bool:
        delivered = any(r.at >= lifted_at and r.status == 200
                        for r in h.stack.slack.recorder.matching("/api/chat.postMessage"))
        return delivered and await _all_stored(h)

    return await _fault_case(h, fault_s, begin, lambda: outage.__aexit__(None, None, None), resumed=resumed)


async def _all_stored(h: Harness) -> bool:
    try:
        async with h.engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(mentions)
                                         .where(mentions.c.external_id.in_(h.ids)))).scalar_one()
    except Exception:  # the database is what is being damaged
        return False
    return stored >= len(h.ids)


async def slack_down(h: Harness) -> Result:
    """Every Slack call answers 503 for `slack_down` seconds. recover_s: Slack back → every alert sent."""
    lift: list[Callable[[], None]] = []
    return await _fault_case(
        h, h.s.fault_s["slack_down"],
        lambda: lift.append(h.stack.slack.faults.hold("/api/", Fault("503"))),
        lambda: lift.pop()(), damaged=h.stack.slack.recorder)


async def rate_limit_storm(h: Harness) -> Result:
    """For `storm` seconds every Slack post answers 429 (Retry-After 5 s); in its second half every X read
    answers 429 too (x-rate-limit-reset up to 30 s ahead), so alerts are both queued against the storm
    and decided during it. recover_s: storm over → all stored and sent."""
    fault_s = h.s.fault_s["storm"]
    lifts: list[Callable[[], None]] = []

    async def begin() -> None:
        lifts.append(h.stack.slack.faults.hold("/api/chat.postMessage", Fault("429", reset_in=5)))
        await asyncio.sleep(fault_s / 2)
        lifts.append(h.stack.x.faults.hold("/2/", Fault("429", reset_in=min(fault_s / 2, 30.0))))

    def end() -> None:
        for lift in lifts:
            lift()
        h.result.figures["x_429s"] = sum(1 for r in h.stack.x.recorder.requests if r.status == 429)
        h.result.figures["slack_429s"] = sum(1 for r in h.stack.slack.recorder.requests if r.status == 429)

    return await _fault_case(h, fault_s / 2, begin, end, damaged=h.stack.slack.recorder)


async def revoked_x_token(h: Harness) -> Result:
    """X refuses the bearer token (401) for `revoked` seconds; then it works again and the operator sends
    SIGHUP, as the operators' alert tells them to. recover_s: token back → all stored and sent."""

    def restore() -> None:
        h.stack.x.bearer_tokens.add(X_BEARER)
        _sighup(h)

    result = await _fault_case(h, h.s.fault_s["revoked"], lambda: h.stack.x.bearer_tokens.discard(X_BEARER), restore,
                               damaged=h.stack.x.recorder)
    result.figures["operators_told"] = len(h.stack.slack.messages("#care-ops"))
    return result


async def revoked_slack_token(h: Harness) -> Result:
    """Slack refuses the bot token (invalid_auth) on every call for `revoked` seconds; then the token works again and the
    operator sends SIGHUP. recover_s: token back → every alert sent."""

    def restore() -> None:
        h.stack.slack.restore_token()
        _sighup(h)

    return await _fault_case(h, h.s.fault_s["revoked"], h.stack.slack.revoke_token, restore,
                             damaged=h.stack.slack.recorder)


POISON = {
    "lone surrogate": "@acme my order never came \ud83d and nobody answers",
    "NUL": "@acme charged twice\x00 for one ticket, fix it",
    "both": "@acme \ud83d\x00 the app crashed again",
}


async def poisoned_batch(h: Harness) -> Result:
    """Posts with a lone surrogate, a NUL, and both, published in the same moment as 10 good posts (4 in
    --quick), with as many good posts after them. Counted: the good posts (lost = good posts not stored); figures say
    what became of the poisoned ones. recover_s: poison published → all good posts stored and sent."""
    d = await h.daemon(config=h.config())
    await _warm(h)
    h.sample_health(d)
    t0 = time.monotonic()
    at = time.time() + 0.5
    poison_ids = [h.stack.x.post(f"poisoner{i}", text, at=at) for i, text in enumerate(POISON.values())]
    good = 4 if h.s.quick else 10
    h.publish(good, 0.0, start_in=0.5)
    h.publish(good, 3.0, start_in=1.0)
    recover = await h.settle(alive=d)
    await h.stop_sampling()
    async with h.engine.connect() as conn:
        stored_poison = {i for (i,) in await conn.execute(
            select(mentions.c.external_id).where(mentions.c.external_id.in_(poison_ids)))}
    h.result.figures["poison_stored"] = {name: (pid in stored_poison) for name, pid in zip(POISON, poison_ids)}
    return await h.finish(None if recover is None else time.monotonic() - t0)


CRITICAL = "@acme the charger I bought from you started smoking last night and burned my desk. This is dangerous. (ref C7)"


async def burst(h: Harness) -> Result:
    """`--burst` posts within 10 s with one critical post in the middle. figures: critical_alert_s (the
    critical post visible → its alert in Slack), all_stored_s (burst start → every post stored).
    recover_s = all_stored_s; alerts still pending at the end are reported, not waited for (Slack takes
    about one message a second per channel)."""
    d = await h.daemon(config=h.config())
    await _warm(h)
    n = h.s.burst
    start_in = 1.0
    h.publish(n // 2, 5.0, start_in=start_in)
    crit_at = time.time() + start_in + 5.0
    crit = h.stack.x.post("safety_first_42", CRITICAL, at=crit_at)
    h.ids.append(crit)
    h.publish(n - n // 2, 5.0, start_in=start_in + 5.0)
    t0 = time.monotonic() + start_in
    crit_s: float | None = None
    all_stored: float | None = None

    def critical_in_slack() -> bool:
        return any("ref C7" in str(m) for m in h.stack.slack.messages("#care-urgent"))

    async def all_in() -> bool:
        nonlocal crit_s
        if crit_s is None and critical_in_slack():
            crit_s = time.time() - crit_at
        async with h.engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(mentions))).scalar_one()
        return stored >= len(h.ids) and crit_s is not None

    bound = h.s.settle_s + n / 20
    try:
        await h.stack.wait_until(all_in, timeout=bound, what="the burst stored and the critical alert sent",
                                 alive=lambda: d.running)
        all_stored = time.monotonic() - t0
    except (TimeoutError, RuntimeError) as e:
        h.result.notes.append(str(e))
    h.result.figures.update(critical_alert_s=_r(crit_s), all_stored_s=_r(all_stored), posts=n,
                            slack_messages=sum(slack_keys(h.stack.slack).values()))
    return await h.finish(all_stored)


def _sighup(h: Harness) -> None:
    for d in h.daemons:
        if d.running:
            d.signal(signal.SIGHUP)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


# In this order: the ten-minute Slack outage last, so a run cut short still has every other figure.
CASES: dict[str, Callable[[Harness], Awaitable[Result]]] = {
    "kills": kills,
    "failover": failover,
    "database_down": database_down,
    "rate_limit_storm": rate_limit_storm,
    "revoked_x_token": revoked_x_token,
    "revoked_slack_token": revoked_slack_token,
    "poisoned_batch": poisoned_batch,
    "burst": burst,
    "slack_down": slack_down,
}
