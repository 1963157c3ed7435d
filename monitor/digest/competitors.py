"""Competitors named in `digests.competitors` become extra search streams of every source that
searches (X and Reddit `queries`): their posts are stored and triaged for share of voice, but they
open no ticket, attach to no incident and raise no alert — nobody answers a competitor's customer.
"""
from __future__ import annotations

from typing import Any

from monitor.config import Config


def with_competitor_queries(cfg: Config) -> Config:
    """The config with each searching source's queries extended by the competitors' (once each)."""
    extra = [q for c in cfg.digests.competitors for q in c.search_queries]
    if not extra:
        return cfg
    sources: list[Any] = []
    for sc in cfg.sources:
        queries = getattr(sc, "queries", None)
        if queries is None:
            sources.append(sc)
            continue
        sources.append(sc.model_copy(update={"queries": [*queries, *(q for q in extra if q not in queries)]}))
    return cfg.model_copy(update={"sources": sources})


def listen_only_streams(cfg: Config) -> frozenset[str]:
    """The stream names competitors' posts arrive on (the connectors name a search `search:<query>`)."""
    return frozenset(f"search:{q}" for c in cfg.digests.competitors for q in c.search_queries)
