"""The sink's encoding and streamed writes: the column bytes, the insert starting before a batch
is fully encoded, a failed encoding committing nothing, and the deduplication token (the same
offsets give the same token; different rows never share one)."""

from __future__ import annotations

import asyncio
import threading

import orjson
import pytest
from conftest_sink import chdb_database, make_sink, run  # noqa: F401 - fixtures
from sink_events import generate

from pingan.sinks import base, tables
from pingan.sinks.base import dedup_token
from pingan.sinks.chdb import ChdbSink
from pingan.sinks.tables import COLUMN_SPECS, COLUMNS, encode_rows, iter_columns


def count(sink, table: str = "events_camera") -> int:
    return sink.query_sync(f"SELECT count() AS n FROM {table}")[0]["n"]


def camera_rows(n: int, start: int = 0, prefix: str = "e") -> list[dict]:
    return [{"event_id": f"{prefix}{i}", "ts": 1795600000.0 + i, "county_code": "532301", "county_name": "楚雄市",
             "township_code": "532301101", "township_name": None, "village_code": None, "village_name": None,
             "camera_id": "CAM-1", "kind": "stranger", "person_id": None, "watchlist": None, "plate": None,
             "confidence": None, "image_ref": None, "extra": {"lane": i} if i % 3 == 0 else {}}
            for i in range(start, start + n)]


# ---- the bytes ----

def test_bytes_are_one_json_array_per_column_for_every_table():
    data = generate(seed=3)
    by_table: dict[str, list[dict]] = {}
    for table, rows, _ in data.plan:
        by_table.setdefault(table, []).extend(rows)
    assert set(by_table) == set(COLUMN_SPECS)  # the generated traffic covers every table
    for table, rows in by_table.items():
        payload = encode_rows(table, rows)
        columns = orjson.loads(payload)
        assert len(columns) == len(COLUMNS[table]) and all(len(c) == len(rows) for c in columns)
        assert payload == b"[" + b",".join(iter_columns(table, rows)) + b"]"
        for spec, values in zip(COLUMN_SPECS[table], columns):  # every plain column is the row's value
            if spec.convert is None:
                assert values == [orjson.loads(orjson.dumps(r.get(spec.key), default=str)) for r in rows], spec.name


def test_absent_optional_keys_encode_as_none_and_a_missing_required_key_raises():
    rows = camera_rows(4)
    sparse = [dict(r) for r in rows]
    del sparse[1]["plate"], sparse[2]["extra"], sparse[3]["township_name"]
    assert encode_rows("events_camera", sparse) == encode_rows("events_camera", rows)
    del sparse[0]["ts"]
    with pytest.raises(KeyError):
        encode_rows("events_camera", sparse)


def test_timestamps_and_names_are_converted_column_wise():
    from datetime import datetime, timezone

    rows = camera_rows(3)
    rows[1]["ts"] = 1795600001  # an int
    rows[2]["ts"] = datetime.fromtimestamp(1795600002.5, tz=timezone.utc)
    columns = dict(zip(COLUMNS["events_camera"], orjson.loads(encode_rows("events_camera", rows))))
    assert columns["ts"] == [1795600000.0, 1795600001.0, 1795600002.5]
    assert columns["township_name"] == ["", "", ""]  # None -> ''
    assert columns["extra"] == ['{"lane":0}', "{}", "{}"]


# ---- the token ----

def test_token_is_the_ranges_the_row_count_and_the_ids():
    ids = [orjson.dumps(["a", "b"])]
    same = dedup_token("events_camera", "camera.alerts:0:0-1", ids, 2)
    assert same == dedup_token("events_camera", "camera.alerts:0:0-1", [orjson.dumps(["a", "b"])], 2)
    assert same != dedup_token("events_camera", "camera.alerts:0:0-1", [orjson.dumps(["a", "c"])], 2)
    assert same != dedup_token("events_camera", "camera.alerts:0:0-2", ids, 2)
    assert same != dedup_token("events_grid", "camera.alerts:0:0-1", ids, 2)


def test_alert_batches_without_a_source_and_the_same_size_are_all_written(make_sink):
    """Alerts carry no Kafka range: a token of ranges and row count alone would make two
    different alert batches of the same size one and drop the second."""
    sink = make_sink()
    alert = {"rule_id": "r", "rule_version": "1", "severity": "high", "key": "k", "ts": 1795603987.5,
             "county_code": "532301", "title": "告警", "evidence": [], "figures": {}}

    async def scenario():
        await sink.start()
        try:
            for n in range(3):
                sink.add("alerts", [dict(alert, alert_id=f"a{n}-{i}") for i in range(2)], source=None)
                await sink.flush()
            sink.add("alerts", [dict(alert, alert_id="a0-0"), dict(alert, alert_id="a0-1")], source=None)
            await sink.flush()  # the first batch again: dropped
            assert count(sink, "alerts") == 6
        finally:
            await sink.stop()

    run(scenario())


def test_replayed_dead_letters_are_dropped_although_received_later(make_sink):
    sink = make_sink()

    def letters(received: float) -> list[dict]:
        return [{"reason": "bad", "topic": "camera.alerts", "partition": 0, "offset": o, "value_b64": "e30=",
                 "received_at": received} for o in (5, 6)]

    async def scenario():
        await sink.start()
        try:
            sink.add("deadletters", letters(1795600000.0), source=("camera.alerts", 0, 5, 6))
            await sink.flush()
            sink.add("deadletters", letters(1795600090.0), source=("camera.alerts", 0, 5, 6))  # after a restart
            await sink.flush()
            assert count(sink, "deadletters") == 2
        finally:
            await sink.stop()

    run(scenario())


# ---- streaming ----

