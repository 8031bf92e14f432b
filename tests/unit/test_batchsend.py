"""streams.batchsend: records grouped per partition into aiokafka record batches (the real
BatchBuilder), full batches handed over and a fresh one started, a record larger than a batch sent
on its own; without aiokafka underneath, one send per record."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka.producer.message_accumulator import BatchBuilder

from pingan.streams.batchsend import send_records


class RawProducer:
    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.batches: list[tuple[str, int, int]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0, is_transactional=False,
                            key_serializer=None, value_serializer=None)

    async def send_batch(self, batch, topic, *, partition):
        self.batches.append((topic, partition, batch.record_count()))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


class FaustProducer:
    def __init__(self, raw):
        self._producer = raw
        self.single: list[tuple[str, int, bytes]] = []

    async def send(self, topic, key, value, partition, timestamp, headers):
        self.single.append((topic, partition, key))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def run(producer, records):
    delivery: list = []
    asyncio.run(send_records(producer, "state-changelog", records, delivery))
    return delivery


def test_records_go_in_batches_per_partition():
    raw = RawProducer(batch_size=16 * 1024)
    producer = FaustProducer(raw)
    records = [(i % 3, f"key{i}".encode(), b"x" * 100) for i in range(600)] + [(1, b"gone", None)]
    delivery = run(producer, records)
    per_partition = {}
    for topic, partition, count in raw.batches:
        assert topic == "state-changelog"
        per_partition[partition] = per_partition.get(partition, 0) + count
    assert per_partition == {0: 200, 1: 201, 2: 200}  # every record, the tombstone included
    assert len(raw.batches) > 3  # 200 records of ~110 bytes do not fit one 16 kB batch
    assert len(delivery) == len(raw.batches) and not producer.single


def test_a_record_larger_than_a_batch_is_sent_alone():
    raw = RawProducer(batch_size=1024)
    producer = FaustProducer(raw)
    records = [(0, b"a", b"1"), (0, b"big", b"y" * 5000), (0, b"b", b"2")]
    delivery = run(producer, records)
    sent = sum(count for _, _, count in raw.batches) + len(producer.single)
    assert sent == 3 and len(delivery) == len(raw.batches) + len(producer.single)


def test_without_aiokafka_underneath_each_record_is_sent():
    producer = FaustProducer(None)
    delivery = run(producer, [(2, b"k", b"v"), (0, b"j", None)])
    assert producer.single == [("state-changelog", 2, b"k"), ("state-changelog", 0, b"j")] and len(delivery) == 2
