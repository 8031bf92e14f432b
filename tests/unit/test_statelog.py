"""Engine state values too large for one Kafka record are written in parts and restored whole."""

from __future__ import annotations

import orjson

from pingan.streams.statelog import PART_CHARS, decode_items, encode_changes


def apply(table: dict, records) -> None:
    """What a compacted changelog read back by Faust's recovery holds (JSON-decoded values)."""
    for key, value in records:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = orjson.loads(value)


def test_small_values_are_one_record_each():
    parts: dict = {}
    records = encode_changes({"r:A:1:k": {"last": 1.0}, "t": 5.0, "r:B:1:k": None}, parts)
    assert records == [("r:A:1:k", b'{"last":1.0}'), ("t", b"5.0"), ("r:B:1:k", None)]
    assert parts == {}


def test_a_large_value_is_split_and_restored_and_its_parts_go_when_it_shrinks():
    big = {"ev": [[1_795_910_400.0 + i, f"案件-{i}", f"fraud-{i:08d}"] for i in range(20_000)], "last": None}
    assert len(orjson.dumps(big)) > 3 * PART_CHARS
    parts: dict = {}
    table: dict = {}
    records = encode_changes({"r:FRAUD-CLUSTER:v1:532301101": big, "t": 1.0}, parts)
    assert all(value is None or len(value) < 1_000_000 for _, value in records)
    n = parts["r:FRAUD-CLUSTER:v1:532301101"]
    assert n >= 4 and len(records) == n + 2
    apply(table, records)
    items, restored_parts = decode_items(table.items())
    assert dict(items) == {"r:FRAUD-CLUSTER:v1:532301101": big, "t": 1.0}
    assert restored_parts == parts
    # the window empties: one small record, and tombstones for every part
    apply(table, encode_changes({"r:FRAUD-CLUSTER:v1:532301101": {"ev": [], "last": 2.0}}, restored_parts))
    assert table == {"r:FRAUD-CLUSTER:v1:532301101": {"ev": [], "last": 2.0}, "t": 1.0}
    assert restored_parts == {}


def test_a_manifest_without_all_its_parts_is_skipped():
    parts: dict = {}
    table: dict = {}
    apply(table, encode_changes({"r:X:1:k": {"ev": ["x" * 50] * 10_000}}, parts))
    del table["r:X:1:k\x1f1"]
    items, _ = decode_items(table.items())
    assert items == []