class RecordingSink(ChdbSink):
    """Records each part the writer streams into an insert."""

    def _insert(self, table, payload, token):
        parts = []

        def recorded():
            for part in (payload,) if isinstance(payload, bytes) else payload:
                parts.append(part)
                self.on_part(part)
                yield part

        super()._insert(table, recorded(), token)
        self.inserts.append(b"".join(parts))

    def on_part(self, part: bytes) -> None:
        pass


def test_the_insert_streams_a_batch_before_it_is_fully_encoded(make_sink, monkeypatch):
    first_part_sent = threading.Event()
    encoder_waited: list[bool] = []
    original = tables.iter_columns

    def gated(table, rows):
        columns = original(table, rows)
        yield next(columns)  # the id column: enough for the token
        # the rest waits until the writer has sent the first part into the open INSERT
        encoder_waited.append(first_part_sent.wait(timeout=30))
        yield from columns

    monkeypatch.setattr(base, "iter_columns", gated)
    sink = make_sink(cls=RecordingSink, batch_rows=50)
    sink.inserts = []
    sink.on_part = lambda part: first_part_sent.set()
    rows = camera_rows(50)

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", rows, source=("camera.alerts", 0, 0, 49))
            await sink.flush()
            assert encoder_waited == [True]  # the writer did not wait for the whole batch
            assert sink.inserts == [encode_rows("events_camera", rows)]
            assert count(sink) == 50
        finally:
            await sink.stop()

    run(scenario())


def test_a_batch_failing_to_encode_midway_commits_nothing_and_is_not_retried(make_sink):
    sink = make_sink(cls=RecordingSink, batch_rows=10)
    sink.inserts = []
    bad = camera_rows(10)
    bad[7]["ts"] = "not a time"  # the ts column fails after the event_id column was streamed

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", bad, source=("camera.alerts", 0, 0, 9))
            with pytest.raises(ValueError):
                await sink.flush()
            assert sink.stats.write_errors == 0 and sink.inserts == []
            assert count(sink) == 0
            with pytest.raises(ValueError):
                await sink.flush()  # still unwritten: never reported as written
            good = camera_rows(10, start=10)  # the cancelled INSERT left the engine usable
            await sink._call(sink._insert, "events_camera", encode_rows("events_camera", good), "t-good")
            assert count(sink) == 10
        finally:
            await sink.stop()

    run(scenario())


def test_a_streamed_batch_retried_after_a_lost_acknowledgement_is_written_once(make_sink):
    class LostAck(ChdbSink):
        lost = 2

        def _insert(self, table, payload, token):
            super()._insert(table, payload, token)
            if self.lost:
                self.lost -= 1
                raise ConnectionError("acknowledgement lost")

    sink = make_sink(cls=LostAck, batch_rows=30)
    rows = camera_rows(70)

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", rows, source=("camera.alerts", 1, 0, 69))
            await sink.flush()
            assert sink.stats.write_errors == 2 and sink.stats.batches_written == 3
            assert count(sink) == 70
            got = await sink.query("SELECT event_id FROM events_camera ORDER BY ts")
            assert [r["event_id"] for r in got] == [r["event_id"] for r in rows]
        finally:
            await sink.stop()

    run(scenario())


def test_a_replay_that_cuts_other_rows_from_the_same_ranges_loses_nothing(make_sink, chdb_database):
    """A batch's ranges span the whole buffer when it is cut, so after a restart the same ranges
    and row count can hold other rows (partitions arriving in another order): the token must
    differ, or ClickHouse would drop rows that were never written."""
    p0 = camera_rows(3, prefix="p0-")
    p1 = camera_rows(3, prefix="p1-")
    first = make_sink(batch_rows=4)

    async def before_the_crash():
        await first.start()
        try:
            first.add("events_camera", p0, source=("camera.alerts", 0, 0, 2))
            first.add("events_camera", p1, source=("camera.alerts", 1, 0, 2))  # cuts p0-0..2 + p1-0
            for _ in range(500):
                if first.stats.batches_written == 1:
                    break
                await asyncio.sleep(0.01)
            assert first.stats.batches_written == 1  # the last 2 rows were never written: a crash
        finally:
            await first.stop()

    run(before_the_crash())
    replay = make_sink(batch_rows=4, database=chdb_database)

    async def after_the_restart():
        await replay.start()
        try:
            replay.add("events_camera", p1, source=("camera.alerts", 1, 0, 2))  # another order now
            replay.add("events_camera", p0, source=("camera.alerts", 0, 0, 2))  # cuts p1-0..2 + p0-0
            await replay.flush()
            got = await replay.query("SELECT DISTINCT event_id FROM events_camera ORDER BY event_id")
            assert [r["event_id"] for r in got] == sorted(r["event_id"] for r in p0 + p1)
        finally:
            await replay.stop()

    run(after_the_restart())


def test_without_the_streaming_insert_api_the_batch_is_sent_whole(make_sink):
    """chDB before 4.x has no ``send_insert``: the same bytes go in one query."""

    class QueryOnly:
        def __init__(self, session):
            self._session = session

        def query(self, *args, **kwargs):
            return self._session.query(*args, **kwargs)

        def close(self):
            self._session.close()

    class OldChdb(ChdbSink):
        def _open(self):
            super()._open()
            self._session = QueryOnly(self._session)

    sink = make_sink(cls=OldChdb, batch_rows=25)
    rows = camera_rows(60)

    async def scenario():
        await sink.start()
        try:
            for _ in range(2):  # the second time: dropped by the token
                sink.add("events_camera", rows, source=("camera.alerts", 0, 0, 59))
                await sink.flush()
            assert count(sink) == 60 and sink.stats.batches_written == 6
        finally:
            await sink.stop()

    run(scenario())
