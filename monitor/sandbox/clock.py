"""A clock that moves only when told, for the sandbox worlds, tests and simulated-time benchmarks."""
from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 1_764_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
