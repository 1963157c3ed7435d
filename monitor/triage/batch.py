"""Triage a poll's batch off the event loop.

Triage is pure CPU. Run on the event loop, one hostile post (or a big batch) would stall polls,
delivery and `/healthz` for as long as it takes; in a worker thread the loop keeps its turns (the
interpreter switches threads every few milliseconds), and the post itself is bounded anyway (rules
`max_chars`, linear-time matching).
"""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from monitor.models import Mention, Verdict
from monitor.triage.engine import Triage


def triage_batch(triage: Triage, fresh: Sequence[Mention], contacts: Counter[str],
                 open_incidents: Sequence[str] = ()) -> list[Verdict | None]:
    """A verdict per mention, in order; None for what is never triaged (our own posts, removed
    posts). `contacts` (earlier messages per author in 24 h) is counted up as the batch goes, so the
    third message of a batch knows about the first two."""
    verdicts: list[Verdict | None] = []
    for m in fresh:
        if m.is_own or m.removed:
            # our own voice is stored for threading, never triaged (no echo loops); a deleted or
            # removed post is stored as what it is: there is nobody and nothing left to answer
            verdicts.append(None)
            continue
        prior = contacts[m.author.id]
        contacts[m.author.id] += 1
        verdicts.append(triage.classify(m, prior_contacts=prior, open_incidents=open_incidents))
    return verdicts


async def triage_off_loop(triage: Triage, fresh: Sequence[Mention], contacts: Counter[str],
                          open_incidents: Sequence[str] = ()) -> list[Verdict | None]:
    if not fresh:
        return []
    return await asyncio.to_thread(triage_batch, triage, list(fresh), contacts, list(open_incidents))
