"""No clear national ID number or phone number anywhere in ClickHouse; masked views only."""

from __future__ import annotations

import orjson
import pytest
from conftest_sink import chdb_database, make_sink, run  # noqa: F401 - fixtures
from sink_events import generate

from pingan.schemas.privacy import mask
from pingan.sinks.tables import scrub_text

PERSONAL = {"person_id", "plate", "household_id", "victim_id_number", "victim_phone", "description", "extra",
            "image_ref", "key", "key_text", "value_text", "victim_age"}


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=5)


def _dump_everything(sink) -> str:
    """Every row of every table and view of the database, as text."""
    names = [r["name"] for r in sink.query_sync(
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")]
    parts = []
    for name in names:
        columns = sink.query_sync("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                                  "AND table = {t:String}", {"t": name})
        # aggregate states (uniqExact of ids) hold 128-bit hashes, never text: read them finalized
        select = ", ".join(
            f"toString(finalizeAggregation(`{c['name']}`))" if c["type"].startswith("AggregateFunction")
            else f"toString(`{c['name']}`)" for c in columns)
        parts.append(orjson.dumps(sink.query_sync(f"SELECT {select} FROM `{name}`")).decode())
    return "\n".join(parts)


def test_no_clear_id_or_phone_is_stored(make_sink, dataset):
    sink = make_sink()
    leaked = dict(dataset.events[0], event_id="leak-1", topic="fraud.cases", stream="fraud", case_id="X",
                  status="reported", victim_id_number=dataset.clear_ids[0], victim_phone=dataset.clear_phones[0])

    async def scenario():
        await sink.start()
        try:
            for table, rows, source in dataset.plan:
                sink.add(table, rows, source=source)
            sink.add("events_fraud", [leaked], source=("fraud.cases", 0, 999, 999))  # an upstream bug
            await sink.flush()
            everything = _dump_everything(sink)
            assert len(everything) > 100_000  # not vacuous
            for clear in [*dataset.clear_ids, *dataset.clear_phones]:
                assert clear not in everything
            # the pseudonyms are there, and the clear values really were in the input
            assert any(e.get("victim_id_number") for e in dataset.events if e["topic"] == "fraud.cases")
            stored = await sink.query("SELECT countIf(victim_id_number LIKE 'p\\_%') AS p, "
                                      "countIf(event_id = 'leak-1' AND victim_id_number IS NULL) AS dropped "
                                      "FROM events_fraud")
            assert stored[0]["p"] > 0 and stored[0]["dropped"] == 1
            assert "[redacted]" in everything
        finally:
            await sink.stop()

    run(scenario())


def test_views_expose_masked_columns_only(make_sink, dataset):
    sink = make_sink()

    async def scenario():
        await sink.start()
        try:
            for table, rows, source in dataset.plan:
                sink.add(table, rows, source=source)
            await sink.flush()
            views = [r["name"] for r in await sink.query(
                "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'View'")]
            assert {"v_camera_events", "v_grid_events", "v_fraud_events", "v_alerts"} <= set(views)
            for view in views:
                columns = {r["name"] for r in await sink.query(
                    "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
                    {"t": view})}
                assert not columns & PERSONAL, (view, columns & PERSONAL)
            rows = await sink.query("SELECT event_id, plate_masked, person_id_masked FROM v_camera_events "
                                    "WHERE plate_masked IS NOT NULL OR person_id_masked IS NOT NULL")
            by_id = {e["event_id"]: e for e in dataset.events if e["topic"] == "camera.alerts"}
            assert rows
            for row in rows:
                event = by_id[row["event_id"]]
                assert row["plate_masked"] == mask(event["plate"])
                assert row["person_id_masked"] == mask(event["person_id"])
        finally:
            await sink.stop()

    run(scenario())


def test_scrub_text():
    assert scrub_text("身份证 53232519880101123X 电话 13912345678") == "身份证 [redacted] 电话 [redacted]"
    assert scrub_text('{"victim_phone": "0878-1234567", "county_code": "532301"}') == \
        '{"victim_phone": "[redacted]", "county_code": "532301"}'
    assert scrub_text("village 532301101001 ok") == "village 532301101001 ok"  # division codes stay
