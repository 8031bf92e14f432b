"""Sends messages to Kafka in record batches (aiokafka), paced at a rate or as fast as possible.

Valid events go as their compact JSON, broken ones as their raw bytes; keys as UTF-8. Messages
are partitioned like the Java client (murmur2 of the key; no key: any partition), so re-deliveries
of an ``event_id`` land on the same partition. Batches are built client-side
(``create_batch``/``send_batch``), which is ~10x faster than a per-message ``send``; when paced,
open batches are flushed every 50 ms so consumers see a steady stream.

Any failure (no broker, unknown topic, a batch not acknowledged) ends as one
:class:`~pingan.errors.UnavailableError` naming the bootstrap servers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pingan.errors import UnavailableError
from pingan.traffic.message import Message
from pingan.traffic.progress import Progress

BATCH_BYTES = 512 * 1024
PACED_FLUSH_S = 0.05
MAX_PENDING = 256  # batches in flight before we wait for acknowledgements


@dataclass
class SendStats:
    sent: int = 0
    raw: int = 0  # messages sent as raw bytes (broken ones)
    per_topic: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def producer_options(settings: Any, bootstrap: str) -> dict[str, Any]:
    """aiokafka producer options: security from the settings, durability, batch size."""
    from pingan.kafka_security import aiokafka_options

    options = aiokafka_options(settings.kafka)
    options.update(bootstrap_servers=bootstrap, acks="all", max_batch_size=BATCH_BYTES, request_timeout_ms=15_000,
                   client_id="pingan-traffic")
    return options


def send(messages: Iterable[Message], settings: Any, *, bootstrap: str, rate: float | None = None,
         progress: Progress | None = None) -> SendStats:
    """Send every message; ``rate`` in messages per second (None: no pacing). Blocks until acknowledged."""
    for name in ("aiokafka", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # failures surface as UnavailableError
    return asyncio.run(_send(messages, producer_options(settings, bootstrap), bootstrap, rate, progress))


def _unavailable(exc: BaseException, bootstrap: str) -> UnavailableError:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.removeprefix(f"{name}: ").strip()
    if "Unable to bootstrap" in text:
        text = "unable to bootstrap"
    detail = f"{name}: {text}" if text else name
    return UnavailableError(
        f"Kafka broker at {bootstrap} is not reachable or refused the messages ({detail}); start one with "
        "`pingan kafka up` or set kafka.bootstrap / PINGAN_KAFKA__BOOTSTRAP"
    )


async def _send(messages: Iterable[Message], options: dict[str, Any], bootstrap: str, rate: float | None,
                progress: Progress | None) -> SendStats:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    producer = AIOKafkaProducer(**options)
    try:
        await producer.start()
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        await producer.stop()
        raise _unavailable(exc, bootstrap) from None
    try:
        return await _pump(producer, messages, bootstrap, rate, progress)
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        raise _unavailable(exc, bootstrap) from None
    finally:
        try:
            await asyncio.wait_for(producer.stop(), timeout=10)
        except (KafkaError, OSError, asyncio.TimeoutError):
            pass


async def _pump(producer: Any, messages: Iterable[Message], bootstrap: str, rate: float | None,
                progress: Progress | None) -> SendStats:
    from aiokafka.partitioner import DefaultPartitioner

    partitioner = DefaultPartitioner()
    stats = SendStats()
    partitions: dict[str, list[int]] = {}
    open_batches: dict[tuple[str, int], Any] = {}
    pending: list[asyncio.Future] = []

    async def partitions_of(topic: str) -> list[int]:
        found = partitions.get(topic)
        if found is None:
            try:
                found = sorted(await producer.partitions_for(topic))
            except Exception as exc:  # noqa: BLE001 - aiokafka raises several kinds here
                raise UnavailableError(f"topic {topic!r} is not available on the Kafka broker at {bootstrap} "
                                       f"({type(exc).__name__}); create it with `pingan kafka topics`") from None
            if not found:
                raise UnavailableError(f"topic {topic!r} has no partitions on the Kafka broker at {bootstrap}")
            partitions[topic] = found
        return found

    async def ship(key: tuple[str, int], batch: Any) -> None:
        pending.append(await producer.send_batch(batch, key[0], partition=key[1]))
        if len(pending) >= MAX_PENDING:
            await _settle(pending)

    async def flush_all() -> None:
        for key, batch in list(open_batches.items()):
            if batch.record_count():
                await ship(key, batch)
        open_batches.clear()

    started = time.monotonic()
    interval = 1.0 / rate if rate else 0.0
    last_flush = started
    for message in messages:
        if interval:
            now = time.monotonic()
            due = started + stats.sent * interval
            if now - last_flush >= PACED_FLUSH_S or due - now > PACED_FLUSH_S:
                await flush_all()
                last_flush = now
            if due - now > 0.002:
                await asyncio.sleep(due - now)
        topic = message.topic
        parts = partitions.get(topic) or await partitions_of(topic)
        key, value = message.key_bytes(), message.value_bytes()
        target = (topic, partitioner(key, parts, parts))
        batch = open_batches.get(target)
        if batch is None:
            batch = open_batches[target] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: ship it, start another
            await ship(target, batch)
            batch = open_batches[target] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise UnavailableError(f"a message of {len(value)} bytes for {topic} is larger than a batch")
        stats.sent += 1
        stats.per_topic[topic] += 1
        if message.is_raw:
            stats.raw += 1
        if progress is not None:
            progress.update()
    await flush_all()
    await _settle(pending)
    stats.seconds = time.monotonic() - started
    return stats


async def _settle(pending: list[asyncio.Future]) -> None:
    """Wait for every batch in flight to be acknowledged; the first failure is raised."""
    if pending:
        await asyncio.gather(*pending)
        pending.clear()
