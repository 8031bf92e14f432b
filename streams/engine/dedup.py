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

Representation. In memory an id is kept as the event's own string (its hash is cached on it: the
set test is the cheapest there is, and nothing is allocated per event), in one ``set`` per topic
for the lookup plus a list per bucket for eviction order: about 100 bytes per id (an id of about
20 characters). In the changelog an id is its 64-bit XXH3 hash (stable across processes and
versions), computed for the ids added since the last write, at that write. Ids restored after a restart are known only by
their XXH3 hash: they sit in a second set that new events are also checked against (with one XXH3
each) until their buckets are dropped. A false duplicate needs two different ids of one topic to
share a 64-bit hash: at one million ids kept, about one new event in 2e13.

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

from pingan.streams.engine.shrink import shrink

DEDUP_MAX_IDS = 1_000_000  # ids per topic (about 100 MB per topic when full)
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
    """Consecutive ids of one topic; ``hi``: event time none of them is later than (None while open).

    ``members``: what the topic's sets hold for them: the ids (a list), or their XXH3 hashes for a
    bucket restored from the changelog (an array, ``restored`` True); ``pending``: the ids not yet
    written to the changelog."""

    __slots__ = ("members", "hi", "keys", "pending", "written_hi", "swept", "restored")

    def __init__(self, members: Any = None, hi: float | None = None, restored: bool = False) -> None:
        self.members: list[str] | array = members if members is not None else []
        self.hi = hi
        self.keys: list[str] = []  # changelog chunks holding its ids
        self.pending: list[str] = []  # ids not yet in those chunks
        self.written_hi: float | None = None  # event time none of the written ids is later than
        self.swept = False  # open through a sweep already
        self.restored = restored


class TopicIds:
    """The ids seen on one topic.

    The per-event work is a set test and two appends (:meth:`add`, or the engine's own loop
    doing the same with ``ids``, ``restored`` and ``pending``, which are never replaced); ids are
    sorted into buckets in batches (:meth:`settle`, at each changelog write and sweep)."""

    __slots__ = ("topic", "ids", "restored", "pending", "settled", "buckets", "bucket_ids", "max_ids", "_owner")

    def __init__(self, topic: str, owner: SeenIds) -> None:
        self.topic = topic
        self._owner = owner
        self.ids: set[str] = set()  # the ids seen in this process
        self.restored: set[int] = set()  # XXH3 of the ids restored from the changelog
        self.pending: list[str] = []  # ids added since the last settle
        self.settled = 0  # ids added before the last settle (in this process)
        self.max_ids = owner.max_ids
        self.bucket_ids = owner.bucket_ids
        self.buckets: deque[_Bucket] = deque([_Bucket()])  # oldest first; the last one is open

    def __len__(self) -> int:
        return len(self.ids) + len(self.restored)

    def added(self) -> int:
        """Ids added in this process (events that were not duplicates)."""
        return self.settled + len(self.pending)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.ids or (bool(self.restored) and id_hash(event_id) in self.restored)

    def add(self, event_id: str) -> bool:
        """Record an id; False if it was already there (a duplicate)."""
        ids = self.ids
        if event_id in ids or (self.restored and xxh3_64_intdigest(event_id.encode()) in self.restored):
            return False
        ids.add(event_id)
        self.pending.append(event_id)
        return True

    # -- buckets ----------------------------------------------------------------------------
    def settle(self) -> None:
        """Sort the ids added since the last call into buckets (stamped with the engine's clock:
        none of them is later), and evict the oldest buckets beyond the capacity."""
        pending = self.pending
        if not pending:
            return
        self.settled += len(pending)
        now = self._owner.clock[0]
        size = self.bucket_ids
        start = 0
        while start < len(pending):
            last = self.buckets[-1]
            room = size - len(last.members)
            if room <= 0:
                self._close(now)
                unsorted = len(pending) - start  # in the set already, not yet in a bucket
                while len(self) - unsorted > self.max_ids - size and len(self.buckets) > 1:
                    self._evict()
                continue
            part = pending[start:start + room]
            last.members.extend(part)
            last.pending.extend(part)
            start += len(part)
        pending.clear()
        while len(self) > self.max_ids and len(self.buckets) > 1:
            self._evict()

    def _close(self, now: float) -> None:
        last = self.buckets[-1]
        if not last.members:
            return
        written_all = not last.pending and last.written_hi is not None
        last.hi = last.written_hi if written_all else now
        self.buckets.append(_Bucket())

    def _evict(self) -> None:
        """Drop the oldest bucket (callers keep the open one, except :meth:`fit`, which reopens)."""
        old = self.buckets.popleft()
        (self.restored if old.restored else self.ids).difference_update(old.members)
        self._owner.stale.extend(old.keys)

    def sweep(self, cutoff: float, now: float) -> None:
        """Drop the buckets with every id older than ``cutoff``; close the open bucket at ``now``
        if it was open at the previous sweep already (so a bucket spans at most two sweeps)."""
        self.settle()
        buckets = self.buckets
        last = buckets[-1]
        if last.swept:
            self._close(now)
        elif last.members:
            last.swept = True
        while len(buckets) > 1 and buckets[0].hi is not None and buckets[0].hi < cutoff:
            self._evict()
        shrink(self.ids)
        shrink(self.restored)

    def fit(self) -> None:
        """After a restore: oldest first, at most ``max_ids``, an open bucket last."""
        clock = self._owner.clock[0]
        closed = [b for b in self.buckets if b.members]
        for bucket in closed:
            if bucket.hi is None:
                bucket.hi = clock
        closed.sort(key=lambda b: b.hi)
        self.buckets = deque(closed)
        self.ids.clear()
        self.restored.clear()
        for bucket in closed:
            (self.restored if bucket.restored else self.ids).update(bucket.members)
        while len(self) > self.max_ids and self.buckets:
            self._evict()
        self.buckets.append(_Bucket())

    # -- changelog ---------------------------------------------------------------------------
    def chunks(self, clock: float, out: dict[str, Any]) -> None:
        self.settle()
        owner = self._owner
        for bucket in self.buckets:
            pending = bucket.pending
            if not pending:
                continue
            hi = bucket.hi if bucket.hi is not None else clock
            bucket.written_hi = hi
            stable = array("Q", [xxh3_64_intdigest(event_id.encode()) for event_id in pending])
            for start in range(0, len(stable), SEEN_CHUNK):
                owner.seq += 1
                key = f"s:{self.topic}:{owner.seq}"
                out[key] = {"h": _pack(stable[start:start + SEEN_CHUNK]), "hi": hi}
                bucket.keys.append(key)
            pending.clear()


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
        for ids in self.topics.values():
            ids.settle()
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
        for ids in self.topics.values():
            ids.settle()  # evictions first: their tombstones go out with this write
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
                legacy = self._legacy[topic] = _Bucket(array("Q"), float("-inf"), restored=True)
                ids.buckets.append(legacy)
            legacy.pending.append(rest)  # written again, as a chunk
            legacy.members.append(id_hash(rest))
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
        bucket = _Bucket(hashes, hi, restored=True)
        if keep:
            bucket.keys.append(key)
            bucket.written_hi = hi
        else:  # rewritten in the new format
            bucket.pending.extend(value["ids"])
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
