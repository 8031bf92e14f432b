"""De-duplication of events by (topic, event_id), in bounded memory.

The worker delivers at least once, so an event can reach the engine twice (a replay after a
restart, a producer retry). :class:`SeenIds` remembers the ids of recent events per topic so a
re-delivered one is dropped before any rule sees it.

Bounds. Per topic, ids are kept in *buckets* (consecutive ids, oldest first), and a bucket is
dropped whole when either bound says so:

- **capacity**: at most ``max_ids`` ids per topic (the oldest bucket goes first; after an
  eviction at least ``max_ids - 2 * bucket_ids`` of the newest ids remain, ``bucket_ids`` being
  ``max_ids / BUCKETS``);
- **event-time horizon**: a bucket whose ids are all older than the topic's horizon (the longest
  horizon of the rules on the topic, at least ``dedup_min_s``; passed to :meth:`SeenIds.sweep`) is
  dropped at the next sweep.

The capacity may be much smaller than the longest rule horizon (90 days of fraud cases). Exactness
does not rest on this set alone: window rules keep the ids of the events they hold, so a
re-delivered event is not counted twice by a window; alert ids are deterministic
(rule, key, ts), and stored alerts are counted by ``uniqExact(alert_id)``. This set is the fast
first line: it drops re-deliveries of recent events (every replay after a restart is of recent
events) before they cost any rule evaluation.

Representation. An id is kept as a 64-bit XXH3 hash of its UTF-8 bytes (stable across processes
and versions, unlike Python's randomised ``hash()``: ids are restored from the changelog after a
restart), in one Python ``set`` per topic for the lookup plus an ``array('Q')`` per bucket for
eviction order and the changelog: about 80 bytes per id. A false duplicate needs two different ids
of one topic to share a 64-bit hash: at one million ids kept, about one new event in 2e13.

Changelog. :meth:`SeenIds.changes` gives the ``s:<topic>:<n>`` chunk records for ids not yet
written (at most ``SEEN_CHUNK`` ids per record; value ``{"h": base64 of little-endian uint64
hashes, "hi": event time no id of the chunk is later than}``) and a tombstone (``None``) for each
chunk of an evicted bucket, so a restart never restores more than the bound. :meth:`SeenIds.restore`
reads these, the chunk format of earlier versions (``{"ids": [...], "ts": [...]}``, rewritten in
the new format) and the per-id ``d:<topic>:<event_id>`` keys of older versions (also rewritten).
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections import deque
from typing import Any, Iterable

from xxhash import xxh3_64_intdigest

DEDUP_MAX_IDS = 1_000_000  # ids per topic (about 80 MB per topic when full)
BUCKETS = 16  # capacity eviction drops 1/BUCKETS of the ids at a time
SEEN_CHUNK = 2000  # ids per changelog record
_BIG_ENDIAN = sys.byteorder == "big"


def id_hash(event_id: str) -> int:
    """The stable 64-bit hash an id is kept as (XXH3 of its UTF-8 bytes)."""
    return xxh3_64_intdigest(event_id.encode())


def _pack(hashes: array) -> str:
    if _BIG_ENDIAN:
        hashes = array("Q", hashes)
        hashes.byteswap()
    return base64.b64encode(hashes.tobytes()).decode("ascii")


def _unpack(text: str) -> array:
    hashes = array("Q")
    hashes.frombytes(base64.b64decode(text))
    if _BIG_ENDIAN:
        hashes.byteswap()
    return hashes


class _Bucket:
    """Consecutive ids of one topic; ``hi``: event time none of them is later than (None while open)."""

    __slots__ = ("hashes", "hi", "keys", "written", "written_hi", "swept")

    def __init__(self, hashes: array | None = None, hi: float | None = None) -> None:
        self.hashes = hashes if hashes is not None else array("Q")
        self.hi = hi
        self.keys: list[str] = []  # changelog chunks holding its ids
        self.written = 0  # ids already in those chunks
        self.written_hi: float | None = None  # event time none of the written ids is later than
        self.swept = False  # open through a sweep already


class TopicIds:
    """The ids seen on one topic. :meth:`add` is the per-event call."""

    __slots__ = ("topic", "ids", "buckets", "cur", "bucket_ids", "max_ids", "_owner")

    def __init__(self, topic: str, owner: SeenIds) -> None:
        self.topic = topic
        self._owner = owner
        self.ids: set[int] = set()
        self.max_ids = owner.max_ids
        self.bucket_ids = owner.bucket_ids
        self.buckets: deque[_Bucket] = deque([_Bucket()])  # oldest first; the last one is open
        self.cur = self.buckets[-1].hashes

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, event_id: str) -> bool:
        return xxh3_64_intdigest(event_id.encode()) in self.ids

    def add(self, event_id: str) -> bool:
        """Record an id; False if it was already there (a duplicate)."""
        h = xxh3_64_intdigest(event_id.encode())
        ids = self.ids
        if h in ids:
            return False
        ids.add(h)
        cur = self.cur
        if len(cur) >= self.bucket_ids:
            cur = self._roll()
        cur.append(h)
        return True

    # -- buckets ----------------------------------------------------------------------------
    def _roll(self) -> array:
        """Close the open bucket (its ids are all processed: none is later than the engine's
        clock), make room for a full new one, open it."""
        self._close(self._owner.clock[0])
        while len(self.ids) > self.max_ids - self.bucket_ids and len(self.buckets) > 1:
            self._evict()
        return self.cur

    def _close(self, now: float) -> None:
        last = self.buckets[-1]
        if not last.hashes:
            return
        written_all = last.written == len(last.hashes) and last.written_hi is not None
        last.hi = last.written_hi if written_all else now
        self.buckets.append(_Bucket())
        self.cur = self.buckets[-1].hashes

    def _evict(self) -> None:
        """Drop the oldest bucket (callers keep the open one, except :meth:`fit`, which reopens)."""
        old = self.buckets.popleft()
        self.ids.difference_update(old.hashes)
        self._owner.stale.extend(old.keys)

    def sweep(self, cutoff: float, now: float) -> None:
        """Drop the buckets with every id older than ``cutoff``; close the open bucket at ``now``
        if it was open at the previous sweep already (so a bucket spans at most two sweeps)."""
        buckets = self.buckets
        last = buckets[-1]
        if last.swept:
            self._close(now)
        elif last.hashes:
            last.swept = True
        while len(buckets) > 1 and buckets[0].hi is not None and buckets[0].hi < cutoff:
            self._evict()

    def fit(self) -> None:
        """After a restore: oldest first, at most ``max_ids``, an open bucket last."""
        clock = self._owner.clock[0]
        closed = [b for b in self.buckets if b.hashes]
        for bucket in closed:
            if bucket.hi is None:
                bucket.hi = clock
        closed.sort(key=lambda b: b.hi)
        self.buckets = deque(closed)
        self.ids = set()
        for bucket in closed:
            self.ids.update(bucket.hashes)
        while len(self.ids) > self.max_ids and self.buckets:
            self._evict()
        self.buckets.append(_Bucket())
        self.cur = self.buckets[-1].hashes

    # -- changelog ---------------------------------------------------------------------------
    def chunks(self, clock: float, out: dict[str, Any]) -> None:
        owner = self._owner
        for bucket in self.buckets:
            hashes = bucket.hashes
            if bucket.written >= len(hashes):
                continue
            hi = bucket.hi if bucket.hi is not None else clock
            bucket.written_hi = hi
            for start in range(bucket.written, len(hashes), SEEN_CHUNK):
                owner.seq += 1
                key = f"s:{self.topic}:{owner.seq}"
                out[key] = {"h": _pack(hashes[start:start + SEEN_CHUNK]), "hi": hi}
                bucket.keys.append(key)
            bucket.written = len(hashes)


class SeenIds:
    """Ids seen per topic, bounded by capacity and event-time horizon (see the module docstring).

    ``clock`` is the engine's one-element event-time list (a closed bucket is stamped with it)."""

    def __init__(self, max_ids: int = DEDUP_MAX_IDS, clock: list[float] | None = None):
        if max_ids < 1:
            raise ValueError("max_ids must be at least 1")
        self.max_ids = max_ids
        self.bucket_ids = max(1, -(-max_ids // BUCKETS))
        self.clock = clock if clock is not None else [float("-inf")]
        self.topics: dict[str, TopicIds] = {}
        self.seq = 0  # the last chunk number used
        self.stale: list[str] = []  # chunk keys to delete
        self._legacy: dict[str, _Bucket] = {}  # topic -> the ids of d: keys being restored

    def topic(self, topic: str) -> TopicIds:
        ids = self.topics.get(topic)
        if ids is None:
            ids = self.topics[topic] = TopicIds(topic, self)
        return ids

    def add(self, topic: str, event_id: str) -> bool:
        """Record an id; False if it was already there (a duplicate)."""
        return self.topic(topic).add(event_id)

    def seen(self, topic: str, event_id: str) -> bool:
        ids = self.topics.get(topic)
        return ids is not None and event_id in ids

    def count(self, topic: str | None = None) -> int:
        """Ids kept (on ``topic``, or on all topics)."""
        if topic is not None:
            ids = self.topics.get(topic)
            return len(ids) if ids is not None else 0
        return sum(len(ids) for ids in self.topics.values())

    def sweep(self, now: float, horizons: dict[str, float], default: float) -> None:
        """Drop the ids older than their topic's horizon (``horizons``, else ``default``) at ``now``."""
        for topic, ids in self.topics.items():
            ids.sweep(now - horizons.get(topic, default), now)

    # -- changelog ---------------------------------------------------------------------------
    def changes(self) -> dict[str, Any]:
        """Chunk records of the ids not yet written, tombstones of the evicted chunks."""
        out: dict[str, Any] = {}
        for key in self.stale:
            out[key] = None
        self.stale.clear()
        clock = self.clock[0]
        for ids in self.topics.values():
            ids.chunks(clock, out)
        return out

    def restore(self, key: str, value: Any) -> None:
        """One ``s:`` or ``d:`` record from the changelog; call :meth:`finish_restore` after the last."""
        kind, topic, rest = key.split(":", 2)
        ids = self.topic(topic)
        if kind == "d":  # one key per id (oldest format): gathered in one bucket, rewritten as chunks
            legacy = self._legacy.get(topic)
            if legacy is None:
                legacy = self._legacy[topic] = _Bucket(array("Q"), float("-inf"))
                ids.buckets.append(legacy)
            legacy.hashes.append(id_hash(rest))
            legacy.hi = max(legacy.hi, float(value))
            self.stale.append(key)
            return
        if "h" in value:
            hashes, hi, keep = _unpack(value["h"]), float(value["hi"]), True
            if rest.isdigit():
                self.seq = max(self.seq, int(rest))
        else:  # {"ids": [...], "ts": [...]} (earlier chunk format): rewritten in the new one
            hashes = array("Q", [id_hash(eid) for eid in value["ids"]])
            hi, keep = max((float(t) for t in value["ts"]), default=float("-inf")), False
        bucket = _Bucket(hashes, hi)
        if keep:
            bucket.keys.append(key)
            bucket.written = len(hashes)
        else:
            self.stale.append(key)
        ids.buckets.append(bucket)

    def finish_restore(self) -> None:
        self._legacy.clear()
        for ids in self.topics.values():
            ids.fit()

    def restore_all(self, items: Iterable[tuple[str, Any]]) -> None:
        for key, value in items:
            self.restore(key, value)
        self.finish_restore()
