"""The batch processor behind the worker's input batches; it knows nothing of Faust.

For each batch of raw messages from one input topic it decodes and validates every message,
turns invalid ones into dead letters, hands valid events to the event-time timeline (watermark +
reorder buffer) and the rule engine, and collects rows for the sink and alert messages for the
alert topics. It also decides when a message may be acknowledged (its offset committed): only after
the rows it carries were written by the sink AND the rule engine has seen it (it left the reorder
buffer). That gives at-least-once delivery; idempotent sinks and the engine's de-duplication by
(topic, event_id) make a redelivery harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pingan.errors import InvalidEvent
from pingan.schemas.decode import Decoder
from pingan.schemas.events import STREAMS
from pingan.streams.deadletter import dead_letter

log = logging.getLogger("pingan.streams")

EVENT_TABLES = {"camera": "events_camera", "grid": "events_grid", "fraud": "events_fraud", "service": "events_service"}


@dataclass(slots=True)
class Message:
    """One consumed message; ``token`` is opaque and is handed back for acking.

    The worker hands the processor Faust's own consumer messages (same attributes, no ``token``):
    those are handed back themselves.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    token: Any = None


@dataclass
class Output:
    """What one step produced: alerts to publish, dead letters to publish, rows already queued."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0


@dataclass(slots=True)
class _Pending:
    token: Any
    ts: float | None  # None for a dead letter: it needs no rule processing
    flushed: bool = False


class Processor:
    """Decode → dead-letter | timeline → engine → rows and alerts. Synchronous and Faust-free."""

    def __init__(self, decoder: Decoder, engine: Any, timeline: Any, sink: Any, *, contract_topic: dict[str, str]):
        self.decoder = decoder
        self.engine = engine
        self.timeline = timeline
        self.sink = sink
        # configured topic name -> the contract's topic name (the decoder's model registry key)
        self._contract_topic = contract_topic
        self._pending: list[_Pending] = []
        self.counters: dict[str, int] = {}
        #: (topic, partition) -> the last offset handed to this processor
        self.last_offset: dict[tuple[str, int], int] = {}

    # -- the per-batch path ---------------------------------------------------------------
    def handle(self, messages: list[Any], now: float) -> Output:
        """One batch of one partition: decoded, queued, pushed to the timeline, released."""
        out = self.decode_batch(messages, now)
        out.alerts = self.release(now)
        return out

    def handle_fetch(self, batches: list[list[Any]], now: float) -> tuple[list[Output], list[dict[str, Any]]]:
        """The partition batches of one consumer fetch: each decoded and queued, then one release
        of the timeline for all of them. Returns an Output per batch and the alerts released."""
        outs = [self.decode_batch(messages, now) for messages in batches if messages]
        return outs, self.release(now)

    def decode_batch(self, messages: list[Any], now: float) -> Output:
        """Decode one partition batch: dead letters, sink rows, pending acks; valid events go into
        the timeline's reorder buffer (released by :meth:`release`)."""
        out = Output()
        if not messages:
            return out
        topic = messages[0].topic
        contract = self._contract_topic.get(topic, topic)
        decode = self.decoder.decode
        valid: list[dict[str, Any]] = []
        rows_by_table: dict[str, list[dict[str, Any]]] = {}
        pending = self._pending
        first = messages[0].offset
        last = messages[-1].offset
        tokens = messages[0].__class__ is Message
        partition = messages[0].partition
        stream_table = EVENT_TABLES[STREAMS[contract]] if contract in STREAMS else None
        rows = rows_by_table.setdefault(stream_table, []) if stream_table else None
        for msg in messages:
            try:
                event = decode(contract, msg.value or b"")
            except Exception as exc:  # noqa: BLE001 - whatever breaks decoding makes a dead letter
                if not isinstance(exc, InvalidEvent):
                    exc = InvalidEvent(f"undecodable: {type(exc).__name__}: {exc}")
                row = dead_letter(exc, msg.topic, msg.partition, msg.offset, msg.key, msg.value, now)
                out.dead_letters.append(row)
                pending.append(_Pending(msg.token if tokens else msg, None))
                log.info("invalid message", extra={"topic": msg.topic, "partition": msg.partition,
                                                   "offset": msg.offset, "reason": exc.reason})
                continue
            event["partition"] = partition
            event["offset"] = msg.offset
            valid.append(event)
            if rows is not None:
                rows.append(event)
            else:
                rows_by_table.setdefault(EVENT_TABLES[event["stream"]], []).append(event)
            pending.append(_Pending(msg.token if tokens else msg, event["ts"]))
        self.last_offset[(topic, partition)] = last
        source = (topic, partition, first, last)
        for table, table_rows in rows_by_table.items():
            if table_rows:
                self.sink.add(table, table_rows, source=source)
        if out.dead_letters:
            self.sink.add("deadletters", out.dead_letters, source=source)
        out.events = len(valid)
        if valid:
            self.timeline.push_many(partition_key(topic, partition), valid, now, release=False)
        return out

    def release(self, now: float) -> list[dict[str, Any]]:
        """After a fetch, and on a timer: buffered events before the watermark meet the rules (idle
        partitions stop holding it back); the alerts are queued for the sink and returned."""
        alerts = self.timeline.tick(now)
        if alerts:
            self.sink.add("alerts", alerts, source=None)
        return alerts

    def touch(self, partitions: Iterable[tuple[str, int]], now: float) -> None:
        """Partitions with messages still to consume are not idle, however long a batch takes."""
        touch = self.timeline.watermark.touch
        for topic, partition in partitions:
            touch(partition_key(topic, partition), now)

    def assign(self, partitions: Iterable[tuple[str, int]], now: float) -> None:
        """Partitions assigned to this worker hold the watermark back until they deliver or go idle."""
        self.timeline.assign([partition_key(t, p) for t, p in partitions], now)

    # -- acknowledgement ------------------------------------------------------------------
    def mark_flushed(self, count: int) -> None:
        """The sink wrote everything queued before the first ``count`` pending messages were added."""
        for item in self._pending[:count]:
            item.flushed = True

    def pending_count(self) -> int:
        return len(self._pending)

    def ackable(self) -> list[Any]:
        """Tokens of messages that are written and processed; they leave the pending list."""
        frontier = self.timeline.frontier  # events with ts < frontier have met the rules
        keep: list[_Pending] = []
        ready: list[Any] = []
        for item in self._pending:
            if item.flushed and (item.ts is None or item.ts < frontier):
                ready.append(item.token)
            else:
                keep.append(item)
        self._pending = keep
        return ready


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def count_by(rows: Iterable[dict[str, Any]], field_name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        value = row.get(field_name)
        counts[value] = counts.get(value, 0) + 1
    return counts
