"""Compute a digest and draw its charts: what the CLI, the schedule and the pages share."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.digest import charts
from monitor.digest.config import DigestsConfig
from monitor.digest.load import compute
from monitor.digest.period import Period


async def build(engine: AsyncEngine, period: Period, *, brand: str, cfg: DigestsConfig, own: Sequence[str] = (),
                schedule: str = "", now: float | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    d = await compute(engine, period, brand=brand, cfg=cfg, ignore_terms=frozenset(h.lower() for h in own),
                      schedule=schedule, now=now)
    pngs = await asyncio.to_thread(charts.draw, d)  # matplotlib is CPU work: keep the loop free
    return d, pngs
