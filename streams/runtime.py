"""The asynchronous glue between Faust and the processor: publish, flush, acknowledge, reload.

One :class:`Runtime` per worker process. The batch ingest and the timers call it; all of its
synchronous work runs on the event loop (so it needs no locks), and only sink writes leave the
loop (the sink's own writer thread). A flush is the only point where offsets move:

1. the engine's state changes and the held alerts and dead letters are taken and the sink cuts
   every queued row, in one step,
2. the sink writes those rows (idempotent: dedup tokens + event_id keys); consumption goes on
   meanwhile (a flush runs as a background task, one at a time),
3. the alerts and dead letters are published (an alert is never out before its row is stored:
   a worker killed before this step replays and raises it again, maybe differently when events
   came out of order, but nothing was published that is not stored), the state changes are
   written to the Faust table's changelog (one record per changed state key; de-duplication ids
   travel in chunks) and the producer is flushed (alerts, dead letters and changelog records are
   on the broker),
4. messages that are written and have left the reorder buffer are acknowledged; Faust commits
   the highest contiguous acknowledged offset of each partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from zlib import crc32
from pathlib import Path
from typing import Any

import orjson

from pingan.errors import PinganError, RuleError
from pingan.schemas.alert import CST
from pingan.streams.batchsend import send_records
from pingan.streams.deadletter import dead_letter_bytes
from pingan.streams.processor import Processor
from pingan.streams.statelog import decode_items, encode_changes

log = logging.getLogger("pingan.worker")
ALERT_LINGER_S = 0.2  # while alerts wait: the shortest time between two flushes


def alert_message(alert: dict[str, Any]) -> bytes:
    """The published alert JSON (ts in RFC 3339 +08:00, as :func:`iso_cst` writes it: orjson
    serialises the aware datetime to the same text, four times faster)."""
    return orjson.dumps({**alert, "ts": datetime.fromtimestamp(alert["ts"], CST)})


class Runtime:
    def __init__(self, app: Any, processor: Processor, sink: Any, state_table: Any, settings: Any, metrics: Any = None):
        self.app = app
        self.processor = processor
        self.sink = sink
        self.state_table = state_table
        self.settings = settings
        self.metrics = metrics
        self.topics: dict[str, Any] = {}
        self.input_topics = frozenset(settings.topics.inputs().values())
        self._flush_lock = asyncio.Lock()
        self._restored = False
        self._rules_signature: tuple | None = None
        self._last_flush = time.monotonic()
        self.started = False
        self._ready = asyncio.Event()
        self._delivery: list[Any] = []  # futures of records sent since the last flush
        # alerts and dead letters wait here until the rows they belong to are written (the outbox):
        # every published alert is stored, whatever happens to the worker
        self._outbox: list[dict[str, Any]] = []
        self._outbox_dead: list[dict[str, Any]] = []
        self._changelog_topic: str | None = None
        self._parts: dict[str, int] = {}  # state keys written in parts -> how many
        self._flush_task: asyncio.Future | None = None
        #: progress figures (wall-clock times), served on /stats for benchmarks and operators
        self.stats: dict[str, Any] = {"messages": 0, "flushed_messages": 0, "first_batch": None,
                                      "last_batch": None, "last_flush": None, "alerts_published": 0}

    # -- topics -----------------------------------------------------------------------------
    def topic(self, name: str) -> Any:
        topic = self.topics.get(name)
        if topic is None:
            topic = self.topics[name] = self.app.topic(name, key_serializer="raw", value_serializer="raw")
        return topic

    # -- per batch ------------------------------------------------------------------------
    def restore(self) -> None:
        """Load the engine's state from the recovered Faust table (once, before the first batch)."""
        if self._restored:
            return
        self._restored = True
        items, self._parts = decode_items((k, v) for k, v in self.state_table.items() if v is not None)
        if items:
            self.processor.engine.restore_state(items)
        log.info("engine state restored", extra={"keys": len(items)})

    def mark_started(self) -> None:
        """The sink is open: batches may be processed from now on."""
        self.started = True
        self._ready.set()

    async def handle_fetch(self, batches: list[list[Any]]) -> None:
        """The input partitions' batches of one consumer fetch (:mod:`pingan.streams.ingest`):
        decoded and queued per partition, the timeline released once, alerts published."""
        received = time.monotonic()
        if not self.started:
            await self._ready.wait()  # the consumer may deliver before the sink is open
        self.restore()
        n = sum(len(b) for b in batches)
        if not self.sink.has_capacity(n):
            await self.flush()  # write the backlog before queueing more (never drop, never raise)
        now = time.time()
        stats = self.stats
        if stats["first_batch"] is None:
            stats["first_batch"] = now
        stats["last_batch"] = now
        stats["messages"] += n
        self.processor.touch(self.lagging_partitions(), now)
        batches = [b for b in batches if b]
        outs, alerts = self.processor.handle_fetch(batches, now)
        if outs:
            outs[-1].alerts = alerts
        if self.metrics is not None:
            for messages, out in zip(batches, outs):
                self.metrics.on_batch(messages, out, received)
            if alerts and not outs:
                self.metrics.on_alerts(alerts)
        dead = [row for out in outs for row in out.dead_letters]
        self.hold(alerts, dead)
        if self.sink.should_flush():
            self.flush_soon()

    async def handle(self, messages: list[Any], received: float | None = None) -> None:
        """One batch of one partition (objects with topic, partition, offset, key, value; the
        processor hands them back for acknowledgement once written)."""
        await self.handle_fetch([messages])

    async def tick(self) -> None:
        """Periodic: let idle partitions release the watermark, fire deadlines, flush on interval."""
        if not self.started:
            return
        self.restore()
        now = time.time()
        self.processor.touch(self.lagging_partitions(), now)
        alerts = self.processor.release(now)
        if self.metrics is not None and alerts:
            self.metrics.on_alerts(alerts)
        self.hold(alerts, [])
        if self._outbox or self._outbox_dead or self.processor.pending_count() or self.sink.should_flush():
            self.flush_soon()

    def lagging_partitions(self) -> list[tuple[str, int]]:
        """Assigned input partitions with messages not yet handed to the processor.

        The next offset to process is the one after the last processed, or, for a partition that
        delivered nothing in this run, its committed offset. A partition whose highwater is not
        known yet is not counted as lagging (the assignment itself holds it for ``idle_s``).
        """
        consumer = self.app.consumer
        inputs = self.input_topics
        last = self.processor.last_offset
        committed = getattr(consumer, "_committed_offset", {})
        out = []
        for tp in consumer.assignment():
            if tp.topic not in inputs:
                continue
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            seen = last.get((tp.topic, tp.partition))
            next_offset = seen + 1 if seen is not None else (committed.get(tp) or 0)
            if highwater > next_offset:
                out.append((tp.topic, tp.partition))
        return out

    def hold(self, alerts: list[dict[str, Any]], dead_letters: list[dict[str, Any]]) -> None:
        """Alerts and dead letters go out with the flush that writes their rows. While alerts wait,
        a flush starts at most ``ALERT_LINGER_S`` after the previous one (and the 0.25 s timer
        starts one too), so an alert waits a fraction of a second, not the flush interval, and a
        busy worker does not flush after every fetch."""
        if alerts:
            self._outbox.extend(alerts)
        if dead_letters:
            self._outbox_dead.extend(dead_letters)
        if self._outbox and time.monotonic() - self._last_flush >= ALERT_LINGER_S:
            self.flush_soon()

    async def publish(self, alerts: list[dict[str, Any]], dead_letters: list[dict[str, Any]]) -> None:
        """Hand alerts and dead letters to the producer (batched by it; on the broker at the next flush).

        Straight to Faust's producer (``app.producer.send``): no per-message Topic/FutureMessage
        machinery; the flush waits for every record to be acknowledged by the broker.
        """
        send = self.app.producer.send
        delivery = self._delivery
        if dead_letters:
            topic = self.settings.topics.deadletter
            for row in dead_letters:
                key = f"{row['topic']}:{row['partition']}:{row['offset']}".encode()
                delivery.append(await send(topic, key, dead_letter_bytes(row), None, None, None))
        alert_topic = self.settings.topics.alerts
        for alert in alerts:
            if alert.get("status") == "shadow":
                continue
            payload = alert_message(alert)
            self.stats["alerts_published"] += 1
            key = str(alert["key"]).encode("utf-8")
            for name in alert.get("topics") or ("alerts",):
                # "alerts" in a rule file is the configured alert topic; other names are used as given
                delivery.append(await send(alert_topic if name == "alerts" else name, key, payload, None, None, None))

    # -- flush and acknowledge ----------------------------------------------------------
    def flush_soon(self) -> None:
        """Start a flush in the background unless one runs: consumption goes on while the sink
        writes (the sink thread), and the messages of this flush are acknowledged when it is done.
        A failed background flush crashes the worker: it restarts from the committed offsets."""
        task = self._flush_task
        if task is None or task.done():
            self._flush_task = asyncio.ensure_future(self._background_flush())

    async def _background_flush(self) -> None:
        try:
            await self.flush()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - nothing was acknowledged; replay from the commits
            log.exception("flush failed; stopping the worker (at-least-once: it restarts from the committed offsets)")
            crash = getattr(self.app, "crash", None)
            if crash is not None:
                await crash(exc)
            else:
                raise

    async def flush(self) -> None:
        async with self._flush_lock:
            count = self.processor.pending_count()
            handled = self.stats["messages"]
            # The state snapshot and the sink's cut of its rows happen in one step of the loop (no
            # await between them), and the state reaches the changelog only after those rows are
            # written: a crash in between replays the unacknowledged messages from an older state
            # and derives the same rows (same ids) again. The other order lost alert rows: state
            # saying "seen" with its alerts published but not yet stored.
            changes = self.processor.engine.dirty_state()
            alerts, dead, self._outbox, self._outbox_dead = self._outbox, self._outbox_dead, [], []
            started = time.perf_counter()
            await self.sink.flush()
            if self.metrics is not None:
                self.metrics.on_flush(time.perf_counter() - started)
            await self.publish(alerts, dead)  # stored now: published only now
            await self.write_state(changes)
            await self.app.producer.flush()
            self.check_delivery()
            self.processor.mark_flushed(count)
            self.stats["flushed_messages"] = handled
            self.stats["last_flush"] = time.time()
            ack = self.app.consumer.ack
            for message in self.processor.ackable():
                ack(message)
            self._last_flush = time.monotonic()

    def check_delivery(self) -> None:
        """Every alert and dead letter sent before the flush is on the broker; else nothing is acked."""
        pending, self._delivery = self._delivery, []
        for fut in pending:
            if not fut.done():
                self._delivery.append(fut)  # sent while the producer flushed: checked next time
            elif fut.exception() is not None:
                raise fut.exception()

    async def write_state(self, changes: dict[str, Any]) -> None:
        """State changes (``engine.dirty_state()``) go to the table's changelog, one record per changed key.

        Records are produced as Faust's table would (JSON key and value, a tombstone for a deleted
        key), in aiokafka record batches (:mod:`pingan.streams.batchsend`): Faust's per-record
        path costs several times the record itself. The partition is crc32(key) (Kafka's default murmur2 is pure Python
        in aiokafka); any fixed key -> partition mapping keeps a compacted changelog right, and
        Faust's recovery reads every partition of it. A value too large for one record is split
        (:mod:`pingan.streams.statelog`). The table's in-memory copy is read once, at start-up
        (:meth:`restore`), after Faust's recovery has filled it from the changelog.
        """
        if not changes:
            return
        topic = self._changelog_topic
        if topic is None:
            topic = self._changelog_topic = self.state_table.changelog_topic.get_topic_name()
        dumps = orjson.dumps
        partitions = self.state_table.partitions or self.settings.topics.input_partitions
        records = []
        for key, value in encode_changes(changes, self._parts):
            kb = dumps(key)
            records.append((crc32(kb) % partitions, kb, value))
        await send_records(self.app.producer, topic, records, self._delivery)

    # -- hot reload ---------------------------------------------------------------------
    def rules_signature(self, rules_dir: Path) -> tuple:
        files = sorted(p for p in rules_dir.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".txt"))
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)

    async def maybe_reload(self, rules_dir: Path, load: Any) -> bool:
        """Swap in a changed rule set; an invalid one is refused and the running one kept."""
        try:
            signature = self.rules_signature(rules_dir)
        except OSError as exc:
            log.warning("cannot read the rules directory: %s", exc)
            return False
        if self._rules_signature is None:
            self._rules_signature = signature
            return False
        if signature == self._rules_signature:
            return False
        self._rules_signature = signature
        try:
            ruleset = load(rules_dir)
        except RuleError as exc:
            log.error("rule set refused, keeping the running one: %s", "; ".join(exc.problems))
            if self.metrics is not None:
                self.metrics.on_reload(ok=False)
            return False
        except PinganError as exc:
            log.error("rule set refused, keeping the running one: %s", exc)
            return False
        self.processor.engine.swap_rules(ruleset)
        log.info("rule set reloaded", extra={"rule_set_version": ruleset.version})
        if self.metrics is not None:
            self.metrics.on_reload(ok=True, version=ruleset.version)
        return True
