"""Event-time machinery shared by the live worker and the backtest (pure: wall clock passed in).

- :class:`Watermark`: per-partition largest ts; the watermark is the smallest of them. A partition
  idle (no event) for longer than ``idle_s`` of wall-clock time stops holding it back; when all are
  idle it is the largest ts seen. It never goes back.
- :class:`ReorderBuffer`: holds events and releases those with ts < watermark - grace, in
  (ts, topic, event_id) order.
- :class:`Timeline`: both, driving an :class:`~pingan.streams.engine.engine.Engine`: events reach
  the rules in event-time order, and engine time (hence deadlines) advances only to
  watermark - grace, so a fast partition never fires a deadline early.

Why live equals backtest: an event released at frontier F has ts < F, and every event still to come
from a partition that is not idle has ts >= (that partition's largest ts) - grace >= F, as long as
each partition is out of order by at most the grace period. So the engine sees exactly the sorted
sequence, whatever the interleaving of partitions; backtest is the one-partition case, and at the
end of its input :meth:`Timeline.flush` releases the rest (time stops at the largest ts seen).
Events later than that are still processed (counted in ``late``), out of order.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Hashable, Iterable

from pingan.streams.engine.engine import Engine

INF = float("inf")


class Watermark:
    def __init__(self, idle_s: float = INF):
        self.idle_s = idle_s
        self._max: dict[Hashable, float] = {}
        self._active_at: dict[Hashable, float] = {}  # wall time of the last event (or assignment)
        self._value = -INF

    def assign(self, partition: Hashable, now: float) -> None:
        """Declare a partition: until it delivers (or goes idle) it holds the watermark back."""
        self._active_at.setdefault(partition, now)

    def revoke(self, partition: Hashable) -> None:
        self._active_at.pop(partition, None)
        self._max.pop(partition, None)

    def touch(self, partition: Hashable, now: float) -> None:
        """The partition has messages on their way (consumer lag): it is not idle."""
        if partition in self._active_at:
            self._active_at[partition] = now

    def observe(self, partition: Hashable, ts: float, now: float) -> None:
        if ts > self._max.get(partition, -INF):
            self._max[partition] = ts
        self._active_at[partition] = now

    @property
    def largest(self) -> float:
        return max(self._max.values(), default=-INF)

    def all_idle(self, now: float) -> bool:
        """No partition delivered within ``idle_s``: nothing more is coming for now."""
        return bool(self._max) and all(now - at > self.idle_s for at in self._active_at.values())

    def value(self, now: float) -> float:
        active = [p for p, at in self._active_at.items() if now - at <= self.idle_s]
        if active:
            candidate = min(self._max.get(p, -INF) for p in active)
        else:
            candidate = self.largest
        if candidate > self._value:
            self._value = candidate
        return self._value


class ReorderBuffer:
    def __init__(self, grace_s: float = 0.0):
        self.grace_s = grace_s
        self._heap: list[tuple[float, str, str, int, dict[str, Any]]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, event: dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (event["ts"], event["topic"], event["event_id"], self._seq, event))

    def release(self, watermark: float) -> Iterable[dict[str, Any]]:
        """Yield the events with ts < watermark - grace, in event-time order."""
        return self.release_before(watermark - self.grace_s)

    def release_before(self, frontier: float) -> Iterable[dict[str, Any]]:
        """Yield the events with ts < frontier, in event-time order."""
        heap = self._heap
        while heap and heap[0][0] < frontier:
            yield heapq.heappop(heap)[4]

    def drain(self) -> Iterable[dict[str, Any]]:
        heap = self._heap
        while heap:
            yield heapq.heappop(heap)[4]


class Timeline:
    """Feeds an engine in event-time order up to the watermark (see the module docstring)."""

    def __init__(self, engine: Engine, grace_s: float = 0.0, idle_s: float = INF):
        self.engine = engine
        self.watermark = Watermark(idle_s)
        self.buffer = ReorderBuffer(grace_s)
        self.late = 0  # events that arrived after time had passed their ts (processed out of order)
        self._released = -INF

    @property
    def frontier(self) -> float:
        """Event time up to which events have been released to the engine."""
        return self._released

    @property
    def pending(self) -> int:
        return len(self.buffer)

    def assign(self, partitions: Iterable[Hashable], now: float = 0.0) -> None:
        for p in partitions:
            self.watermark.assign(p, now)

    def push(self, partition: Hashable, event: dict[str, Any], now: float = 0.0) -> list[dict[str, Any]]:
        """One decoded event from ``partition`` at wall time ``now``; returns the alerts released."""
        ts = event["ts"]
        if ts < self._released:
            self.late += 1
        self.watermark.observe(partition, ts, now)
        self.buffer.push(event)
        return self._release(now)

    def push_many(self, partition: Hashable, events: list[dict[str, Any]], now: float = 0.0,
                  release: bool = True) -> list[dict[str, Any]]:
        """A batch of decoded events from ``partition``: as :meth:`push` for each, one release at the
        end (none with ``release=False``: the caller pushes more partitions, then calls :meth:`tick`)."""
        if not events:
            return []
        released = self._released
        largest = -INF
        push = self.buffer.push
        for event in events:
            ts = event["ts"]
            if ts < released:
                self.late += 1
            if ts > largest:
                largest = ts
            push(event)
        self.watermark.observe(partition, largest, now)
        return self._release(now) if release else []

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Re-evaluate the watermark at wall time ``now`` (idle partitions); call it on a timer."""
        return self._release(now)

    def _release(self, now: float) -> list[dict[str, Any]]:
        watermark = self.watermark.value(now)
        alerts: list[dict[str, Any]] = []
        engine = self.engine
        if self.watermark.all_idle(now):
            # every partition is idle: nothing is on its way, so no grace is needed. Release all
            # (time stops at the largest ts seen, exactly as at the end of a backtest input).
            engine.run(self.buffer.drain(), alerts)
            if watermark > engine.time:
                alerts.extend(engine.advance_to(watermark))  # deadlines strictly before it fire
            # every event with ts <= watermark has now met the rules
            self._released = max(self._released, math.nextafter(watermark, INF))
            return alerts
        else:
            frontier = max(self._released, watermark - self.buffer.grace_s)
            engine.run(self.buffer.release_before(frontier), alerts)
        if frontier > self._released:
            self._released = frontier
            alerts.extend(engine.advance_to(frontier))
        return alerts

    def flush(self) -> list[dict[str, Any]]:
        """End of input (backtest): release everything; time stops at the largest ts seen."""
        alerts: list[dict[str, Any]] = []
        self.engine.run(self.buffer.drain(), alerts)
        self._released = max(self._released, self.watermark.largest)
        return alerts
