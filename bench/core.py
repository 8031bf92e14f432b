"""Interleaved rounds, ratio statistics and noise flags shared by every benchmark."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

#: a run is flagged noisy when the spread of its per-round ratios exceeds this share of the median
NOISY_SPREAD = 0.25


@dataclass
class Result:
    """One benchmark's outcome: per-round ratios and the figures behind them."""

    id: str
    what: str
    target: str
    ratios: list[float] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    higher_is_better: bool = True
    target_value: float | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def spread(self) -> tuple[float, float] | None:
        return (min(self.ratios), max(self.ratios)) if self.ratios else None

    @property
    def noisy(self) -> bool:
        if len(self.ratios) < 2 or not self.median:
            return False
        lo, hi = self.spread
        return (hi - lo) / abs(self.median) > NOISY_SPREAD

    @property
    def met(self) -> bool | None:
        if self.median is None or self.target_value is None:
            return None
        if self.higher_is_better:
            return self.median >= self.target_value
        return self.median <= self.target_value

    def line(self) -> str:
        if self.error:
            return f"{self.id:<4} {self.what}: ERROR {self.error}"
        lo, hi = self.spread or (float("nan"), float("nan"))
        flag = "  NOISY" if self.noisy else ""
        met = {True: "meets", False: "MISSES", None: "report"}[self.met]
        return (f"{self.id:<4} {self.what}: median {self.median:.3f} (min {lo:.3f} – max {hi:.3f}, "
                f"{len(self.ratios)} rounds) target {self.target} -> {met}{flag}")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(median=self.median, spread=self.spread, noisy=self.noisy, met=self.met)
        return out


def interleave(rounds: int, subject: Callable[[int], float], baseline: Callable[[int], float],
               *, ratio: Callable[[float, float], float] | None = None) -> tuple[list[float], list[float], list[float]]:
    """Run baseline and subject alternately ``rounds`` times (baseline first on even rounds,
    subject first on odd ones, so drift does not favour either). Each callable returns a rate (or
    any figure); the ratio is subject ÷ baseline unless ``ratio`` says otherwise."""
    ratio = ratio or (lambda s, b: s / b)
    subs, bases, ratios = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            b = baseline(r)
            s = subject(r)
        else:
            s = subject(r)
            b = baseline(r)
        subs.append(s)
        bases.append(b)
        ratios.append(ratio(s, b))
    return subs, bases, ratios


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call takes (perf_counter)."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default), from /proc."""
    path = f"/proc/{pid or os.getpid()}/status"
    with open(path) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")
