"""Batch ingestion: raw message batches per partition from Faust's own consumer, no per-message Stream.

Faust's consumer fetches with ``getmany`` and then, for every message, awaits
``Service.wait_first(conductor.on_message(message), suspend_flow.wait())`` - four asyncio tasks per
message - before the conductor builds an ``Event`` and queues it to the agent's ``Stream``. That
plumbing costs tens of microseconds per message, more than decoding and evaluating the rules.

:class:`BatchConsumer` is Faust's aiokafka consumer with one change: for the topics registered
with :func:`install`, the partition batches of each fetch are handed to one coroutine in one call
(a list of per-partition lists of :class:`Record`). Everything
else stays Faust's: the consumer group and rebalances (the same generation checks, pause/resume and
flow control as ``Consumer.getmany``), read offsets and gap tracking, the per-message path for
every other topic (table changelogs during recovery), and acknowledgement and commits
(``consumer.ack(record)`` per message - a :class:`Record` carries what ``ack`` reads; Faust commits
the highest contiguous acknowledged offset of each partition on its commit interval).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Iterable

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

BatchHandler = Callable[[list], Awaitable[None]]


class Record:
    """A consumed message as the processor and ``Consumer.ack`` need it (lighter than Faust's
    ``ConsumerMessage``: no headers, checksums, sizes or reference counts)."""

    __slots__ = ("topic", "partition", "offset", "key", "value", "tp", "acked", "time_in", "__weakref__")

    def __init__(self, tp: Any, record: Any, time_in: float) -> None:
        self.topic = tp.topic
        self.partition = tp.partition
        self.offset = record.offset
        self.key = record.key
        self.value = record.value
        self.tp = tp
        self.acked = False
        self.time_in = time_in


class BatchConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer delivering partition batches of the batch topics to a handler."""

    batch_topics: frozenset[str] = frozenset()
    batch_handler: BatchHandler | None = None

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - runs inside the worker
        handler = self.batch_handler
        batch_topics = self.batch_topics
        callback = self.callback
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offset = self._read_offset
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        acks_enabled_for = self.app.topics.acks_enabled_for
        to_message = self._to_message
        monotonic = time.monotonic
        monitor = self.app.monitor
        inbound = monitor.stream_inbound_time if monitor is not None else {}
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                batches = await self._fetch_batches(1.0)
                await asyncio.sleep(0)
                fetched: list[list[Record]] = []  # the input partitions' batches of this fetch
                now = monotonic()
                for tp, records in batches:
                    if self.should_stop:
                        break
                    r_offset = read_offset[tp]
                    if r_offset is not None:
                        records = [r for r in records if r.offset >= r_offset] if records[0].offset < r_offset else records
                        if not records:
                            continue
                    if acks_enabled_for(tp.topic):
                        prev = r_offset
                        for r in records:  # offsets missing (compaction, transaction markers)
                            if prev and r.offset - prev > 1:
                                await self._add_gap(tp, prev + 1, r.offset)
                            prev = r.offset
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if handler is not None and tp.topic in batch_topics:
                        fetched.append([Record(tp, r, now) for r in records])
                        inbound[tp] = now  # what a Stream tells Faust's monitor (its stall check reads it)
                    else:
                        for r in records:  # Faust's own path (changelogs, other channels)
                            await self.wait_first(callback(to_message(tp, r)), self.suspend_flow.wait())
                    read_offset[tp] = records[-1].offset
                if fetched:
                    await handler(fetched)  # one call per fetch: per-batch costs paid once
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    async def _fetch_batches(self, timeout: float) -> list[tuple[Any, list]]:
        """``Consumer.getmany`` without the per-message generator: (tp, records) per partition."""
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return []
        if not self.flow_active:
            try:
                await self.perform_seek()  # as Faust does: back to the committed offsets
            except Exception as exc:  # noqa: BLE001 - Faust logs and carries on the same way
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return []
        out = []
        track_end = self.app.monitor.track_tp_end_offset
        for tp, recs in records.items():
            if not recs:
                continue
            if self.app.consumer_generation_id != generation_id or not self.flow_active:
                break  # a rebalance started: the rest is fetched again from the committed offsets
            if active_partitions is None or tp in active_partitions or tp in self._buffered_partitions:
                track_end(tp, self.highwater(tp))
                out.append((tp, recs))
        return out


def install(app: Any, topics: Iterable[Any], handler: BatchHandler) -> None:
    """Subscribe ``topics`` (Faust topics) and deliver each fetch's partition batches to ``handler``.

    Call before the worker starts: the app's transport then creates a :class:`BatchConsumer`.
    """
    names = frozenset(name for topic in topics for name in topic.topics)
    consumer_cls = type("PinganBatchConsumer", (BatchConsumer,), {"batch_topics": names,
                                                                    "batch_handler": staticmethod(handler)})
    app.transport.Consumer = consumer_cls
    for topic in topics:
        app.topics.add(topic)
