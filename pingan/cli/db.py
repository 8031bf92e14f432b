"""`pingan db migrate|status`: apply the versioned DDL, show what is applied and row counts."""

from __future__ import annotations

import argparse
import asyncio


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="ClickHouse schema: migrate, status")
    p.add_argument("--clickhouse", help="ClickHouse URL: chdb:///path or http(s)://host:8123/db (default from settings)")
    actions = p.add_subparsers(dest="db_action", metavar="ACTION")
    actions.required = True
    m = actions.add_parser("migrate", help="apply pending migrations (idempotent)")
    m.set_defaults(handler=migrate)
    s = actions.add_parser("status", help="applied migrations and row counts")
    s.set_defaults(handler=status)


def _sink(args: argparse.Namespace):
    from pingan.config import load_settings
    from pingan.sinks import open_sink

    settings = load_settings()
    return open_sink(settings.clickhouse, url=args.clickhouse or None, migrate_on_start=False)


def migrate(args: argparse.Namespace) -> int:
    sink = _sink(args)

    async def run() -> list[str]:
        await sink.start()
        try:
            return await sink.migrate()
        finally:
            await sink.stop()

    done = asyncio.run(run())
    for line in done or ["schema is up to date"]:
        print(line)
    print(f"{sink.describe()}: ok")
    return 0


def status(args: argparse.Namespace) -> int:
    from pingan.sinks.migrate import load_migrations
    from pingan.sinks.tables import COLUMN_SPECS

    sink = _sink(args)

    async def run() -> tuple[list[dict], dict[str, int]]:
        await sink.start()
        try:
            tables = {r["name"] for r in await sink.query(
                "SELECT name FROM system.tables WHERE database = currentDatabase()")}
            applied: list[dict] = []
            if "schema_migrations" in tables:
                applied = await sink.query("SELECT version, any(name) AS name, min(applied_at) AS applied_at "
                                           "FROM schema_migrations GROUP BY version ORDER BY version")
            counts = {}
            for table in COLUMN_SPECS:
                if table in tables:
                    counts[table] = int((await sink.query(f"SELECT count() AS n FROM {table}"))[0]["n"])
            return applied, counts
        finally:
            await sink.stop()

    applied, counts = asyncio.run(run())
    done = {int(r["version"]) for r in applied}
    print(sink.describe())
    for m in load_migrations():
        state = "applied" if m.version in done else "pending"
        print(f"  {m.version:03d}_{m.name:<24} {state}")
    for table, n in counts.items():
        print(f"  {table:<16} {n:>12} rows (stored, before de-duplication)")
    return 0
