"""The batching chDB sink: size/interval flushes, dedup tokens, exactness by event_id,
backpressure and retries under injected write failures."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest_sink import chdb_database, make_sink, run  # noqa: F401 - fixtures

from pingan.errors import BackpressureError, ConfigError, UnavailableError
from pingan.schemas.decode import Decoder
from pingan.schemas.privacy import Pseudonymizer
from pingan.sinks.chdb import ChdbSink, chdb_path

DECODER = Decoder(Pseudonymizer("k"))


def camera(i: int, *, day: int = 20, kind: str = "stranger") -> dict:
    body = {"event_id": f"e{i}", "ts": f"2026-11-{day:02d}T10:{i // 60 % 60:02d}:{i % 60:02d}+08:00",
            "county_code": "532301", "township_code": "532301101", "kind": kind}
    return DECODER.decode("camera.alerts", json.dumps(body).encode())


class FlakySink(ChdbSink):
    """Fault injection: the first ``failures`` inserts raise; with ``after_write`` the insert
    reaches ClickHouse first (a lost acknowledgement)."""

    failures = 0
    after_write = False

    def _insert(self, table, payload, token):
        if self.failures > 0:
            self.failures -= 1
            if self.after_write:
                super()._insert(table, payload, token)
            raise ConnectionError("injected write failure")
        super()._insert(table, payload, token)


def count(sink, final: bool = False) -> int:
    return sink.query_sync(f"SELECT count() AS n FROM events_camera{' FINAL' if final else ''}")[0]["n"]


def test_writes_full_batches_at_once_and_flushes_on_interval(make_sink):
    now = [0.0]
    sink = make_sink(batch_rows=10, flush_interval_s=2.0, max_backlog_rows=40, clock=lambda: now[0])

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", [camera(i) for i in range(3)], source=("camera.alerts", 0, 0, 2))
            assert not sink.should_flush()
            now[0] = 1.9
            assert not sink.should_flush()
            now[0] = 2.1
            assert sink.should_flush()  # interval reached
            assert await sink.flush() == 3
            assert not sink.should_flush()
            assert count(sink) == 3
            # a full batch is written by the writer without waiting for a flush
            sink.add("events_camera", [camera(i) for i in range(3, 15)], source=("camera.alerts", 0, 3, 14))
            for _ in range(500):
                if sink.backlog_rows == 2:
                    break
                await asyncio.sleep(0.01)
            assert count(sink) == 13  # one batch of 10 written, 2 rows still buffered
            assert sink.pending_rows == 2 and sink.backlog_rows == 2
            assert not sink.should_flush()
            sink.add("events_camera", [camera(i) for i in range(15, 33)], source=("camera.alerts", 0, 15, 32))
            assert sink.should_flush()  # size: half the backlog limit added since the last flush
            await sink.flush()
            assert count(sink) == 33 and sink.backlog_rows == 0
            assert sink.stats.batches_written == 4  # 3 | 10 | then 2 + 18 rows as 10 + 10
        finally:
            await sink.stop()

    run(scenario())


def test_replayed_offsets_are_dropped_by_the_dedup_token(make_sink):
    sink = make_sink()
    rows = [camera(i) for i in range(50)]

    async def scenario():
        await sink.start()
        try:
            for _ in range(3):  # written, then re-consumed twice after "crashes" before the commit
                sink.add("events_camera", rows, source=("camera.alerts", 2, 100, 149))
                await sink.flush()
            assert count(sink) == 50  # raw rows, no FINAL: ClickHouse dropped the repeated blocks
        finally:
            await sink.stop()

    run(scenario())


def test_same_event_id_at_a_new_offset_counts_once(make_sink):
    from pingan.sinks.figures import Period, assemble, run_figures

    sink = make_sink()

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", [camera(1), camera(2)], source=("camera.alerts", 0, 0, 1))
            await sink.flush()
            sink.add("events_camera", [camera(1)], source=("camera.alerts", 3, 77, 77))  # re-sent upstream
            await sink.flush()
            assert count(sink) == 3  # stored twice (different batch) ...
            assert count(sink, final=True) == 2  # ... counted once
            report = assemble(run_figures(sink.query_sync, Period()))
            assert report["prefecture"]["camera_events"] == 2
            hourly = await sink.query("SELECT uniqExactMerge(events) AS n FROM agg_camera_hourly")
            assert hourly[0]["n"] == 2  # the aggregates are exact too
        finally:
            await sink.stop()

    run(scenario())


def test_failing_writes_are_retried_and_nothing_is_lost(make_sink):
    sink = make_sink(cls=FlakySink)
    sink.failures = 3

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", [camera(i) for i in range(40)], source=("camera.alerts", 1, 0, 39))
            assert await sink.flush() == 40
            assert sink.stats.write_errors == 3
            assert sink.backlog_rows == 0
            assert count(sink) == 40
        finally:
            await sink.stop()

    run(scenario())


def test_retry_after_a_lost_acknowledgement_writes_no_duplicate(make_sink):
    sink = make_sink(cls=FlakySink)
    sink.failures, sink.after_write = 2, True  # the rows reach ClickHouse, the client sees an error

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", [camera(i) for i in range(25)], source=("camera.alerts", 4, 0, 24))
            await sink.flush()
            assert sink.stats.write_errors == 2
            assert count(sink) == 25  # the retries carried the same token
        finally:
            await sink.stop()

    run(scenario())


def test_backpressure_while_clickhouse_is_down_then_resume(make_sink):
    sink = make_sink(cls=FlakySink, batch_rows=10, max_backlog_rows=30)
    sink.failures = 10**9  # down until we say otherwise

    async def scenario():
        await sink.start()
        try:
            sink.add("events_camera", [camera(i) for i in range(20)], source=("camera.alerts", 0, 0, 19))
            flushing = asyncio.create_task(sink.flush())
            await asyncio.sleep(0.2)
            assert not flushing.done()  # still retrying
            assert sink.stats.write_errors >= 2
            sink.add("events_camera", [camera(i) for i in range(20, 30)], source=("camera.alerts", 0, 20, 29))
            with pytest.raises(BackpressureError):
                sink.add("events_camera", [camera(30)], source=("camera.alerts", 0, 30, 30))
            assert sink.backlog_rows == 30  # bounded: the refused row is not buffered
            assert not sink.has_capacity(1)
            waiting = asyncio.create_task(sink.wait_for_capacity(1))  # how a worker pauses consuming
            await asyncio.sleep(0.1)
            assert not waiting.done()
            sink.failures = 0  # ClickHouse is back
            assert await flushing == 20
            await asyncio.wait_for(waiting, 5)  # capacity again
            await sink.flush()
            assert count(sink) == 30
            sink.add("events_camera", [camera(30)], source=("camera.alerts", 0, 30, 30))
            await sink.flush()
            assert count(sink) == 31
        finally:
            await sink.stop()

    run(scenario())


def test_stop_ends_the_retry_loop_and_keeps_rows_unwritten(make_sink):
    sink = make_sink(cls=FlakySink)
    sink.failures = 10**9

    async def scenario():
        await sink.start()
        sink.add("events_camera", [camera(i) for i in range(5)], source=("camera.alerts", 0, 0, 4))
        flushing = asyncio.create_task(sink.flush())
        await asyncio.sleep(0.1)
        sink._stopping = True  # what stop() signals first
        with pytest.raises(UnavailableError):
            await flushing
        assert sink.backlog_rows == 5  # still buffered, offsets never committed
        await sink.stop()

    run(scenario())


def test_rows_added_before_start_are_written_by_a_flush_that_waits_for_start(make_sink):
    sink = make_sink(batch_rows=5)

    async def scenario():
        sink.add("events_camera", [camera(i) for i in range(12)], source=("camera.alerts", 0, 0, 11))
        flushing = asyncio.create_task(sink.flush())  # the consumer was faster than start()
        await asyncio.sleep(0.05)
        assert not flushing.done()
        await sink.start()
        try:
            assert await asyncio.wait_for(flushing, 30) == 12
            assert count(sink) == 12
        finally:
            await sink.stop()

    run(scenario())


def test_other_tables_and_unknown_table(make_sink):
    sink = make_sink()
    alert = {"alert_id": "a1", "rule_id": "r", "rule_version": "1", "severity": "high", "key": "云E12345",
             "ts": 1795603987.5, "county_code": "532301", "title": "告警", "evidence": ["e1"], "figures": {"n": 2}}

    async def scenario():
        await sink.start()
        try:
            with pytest.raises(ConfigError):
                sink.add("nope", [{}])
            shadow = dict(alert, alert_id="a2", status="shadow")
            sink.add("alerts", [alert, alert, shadow], source=None)
            await sink.flush()
            rows = await sink.query("SELECT key_masked, severity, evidence FROM v_alerts WHERE status = 'enabled'")
            assert rows == [{"key_masked": "云E***45", "severity": "high", "evidence": ["e1"]}]
            daily = await sink.query("SELECT value FROM v_county_daily WHERE figure = 'alerts_high'")
            assert daily == [{"value": 1}]  # the shadow alert is stored but not counted
        finally:
            await sink.stop()

    run(scenario())


def test_urls_and_one_path_per_process(tmp_path, make_sink):
    assert str(chdb_path("chdb:///abs/x")) == "/abs/x"
    assert chdb_path("chdb://var/chdb").parts[-2:] == ("var", "chdb")
    sink = make_sink()
    other = ChdbSink(tmp_path / "other", database="x")

    async def scenario():
        await sink.start()
        try:
            with pytest.raises(ConfigError, match="one path per process"):
                await other.start()
        finally:
            await sink.stop()

    run(scenario())


def test_sink_rows_per_second_vs_bulk_insert(make_sink):
    """Benchmark (prints, asserts no timing): the sink against one INSERT of the same rows."""
    from pingan.sinks.bench import bench_sink_vs_bulk

    sink = make_sink(batch_rows=5_000, max_backlog_rows=50_000)

    async def scenario():
        await sink.start()
        try:
            result = await bench_sink_vs_bulk(sink, rows=20_000, repeats=1)
            assert count(sink) == 20_000  # everything the sink took was written
            print(f"\nsink {result['sink_rows_per_s']:,} rows/s; one bulk INSERT {result['bulk_insert_rows_per_s']:,} "
                  f"rows/s; ratio {result['ratio']:.2f}")
        finally:
            await sink.stop()

    run(scenario())
