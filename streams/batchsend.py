"""Many records to one topic, straight into aiokafka's record batches.

Faust's ``Producer.send`` and aiokafka's ``send`` cost tens of microseconds a record (a future,
the accumulator's bookkeeping, the partitioner); a flush writes one changelog record per changed
state key, thousands at a time. Here the records of each partition are appended to aiokafka
``BatchBuilder``s and each full batch is handed over with ``send_batch`` (one future a batch). The
records' partitions are chosen by the caller. Without an aiokafka producer underneath (a test's
fake), records go one by one through ``send``.
"""

from __future__ import annotations

from typing import Any, Iterable


def raw_producer(producer: Any) -> Any | None:
    """The aiokafka producer under Faust's producer, when it is running."""
    raw = getattr(producer, "_producer", None)
    return raw if raw is not None and hasattr(raw, "create_batch") else None


async def send_records(producer: Any, topic: str, records: Iterable[tuple[int, bytes, bytes | None]],
                       delivery: list) -> None:
    """Send (partition, key, value) records; a delivery future per batch is appended to ``delivery``
    (each resolves when the broker has the batch, or fails)."""
    raw = raw_producer(producer)
    if raw is None:
        for partition, key, value in records:
            delivery.append(await producer.send(topic, key, value, partition, None, None))
        return
    by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
    for partition, key, value in records:
        by_partition.setdefault(partition, []).append((key, value))
    for partition, items in by_partition.items():
        batch = raw.create_batch()
        filled = 0
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is not None:
                filled += 1
                continue
            if filled:
                delivery.append(await raw.send_batch(batch, topic, partition=partition))
            batch = raw.create_batch()
            filled = 0
            if batch.append(key=key, value=value, timestamp=None) is not None:
                filled = 1
            else:  # larger than a whole batch: on its own
                delivery.append(await producer.send(topic, key, value, partition, None, None))
        if filled:
            delivery.append(await raw.send_batch(batch, topic, partition=partition))
