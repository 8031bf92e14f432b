"""The report's figures equal an independent Python computation, exactly, under duplicates,
re-delivered batches and late events (contract/county-report.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from conftest_sink import chdb_database, make_sink, run  # noqa: F401 - fixtures
from sink_events import CST, START, generate, reference

from pingan.sinks.figures import COUNTY_FIGURES, PREFECTURE_FIGURES, Period, assemble, ratio, run_figures


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=11)


@pytest.fixture
def loaded(make_sink, dataset):
    sink = make_sink(batch_rows=200)

    async def load():
        await sink.start()
        for table, rows, source in dataset.plan:
            sink.add(table, rows, source=source)
            if sink.should_flush():
                await sink.flush()
        await sink.flush()

    run(load())
    yield sink
    run(sink.stop())


PERIODS = [
    (None, None),
    (START + timedelta(days=2, hours=5), START + timedelta(days=5, hours=13, minutes=7)),
    (START + timedelta(days=3), None),
    (None, START + timedelta(days=4, hours=22)),
]


@pytest.mark.parametrize("bounds", PERIODS, ids=["all", "window", "from", "to"])
def test_every_figure_matches_the_reference(loaded, dataset, bounds):
    start, end = (b.timestamp() if b else None for b in bounds)
    report = assemble(run_figures(loaded.query_sync, Period(start, end)))
    expected = reference(dataset, start, end)
    assert [c["county_code"] for c in report["counties"]] == [c["county_code"] for c in expected["counties"]]
    for got, want in zip(report["counties"], expected["counties"]):
        assert list(got) == ["county_code", "county_name", *COUNTY_FIGURES]
        assert got == want, got["county_name"]
    assert list(report["prefecture"]) == list(PREFECTURE_FIGURES)
    assert report["prefecture"] == expected["prefecture"]


def test_the_data_exercises_every_figure(loaded, dataset):
    """Guard against a vacuous comparison: duplicates exist and every figure is non-trivial."""
    raw = loaded.query_sync("SELECT count() AS n FROM events_camera")[0]["n"]
    final = loaded.query_sync("SELECT count() AS n FROM events_camera FINAL")[0]["n"]
    assert raw > final  # duplicates were written and are not counted
    prefecture = reference(dataset, None, None)["prefecture"]
    for name in PREFECTURE_FIGURES:
        assert prefecture[name] not in (0, None, "0.00"), name


def test_county_filter_and_chinese_names(loaded):
    report = assemble(run_figures(loaded.query_sync, Period()), county="532325")
    assert [c["county_name"] for c in report["counties"]] == ["姚安县"]
    whole = assemble(run_figures(loaded.query_sync, Period()))
    assert report["prefecture"] == whole["prefecture"]
    json.dumps(report, ensure_ascii=False)


def test_rates_round_half_up_and_null():
    assert ratio(1, 8) == 0.125
    assert ratio(1, 3) == 0.3333
    assert ratio(2, 3) == 0.6667
    assert ratio(123445, 1_000_000) == 0.1234
    assert ratio(123450, 1_000_000) == 0.1235  # half-up, not half-even
    assert ratio(0, 0) is None


def test_late_event_counts_in_its_own_period(make_sink):
    """An event arriving days late (after newer ones) lands in the day of its ts."""
    from pingan.schemas.decode import Decoder
    from pingan.schemas.privacy import Pseudonymizer

    decoder = Decoder(Pseudonymizer("k"))
    day1 = datetime(2026, 11, 10, 12, tzinfo=CST)
    day4 = day1 + timedelta(days=3)

    def cam(eid, moment):
        body = {"event_id": eid, "ts": moment.isoformat(), "county_code": "532301", "township_code": "532301101",
                "kind": "intrusion"}
        return decoder.decode("camera.alerts", json.dumps(body).encode())

    sink = make_sink()

    async def scenario():
        await sink.start()
        sink.add("events_camera", [cam("new", day4)], source=("camera.alerts", 0, 0, 0))
        await sink.flush()
        sink.add("events_camera", [cam("late", day1)], source=("camera.alerts", 0, 1, 1))
        await sink.flush()
        try:
            def count(a, b):
                r = assemble(run_figures(sink.query_sync, Period(a.timestamp(), b.timestamp())))
                return r["prefecture"]["camera_events"]

            assert count(day1 - timedelta(hours=12), day1 + timedelta(hours=12)) == 1
            assert count(day4 - timedelta(hours=12), day4 + timedelta(hours=12)) == 1
            assert count(day1 + timedelta(hours=12), day4 - timedelta(hours=12)) == 0
            daily = await sink.query("SELECT toString(day) AS day, value FROM v_county_daily "
                                     "WHERE figure = 'camera_events' AND county_code = '532301' ORDER BY day")
            assert daily == [{"day": "2026-11-10", "value": 1}, {"day": "2026-11-13", "value": 1}]
        finally:
            await sink.stop()

    run(scenario())
