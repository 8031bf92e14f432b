"""The traffic simulator: a deterministic stream of messages for the four input topics.

How the stream is built (all randomness from ``random.Random`` seeded by ``seed``):

1. The window [start, start + duration) is cut into short chunks (≤ 15 min, ≥ 1 s). Each chunk
   gets its share of the valid events in proportion to the expected activity at its local hour
   and weekday (:mod:`pingan.traffic.episodes`), so nights and weekends are quieter.
2. In each chunk, episodes start at random times until the chunk holds its share; events an
   episode schedules later (a report resolved two days on) wait in a heap for their chunk, and
   count towards it. Events past the end of the window are never emitted.
3. Events leave in event-time order, except ``late_share`` of them, which are held back and
   emitted 0.5-6 h of event time later (at the end of the stream when the window is shorter).
4. ``invalid_share`` of the messages are broken variants of recent events
   (:mod:`pingan.traffic.invalid`) and ``duplicate_share`` are re-deliveries of a recent valid
   message (same key, same bytes), placed uniformly in the stream.

``events`` is exact: the stream has exactly that many messages.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from pingan.errors import ConfigError
from pingan.traffic.clock import HOUR, local_hour, local_weekday
from pingan.traffic.context import Context
from pingan.traffic.episodes import EPISODES, hour_mixes
from pingan.traffic.invalid import make_invalid
from pingan.traffic.message import Message
from pingan.traffic.world import World, build_world

DEFAULT_TOPICS = {"camera": "camera.alerts", "grid": "grid.reports", "fraud": "fraud.cases", "service": "service.records"}
MAX_CHUNK_S = 900


@dataclass(frozen=True)
class SimulationConfig:
    events: int
    start: int  # epoch seconds
    duration_s: float
    seed: int = 1
    invalid_share: float = 0.01
    duplicate_share: float = 0.005
    late_share: float = 0.02
    topics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TOPICS))

    def __post_init__(self) -> None:
        if self.events < 0:
            raise ConfigError("--events must be >= 0")
        if self.duration_s < 1:
            raise ConfigError("the duration must be at least 1 s")
        for name in ("invalid_share", "duplicate_share", "late_share"):
            value = getattr(self, name)
            if not 0 <= value <= 0.5:
                raise ConfigError(f"{name} must be between 0 and 0.5, not {value}")
        if self.invalid_share + self.duplicate_share > 0.5:
            raise ConfigError("invalid and duplicate shares together must not exceed 0.5")

    @property
    def end(self) -> int:
        return self.start + max(1, int(self.duration_s))

    def split(self) -> tuple[int, int, int]:
        """(valid, invalid, duplicate) message counts; at least one valid event when events > 0."""
        invalid = round(self.events * self.invalid_share)
        duplicate = round(self.events * self.duplicate_share)
        valid = self.events - invalid - duplicate
        if valid < 1 and self.events > 0:
            valid, invalid, duplicate = 1, max(0, invalid - 1), duplicate
        return valid, invalid, duplicate


@dataclass
class SimulationStats:
    per_topic: Counter = field(default_factory=Counter)
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    late: int = 0
    invalid_kinds: Counter = field(default_factory=Counter)
    episodes: Counter = field(default_factory=Counter)
    first_ts: int | None = None
    last_ts: int | None = None

    @property
    def total(self) -> int:
        return self.valid + self.invalid + self.duplicates


class Simulator:
    """Iterate :meth:`messages` once; :attr:`stats` fills as it goes."""

    def __init__(self, config: SimulationConfig, world: World | None = None):
        self.config = config
        self.world = world or build_world(config.seed)
        self.stats = SimulationStats()
        tag = hashlib.blake2b(f"{config.seed}:{config.start}".encode(), digest_size=3).hexdigest()
        self._ctx = Context(random.Random(config.seed), self.world, config.start, config.end, tag)
        self._noise = random.Random(f"{config.seed}:noise")

    # -- chunks ----------------------------------------------------------------------------
    def _chunks(self, n_valid: int) -> list[tuple[int, int, int]]:
        """(from, to, valid events) per chunk, by largest remainder over the activity rhythm."""
        start, end = self.config.start, self.config.end
        span = end - start
        length = max(1, min(MAX_CHUNK_S, span // 200))
        mixes = self._mixes
        bounds, weights = [], []
        a = start
        while a < end:
            b = min(end, a + length)
            mid = (a + b) // 2
            weights.append(mixes[local_weekday(mid) * 24 + local_hour(mid)].rate * (b - a))
            bounds.append((a, b))
            a = b
        total = sum(weights) or 1.0
        exact = [w * n_valid / total for w in weights]
        counts = [int(x) for x in exact]
        short = n_valid - sum(counts)
        order = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
        for i in order[:short]:
            counts[i] += 1
        return [(a, b, c) for (a, b), c in zip(bounds, counts)]

    # -- valid events in arrival order -------------------------------------------------------
    def _valid_events(self, n_valid: int) -> Iterator[tuple[str, dict]]:
        ctx, noise, stats = self._ctx, self._noise, self.stats
        rng = ctx.rng
        end = self.config.end
        late_share = self.config.late_share
        mixes = self._mixes
        kinds = EPISODES
        pending: list[tuple[int, int, str, dict]] = []
        late: list[tuple[int, int, str, dict]] = []
        seq = 0
        taken = 0
        debt = 0
        for a, b, target in self._chunks(n_valid):
            current = []
            while pending and pending[0][0] < b:
                current.append(heapq.heappop(pending))
            need = target - debt
            if len(current) < need:
                mix = mixes[local_weekday(a) * 24 + local_hour(a)]
                cum = mix.cum_weights
                span = b - a
                while len(current) < need:
                    kind = rng.choices(kinds, cum_weights=cum)[0]
                    stats.episodes[kind.name] += 1
                    for ts, stream, body in kind.make(ctx, a + rng.randrange(span)):
                        if ts >= end:
                            continue
                        seq += 1
                        if ts < b:
                            current.append((ts, seq, stream, body))
                        else:
                            heapq.heappush(pending, (ts, seq, stream, body))
            debt = len(current) - need if len(current) > need else 0
            current.sort()
            for ts, s, stream, body in current:
                while late and late[0][0] <= ts:
                    _, _, lstream, lbody = heapq.heappop(late)
                    yield lstream, lbody
                taken += 1
                if noise.random() < late_share:
                    stats.late += 1
                    heapq.heappush(late, (ts + int(noise.uniform(0.5, 6) * HOUR), s, stream, body))
                else:
                    yield stream, body
                if taken >= n_valid:
                    break
            if taken >= n_valid:
                break
        while late:
            _, _, lstream, lbody = heapq.heappop(late)
            yield lstream, lbody

    # -- the message stream ------------------------------------------------------------------
    def messages(self) -> Iterator[Message]:
        config, noise, stats, ctx = self.config, self._noise, self.stats, self._ctx
        self._mixes = hour_mixes()
        n_valid, n_invalid, n_dup = config.split()
        topics = config.topics
        valid = self._valid_events(n_valid)
        recent: deque[tuple[str, Message]] = deque(maxlen=512)
        total = config.events
        for i in range(total):
            r = noise.random() * (total - i)
            if i > 0 and r < n_invalid:
                n_invalid -= 1
                stream, base = recent[noise.randrange(len(recent))]
                body = dict(base.value)
                body["event_id"] = ctx.event_id(stream)
                kind, raw = make_invalid(noise, self.world, stream, body)
                stats.invalid += 1
                stats.invalid_kinds[kind] += 1
                message = Message(topics[stream], body["event_id"], raw)
            elif i > 0 and r < n_invalid + n_dup:
                n_dup -= 1
                stream, message = recent[noise.randrange(len(recent))]
                stats.duplicates += 1
            else:
                try:
                    stream, body = next(valid)
                except StopIteration:
                    break
                message = Message(topics[stream], body["event_id"], body)
                recent.append((stream, message))
                stats.valid += 1
                ts = body["ts"]
                if stats.first_ts is None or ts < stats.first_ts:
                    stats.first_ts = ts
                if stats.last_ts is None or ts > stats.last_ts:
                    stats.last_ts = ts
            stats.per_topic[message.topic] += 1
            yield message


def simulate(config: SimulationConfig) -> Iterator[Message]:
    """Shorthand: the messages of ``config``."""
    return Simulator(config).messages()
