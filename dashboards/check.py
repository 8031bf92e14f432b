"""`pingan dashboards check`: run every ClickHouse panel's SQL as Grafana would send it.

For each dashboard, the variables take their default values (the county variable its ``current``
value, "all" where the variable includes it), and the county drill-down is also run for one
township so the township filter is exercised. Every panel must run without error and return rows;
a panel whose numbers are all zero or null is reported as a warning ("no data in the range").
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pingan.dashboards import macros
from pingan.dashboards.registry import PanelInfo, build_all, iter_panels, variable_queries
from pingan.dashboards.sql import ALL
from pingan.errors import PinganError

Query = Callable[[str], Awaitable[list[dict[str, Any]]]]

#: Appended to every expanded query: numbers as JSON numbers (64-bit integers and decimals are
#: quoted by default in JSON formats), so check and preview see numbers as Grafana does; times in
#: UTC whatever the server's time zone (the page shows them in +08:00).
JSON_SETTINGS = (" SETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_quote_decimals = 0,"
                 " session_timezone = 'UTC'")

DATA_RANGE_SQL = """
SELECT toUnixTimestamp(min(ts)) AS first, toUnixTimestamp(max(ts)) AS last FROM
(
    SELECT ts FROM v_camera_events UNION ALL SELECT ts FROM v_grid_events
    UNION ALL SELECT ts FROM v_fraud_events UNION ALL SELECT ts FROM v_service_events
)
"""


class CheckFailed(PinganError):
    """At least one panel failed."""


@dataclass
class PanelResult:
    panel: PanelInfo
    variables: dict[str, str]
    sql: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.rows)

    @property
    def has_data(self) -> bool:
        """A number in the result is non-zero, or (a table of text) there are rows: time series
        filled with zeros or a county list with nothing but zeros do not count."""
        numbers = False
        for row in self.rows:
            for key, value in row.items():
                if key == "time" or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                numbers = True
                if value:
                    return True
        return bool(self.rows) and not numbers

    def describe(self) -> str:
        where = f"{self.panel.dashboard_title} #{self.panel.panel_id} {self.panel.title}"
        if self.variables:
            where += " [" + ", ".join(f"{k}={v}" for k, v in self.variables.items()) + "]"
        if self.error:
            return f"FAIL  {where}: {self.error}"
        if not self.rows:
            return f"FAIL  {where}: no rows"
        flag = "ok  " if self.has_data else "warn"
        note = "" if self.has_data else " (all zero: no data in the range)"
        return f"{flag}  {where}: {len(self.rows)} rows, {self.seconds * 1000:.0f} ms{note}"


def parse_time(text: str) -> datetime:
    """ISO 8601 (a date alone is midnight +08:00; no offset means +08:00) or epoch seconds."""
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), timezone.utc)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PinganError(f"not a time: {text!r} (use e.g. 2026-11-29T08:00:00+08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(timedelta(hours=8)))
    return moment


async def data_time_range(query: Query) -> macros.TimeRange:
    """Whole hours around the stored events (the range the demo's data covers)."""
    try:
        rows = await query(DATA_RANGE_SQL + JSON_SETTINGS)
    except PinganError:
        raise
    except Exception as exc:  # noqa: BLE001 - the backend's own error type
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PinganError(f"cannot read the stored events ({first}); is the schema migrated "
                          "(`pingan db migrate`) and is this the demo's ClickHouse?") from None
    first, last = (rows[0].get("first"), rows[0].get("last")) if rows else (None, None)
    if not first or not last:
        raise PinganError("ClickHouse holds no events: run the demo (or give --from and --to)")
    start = datetime.fromtimestamp(int(first) // 3600 * 3600, timezone.utc)
    end = datetime.fromtimestamp((int(last) // 3600 + 1) * 3600, timezone.utc)
    return macros.TimeRange(start, end)


def default_variables(dashboard: dict[str, Any]) -> dict[str, str]:
    """The values Grafana starts with: ``current``, or the ``allValue`` when "All" is current."""
    out = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        current = variable.get("current") or {}
        value = current.get("value")
        if value in ("$__all", None) and variable.get("includeAll"):
            value = variable.get("allValue") or ALL
        out[variable["name"]] = str(value if value is not None else "")
    return out


async def run_sql(query: Query, sql: str) -> list[dict[str, Any]]:
    return await query(sql + JSON_SETTINGS)


async def run_panel(query: Query, panel: PanelInfo, time_range: macros.TimeRange,
                    variables: dict[str, str]) -> PanelResult:
    result = PanelResult(panel, dict(variables))
    started = time.perf_counter()
    try:
        result.sql = macros.expand(panel.sql, time_range, variables, max_data_points=panel.max_data_points,
                                   min_interval=panel.interval)
        result.rows = await run_sql(query, result.sql)
    except Exception as exc:  # noqa: BLE001 - any failure of a panel is reported, not raised
        result.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    result.seconds = time.perf_counter() - started
    return result


async def variable_options(query: Query, sql: str, time_range: macros.TimeRange,
                           variables: dict[str, str]) -> list[tuple[str, str]]:
    """(value, text) pairs of a query variable: the plugin takes the first column as the value."""
    rows = await run_sql(query, macros.expand(sql, time_range, variables))
    options = []
    for row in rows:
        values = list(row.values())
        options.append((str(values[0]), str(values[1] if len(values) > 1 else values[0])))
    return options


async def variable_sets(query: Query, dashboard: dict[str, Any], time_range: macros.TimeRange) -> list[dict[str, str]]:
    """The variable values to check a dashboard with: its defaults, and one township if it has one."""
    defaults = default_variables(dashboard)
    sets = [defaults]
    names = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    if "township" in names:
        options = await variable_options(query, names["township"]["query"], time_range, defaults)
        if options:
            sets.append(defaults | {"township": options[0][0]})
    return sets


async def check(query: Query, time_range: macros.TimeRange, *, all_counties: bool = False,
                dashboards: dict[str, dict[str, Any]] | None = None) -> tuple[list[PanelResult], list[str]]:
    """Run every ClickHouse panel; returns (panel results, problems with variable queries)."""
    dashboards = dashboards or build_all()
    problems: list[str] = []
    for uid, name, sql in variable_queries(dashboards):
        try:
            options = await variable_options(query, sql, time_range, default_variables(dashboards[uid]))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"FAIL  {dashboards[uid]['title']} variable ${name}: {str(exc).splitlines()[0]}")
            continue
        if not options:
            problems.append(f"FAIL  {dashboards[uid]['title']} variable ${name}: no values")
    results: list[PanelResult] = []
    for uid, data in dashboards.items():
        sets = await variable_sets(query, data, time_range)
        if all_counties and "county" in default_variables(data):
            county_sql = next(v["query"] for v in data["templating"]["list"] if v["name"] == "county")
            for value, _text in await variable_options(query, county_sql, time_range, sets[0]):
                if value != sets[0]["county"]:
                    sets.append(sets[0] | {"county": value})
        for variables in sets:
            for panel in iter_panels({uid: data}):
                if panel.is_clickhouse:
                    results.append(await run_panel(query, panel, time_range, variables))
    return results, problems


def summarize(results: Iterable[PanelResult], problems: Iterable[str]) -> tuple[list[str], int]:
    """Printable lines and the number of failures."""
    lines = list(problems)
    failures = len(lines)
    for result in results:
        lines.append(result.describe())
        failures += not result.ok
    return lines, failures
