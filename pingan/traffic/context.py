"""What every episode generator gets: the seeded random source, the world, the window, ids."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pingan.traffic.clock import iso
from pingan.traffic.world import World

#: (event time in epoch seconds, stream name, the event's JSON object)
Event = tuple[int, str, dict[str, Any]]

ID_PREFIX = {"camera": "cam", "grid": "grd", "fraud": "frd", "service": "svc"}


@dataclass
class Context:
    rng: random.Random
    world: World
    start: int
    end: int  # exclusive: events at or after it are not emitted
    tag: str  # short run tag in every id, so separate runs do not collide
    _counters: dict[str, int] = field(default_factory=dict)

    def next_number(self, name: str) -> int:
        n = self._counters.get(name, 0) + 1
        self._counters[name] = n
        return n

    def event_id(self, stream: str) -> str:
        return f"{ID_PREFIX[stream]}-{self.tag}-{self.next_number('event:' + stream):08d}"

    def event(self, stream: str, ts: int, fields: dict[str, Any]) -> Event:
        """A new event with a fresh ``event_id`` and ``ts`` followed by ``fields`` (None left out)."""
        body: dict[str, Any] = {"event_id": self.event_id(stream), "ts": iso(ts)}
        for name, value in fields.items():
            if value is not None:
                body[name] = value
        return (ts, stream, body)

    def room(self, ts: int, longest: float) -> float:
        """A span of up to ``longest`` seconds that still ends inside the window after ``ts``."""
        left = self.end - ts
        return max(1.0, min(longest, left * 0.95))
