"""Versioned DDL: order, idempotence, the schema_migrations record, TTL and division steps."""

from __future__ import annotations

import re

from conftest_sink import chdb_database, make_sink, run  # noqa: F401 - fixtures

from pingan.sinks.migrate import PERSONAL_COLUMNS, load_migrations, split_statements

RAW = {"events_camera", "events_grid", "events_fraud", "events_service", "alerts", "deadletters"}
VIEWS = {"v_camera_events", "v_grid_events", "v_fraud_events", "v_service_events", "v_alerts", "v_deadletters",
         "v_county_daily", "v_township_daily"}


def test_migration_files_are_numbered_and_split_cleanly():
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        statements = m.statements()
        assert statements, m.name
        for s in statements:
            assert not s.rstrip().endswith(";")
            assert re.match(r"^(CREATE (TABLE|MATERIALIZED VIEW|VIEW) IF NOT EXISTS|DROP VIEW IF EXISTS)\b",
                            s.strip()), s[:60]  # idempotent statements only
            assert "pingan." not in s  # unqualified names: the same text on chDB and on a server


def test_split_statements_ignores_comments():
    text = "-- header; not a statement\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\n-- next\nSELECT 1;\n"
    assert split_statements(text) == ["CREATE TABLE a (x UInt8)\nENGINE = Memory", "SELECT 1"]


def test_migrate_is_idempotent_and_recorded(make_sink):
    sink = make_sink(migrate_on_start=False, personal_ttl_days=30)

    async def scenario():
        await sink.start()
        try:
            first = await sink.migrate()
            assert [line for line in first if line.startswith("applied")] == [
                f"applied {m.version:03d}_{m.name}" for m in load_migrations()]
            assert await sink.migrate() == []  # nothing left to do
            versions = await sink.query("SELECT version, count() AS n FROM schema_migrations GROUP BY version "
                                        "ORDER BY version")
            assert [(r["version"], r["n"]) for r in versions] == [(m.version, 1) for m in load_migrations()]
            tables = {r["name"] for r in await sink.query(
                "SELECT name FROM system.tables WHERE database = currentDatabase()")}
            assert RAW | VIEWS | {"divisions", "schema_migrations"} <= tables
            # every statement can run again (a migration interrupted half way is re-applied)
            for m in load_migrations():
                for statement in m.statements():
                    await sink.query(statement)
            divisions = await sink.query("SELECT level, count() AS n FROM divisions FINAL GROUP BY level ORDER BY level")
            assert {r["level"]: r["n"] for r in divisions}["county"] == 10
            assert {r["level"]: r["n"] for r in divisions}["township"] == 103
        finally:
            await sink.stop()

    run(scenario())


def _ttl_days(sink, table: str, column: str) -> int | None:
    ddl = sink.query_sync("SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() "
                          "AND name = {t:String}", {"t": table})[0]["q"]
    match = re.search(rf"`{column}` [^,]*? TTL [^,]*?toIntervalDay\((\d+)\)", ddl)
    return int(match.group(1)) if match else None


def test_personal_ttl_follows_the_setting(make_sink, chdb_database):
    sink = make_sink(personal_ttl_days=30)

    async def scenario():
        await sink.start()
        try:
            for table, (_, columns) in PERSONAL_COLUMNS.items():
                for column in columns:
                    assert _ttl_days(sink, table, column) == 30, (table, column)
            assert _ttl_days(sink, "events_camera", "kind") is None  # not personal
        finally:
            await sink.stop()
        again = make_sink(personal_ttl_days=7)  # the setting changed: the next start re-applies it
        await again.start()
        try:
            assert _ttl_days(again, "events_fraud", "victim_phone") == 7
            assert await again.migrate() == []
        finally:
            await again.stop()

    run(scenario())


def test_db_commands(tmp_path):
    """`pingan db migrate` twice (the second has nothing to do), then `pingan db status`."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PINGAN_CLICKHOUSE__URL=f"chdb://{tmp_path / 'chdb'}")
    env.pop("PINGAN_CONFIG", None)
    cmd = [sys.executable, "-m", "pingan.cli.main", "db"]
    first = subprocess.run([*cmd, "migrate"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "applied 001_raw_tables" in first.stdout and "loaded 1219 divisions" in first.stdout
    second = subprocess.run([*cmd, "migrate"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert second.returncode == 0 and "schema is up to date" in second.stdout
    status = subprocess.run([*cmd, "status"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert status.returncode == 0
    assert "pending" not in status.stdout and "events_camera" in status.stdout
