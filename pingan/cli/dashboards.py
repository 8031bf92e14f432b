"""`pingan dashboards build|check|push|preview`: Grafana dashboards as code."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

DEFAULT_PREVIEW = "var/preview/index.html"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboards", help="Grafana dashboards: build JSON, check SQL, push, static preview")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    b = actions.add_parser("build", help="regenerate dashboards/generated/*.json from the code")
    b.add_argument("--out", help="output folder (default dashboards/generated)")
    b.set_defaults(handler=build)

    def store_options(q: argparse.ArgumentParser) -> None:
        q.add_argument("--clickhouse", help="ClickHouse URL: chdb:///path, http(s)://host:8123 or "
                                            "worker://127.0.0.1:6066 while a worker holds the embedded chDB")
        q.add_argument("--from", dest="start", help="start of the time range (ISO 8601; default: first stored event)")
        q.add_argument("--to", dest="end", help="end of the time range (default: last stored event, next hour)")

    c = actions.add_parser("check", help="run every ClickHouse panel's SQL (macros and variables expanded)")
    store_options(c)
    c.add_argument("--all-counties", action="store_true", help="run the county drill-down for every county")
    c.add_argument("--quiet", "-q", action="store_true", help="print failures only")
    c.set_defaults(handler=check)

    u = actions.add_parser("push", help="upload the dashboards and data sources to a Grafana server")
    u.add_argument("--url", required=True, help="Grafana base URL, e.g. https://grafana.example:3000")
    u.add_argument("--token", required=True, help="service account token (Editor or Admin)")
    u.add_argument("--folder", default="平安楚雄", help="folder title (created if missing; default 平安楚雄)")
    u.add_argument("--clickhouse-host", default="clickhouse", help="ClickHouse host the data source points at")
    u.add_argument("--clickhouse-port", type=int, default=9000, help="native protocol port (default 9000)")
    u.add_argument("--clickhouse-user", default="grafana_ro", help="read-only ClickHouse user")
    u.add_argument("--clickhouse-password", default="", help="its password (or PINGAN_GRAFANA_CH_PASSWORD)")
    u.add_argument("--prometheus-url", default="http://prometheus:9090", help="Prometheus URL for the data source")
    u.add_argument("--no-datasources", action="store_true", help="push dashboards only")
    u.set_defaults(handler=push)

    v = actions.add_parser("preview", help="write a static HTML page rendering the same panels from the same SQL")
    store_options(v)
    v.add_argument("--out", default=DEFAULT_PREVIEW, help=f"output file (default {DEFAULT_PREVIEW})")
    v.add_argument("--metrics", help="a Prometheus metrics snapshot for the 管道健康 panels: a file, or the "
                                     "worker's URL (http://127.0.0.1:6066/metrics)")
    v.set_defaults(handler=preview)


def build(args: argparse.Namespace) -> int:
    from pingan.dashboards.registry import GENERATED_DIR, write_generated

    out = Path(args.out) if args.out else GENERATED_DIR
    for path in write_generated(out):
        print(path)
    return 0


async def _time_range(query, args: argparse.Namespace):
    from pingan.dashboards.check import data_time_range, parse_time
    from pingan.dashboards.macros import TimeRange

    if args.start and args.end:
        return TimeRange(parse_time(args.start), parse_time(args.end))
    found = await data_time_range(query)
    return TimeRange(parse_time(args.start) if args.start else found.start,
                     parse_time(args.end) if args.end else found.end)


def open_store(url: str | None):
    """An unstarted sink for reading (no migrations: a read-only user cannot run them)."""
    from pingan.config import load_settings
    from pingan.sinks import open_sink

    settings = load_settings()
    return open_sink(settings.clickhouse, url=url, migrate_on_start=False)


def check(args: argparse.Namespace) -> int:
    from pingan.dashboards.check import CheckFailed, check as run_check, summarize

    async def main() -> tuple[list[str], int, str]:
        sink = open_store(args.clickhouse)
        await sink.start()
        try:
            time_range = await _time_range(sink.query, args)
            results, problems = await run_check(sink.query, time_range, all_counties=args.all_counties)
        finally:
            await sink.stop()
        lines, failures = summarize(results, problems)
        span = f"{time_range.start.isoformat()} .. {time_range.end.isoformat()}"
        return lines, failures, f"{len(results)} panel queries over {span}"

    lines, failures, what = asyncio.run(main())
    for line in lines:
        if not args.quiet or line.startswith("FAIL"):
            print(line)
    if failures:
        raise CheckFailed(f"{failures} of {what} failed")
    print(f"all {what} returned rows")
    return 0


def push(args: argparse.Namespace) -> int:
    import os

    from pingan.dashboards.push import DatasourceOptions, push_all

    options = DatasourceOptions(
        clickhouse_host=args.clickhouse_host, clickhouse_port=args.clickhouse_port,
        clickhouse_user=args.clickhouse_user,
        clickhouse_password=args.clickhouse_password or os.environ.get("PINGAN_GRAFANA_CH_PASSWORD", ""),
        prometheus_url=args.prometheus_url,
    )
    for line in push_all(args.url, args.token, folder=args.folder,
                         datasources=None if args.no_datasources else options):
        print(line)
    return 0


def _metrics_text(source: str | None) -> str | None:
    if not source:
        return None
    from pingan.errors import UnavailableError

    if source.startswith(("http://", "https://")):
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=10) as response:
                return response.read().decode("utf-8")
        except OSError as exc:
            raise UnavailableError(f"cannot read metrics from {source}: {exc}") from None
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UnavailableError(f"cannot read metrics file {source}: {exc.strerror}") from None


def preview(args: argparse.Namespace) -> int:
    from pingan.dashboards.preview import build_preview

    metrics = _metrics_text(args.metrics)

    async def main() -> Path:
        sink = open_store(args.clickhouse)
        await sink.start()
        try:
            time_range = await _time_range(sink.query, args)
            return await build_preview(sink, Path(args.out), time_range=time_range, metrics_text=metrics)
        finally:
            await sink.stop()

    out = asyncio.run(main())
    print(f"wrote {out} (open it in a browser; no server needed)")
    return 0
