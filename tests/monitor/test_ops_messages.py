"""The operators' messages the poller sends: upstream text is escaped, ranges read as times."""
from __future__ import annotations

import pytest

from alerts.ops_alert import (
    build_gap,
    build_quiet_over,
    build_source_paused,
    build_source_resumed,
    build_stream_failing,
    build_stream_recovered,
    build_went_quiet,
)

HOSTILE = "<!channel> <@U123> *bold* <https://evil.example|click>"


@pytest.mark.parametrize("payload", [
    build_source_paused("x", HOSTILE),
    build_stream_failing("x", "search:acme", 5, HOSTILE),
    build_gap("reddit", HOSTILE, 1_764_000_000, 1_764_007_200),
    build_stream_recovered("x", HOSTILE, 600),
    build_went_quiet(HOSTILE, 1_764_000_000, 7200, 12),
    build_quiet_over(HOSTILE, 7200),
    build_source_resumed(HOSTILE),
])
def test_upstream_text_pings_nobody(payload: dict) -> None:
    blob = str(payload["blocks"])
    assert payload["text"]  # the notification fallback is always there
    for raw in ("<!channel>", "<@U123>", "<https://evil.example|click>"):
        assert raw not in blob


@pytest.mark.parametrize("start, end, shown", [
    (1_764_000_000, 1_764_007_200, ("2025-11-24 16:00 UTC", "2025-11-24 18:00 UTC", "2.0 h")),
    (1_764_000_000, 1_764_000_600, ("16:00 UTC", "16:10 UTC", "10 min")),
    (1_764_000_000, 1_764_000_045, ("16:00 UTC", "16:00 UTC", "45 s")),
])
def test_a_gap_names_its_range(start: float, end: float, shown: tuple[str, ...]) -> None:
    text = build_gap("x", "search:acme", start, end)["blocks"][0]["text"]["text"]
    assert all(s in text for s in shown) and "may be missing" in text
