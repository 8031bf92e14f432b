"""`pingan report`: the county statistics of contract/county-report.md (table, JSON or CSV).

Opens the configured ClickHouse; when a running worker holds the embedded chDB directory, the
queries go to that worker's ``POST /query`` (settings.worker.web_port) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from pingan.errors import PinganError

CST = timezone(timedelta(hours=8))
PREFECTURE = ("5323", "楚雄彝族自治州")


class ReportError(PinganError):
    """A bad report argument (period, county)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="county statistics (every figure of the county report)")
    p.add_argument("--from", dest="start", help="period start, inclusive (date or RFC 3339; +08:00 if no offset)")
    p.add_argument("--to", dest="end", help="period end, exclusive (date or RFC 3339; +08:00 if no offset)")
    p.add_argument("--county", help="one county, by code (532301) or Chinese name (楚雄市)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--clickhouse", help="ClickHouse URL (default from settings)")
    p.add_argument("--web-port", type=int, help="worker web port to ask when chDB is in use (default from settings)")
    p.set_defaults(handler=run)


def parse_time(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError(f"--{what} {text!r} is not a date or RFC 3339 time (e.g. 2026-11-29 or "
                          "2026-11-29T08:00:00+08:00)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CST)


def resolve_county(text: str | None) -> str | None:
    if text is None:
        return None
    from pingan.schemas.divisions import load_divisions

    found = load_divisions().find_county(text.strip())
    if found is None:
        raise ReportError(f"unknown county {text!r}: give a code (e.g. 532301) or a name (e.g. 楚雄市)")
    return found.code


def compute(settings: Any, period: Any, *, url: str | None = None, web_port: int | None = None) -> tuple[dict, str]:
    """Run every figure query; returns (results by query name, a description of the source)."""
    from pingan.sinks import open_sink
    from pingan.sinks.chdb import StoreLockedError
    from pingan.sinks.figures import run_figures
    from pingan.sinks.remote import RemoteSink

    sink = open_sink(settings.clickhouse, url=url)
    try:
        asyncio.run(sink.start())
    except StoreLockedError as locked:
        port = web_port or settings.worker.web_port
        remote = RemoteSink("127.0.0.1", port)
        try:
            return run_figures(remote.query_sync, period), remote.describe()
        except PinganError as exc:
            raise PinganError(f"{locked}; asking the worker failed too: {exc}") from None
    try:
        return run_figures(sink.query_sync, period), sink.describe()
    finally:
        asyncio.run(sink.stop())


def run(args: argparse.Namespace) -> int:
    from pingan.config import load_settings
    from pingan.schemas.alert import iso_cst
    from pingan.sinks.figures import Period, assemble

    start = parse_time(args.start, "from")
    end = parse_time(args.end, "to")
    if start and end and start >= end:
        raise ReportError("--from must be before --to")
    county = resolve_county(args.county)
    settings = load_settings()
    period = Period(start.timestamp() if start else None, end.timestamp() if end else None)
    results, source = compute(settings, period, url=args.clickhouse, web_port=args.web_port)
    text = (iso_cst(period.start) if start else None, iso_cst(period.end) if end else None)
    report = assemble(results, period_text=text, county=county)
    out = sys.stdout
    if args.format == "json":
        import json

        out.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    elif args.format == "csv":
        write_csv(report, out)
    else:
        out.write(render_table(report, source) + "\n")
    return 0


def _rows(report: dict) -> list[tuple[str, str, dict]]:
    rows = [(c["county_code"], c["county_name"], c) for c in report["counties"]]
    rows.append((PREFECTURE[0], PREFECTURE[1], report["prefecture"]))
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
    return str(value)


def write_csv(report: dict, out: Any) -> None:
    import csv

    from pingan.sinks.figures import PREFECTURE_FIGURES

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["county_code", "county_name", *PREFECTURE_FIGURES])
    for code, name, figures in _rows(report):
        writer.writerow([code, name, *("" if figures.get(f) is None else figures[f] for f in PREFECTURE_FIGURES)])


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def render_table(report: dict, source: str) -> str:
    """Figures as rows, counties (and the prefecture) as columns."""
    from pingan.sinks.figures import PREFECTURE_FIGURES

    rows = _rows(report)
    header = ["figure", *(name for _, name, _ in rows)]
    body = [[f, *(("—" if f not in figs else (_cell(figs[f]) or "null")) for _, _, figs in rows)]
            for f in PREFECTURE_FIGURES]
    widths = [max(_width(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [f"period: {report['from'] or '-∞'} .. {report['to'] or '+∞'}   source: {source}"]
    for i, r in enumerate([header, *body]):
        lines.append("  ".join(_pad(cell, widths[j], right=j > 0) for j, cell in enumerate(r)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
