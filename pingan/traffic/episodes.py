"""The registry of episode kinds: what happens in the prefecture, how often and at what hour.

An episode is a small story (a report's lifecycle, a person crossing three cameras, a fraud ring
working a township) that yields one or more events. ``weight`` is how many episodes start per unit
of activity, ``profile`` the relative rate by local hour, ``mean_events`` the events it yields on
average (used to spread the requested event count over the window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pingan.traffic import camera, clock, fraud, grid, service
from pingan.traffic.context import Context, Event


@dataclass(frozen=True, slots=True)
class EpisodeKind:
    name: str
    make: Callable[[Context, int], list[Event]]
    weight: float
    profile: tuple[float, ...]
    weekend: float  # factor on Saturday and Sunday
    mean_events: float


def _night_single(ctx: Context, ts: int) -> list[Event]:
    return camera.background(ctx, ts)


EPISODES: tuple[EpisodeKind, ...] = (
    EpisodeKind("camera.stranger", camera.background, 14, clock.DAYTIME, 1.0, 1.0),
    EpisodeKind("camera.night_stranger", _night_single, 3, clock.NIGHT_ONLY, 1.0, 1.0),
    EpisodeKind("camera.night_burst", camera.night_burst, 1.0, clock.NIGHT_ONLY, 1.0, 3.3),
    EpisodeKind("camera.face_match", camera.face_match, 5, clock.DAYTIME, 1.0, 1.0),
    EpisodeKind("camera.face_trail", camera.face_trail, 1.5, clock.DAYTIME, 1.0, 2.7),
    EpisodeKind("camera.plate_match", camera.plate_match, 4, clock.DAYTIME, 1.0, 1.0),
    EpisodeKind("camera.intrusion", camera.intrusion, 0.6, clock.NIGHT, 1.0, 1.0),
    EpisodeKind("camera.outage", camera.outage, 2.5, clock.FLAT, 1.0, 1.95),
    EpisodeKind("grid.report", grid.report, 5, clock.WORKDAY, 0.8, 3.5),
    EpisodeKind("grid.risk_assessment", grid.risk_assessment, 4, clock.WORKDAY, 0.6, 2.0),
    EpisodeKind("grid.household_disputes", grid.household_disputes, 0.12, clock.WORKDAY, 0.8, 13.0),
    EpisodeKind("grid.high_risk_then_stranger", grid.high_risk_then_stranger, 0.15, clock.WORKDAY, 0.8, 3.0),
    EpisodeKind("fraud.case", fraud.single, 1.5, clock.DAYTIME, 1.0, 2.8),
    EpisodeKind("fraud.cluster", fraud.cluster, 0.08, clock.DAYTIME, 1.0, 10.5),
    EpisodeKind("fraud.repeat_victim", fraud.repeat_victim, 0.08, clock.DAYTIME, 1.0, 6.2),
    EpisodeKind("service.hall", service.hall, 5, clock.OFFICE, clock.WEEKEND_OFFICE, 2.0),
    EpisodeKind("service.online", service.online, 6, clock.DAYTIME, clock.WEEKEND_DAYTIME, 2.0),
)


@dataclass(frozen=True, slots=True)
class HourMix:
    """For one hour of the week: cumulative episode weights and the expected event rate."""

    cum_weights: tuple[float, ...]
    rate: float


def hour_mixes(kinds: tuple[EpisodeKind, ...] = EPISODES) -> list[HourMix]:
    """168 mixes, index ``weekday * 24 + hour`` (local time)."""
    mixes = []
    for weekday in range(7):
        for hour in range(24):
            weights = []
            rate = 0.0
            for kind in kinds:
                w = kind.weight * kind.profile[hour] * (kind.weekend if weekday >= 5 else 1.0)
                weights.append(w)
                rate += w * kind.mean_events
            cum, acc = [], 0.0
            for w in weights:
                acc += w
                cum.append(acc)
            mixes.append(HourMix(tuple(cum), rate))
    return mixes
