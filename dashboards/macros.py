"""Expand a panel's SQL the way Grafana and the ClickHouse plugin do, for a fixed time range.

Grafana's frontend first replaces template variables (``$county``, ``${township}``) and its global
variables (``$__interval``, ``$__from`` ...); the plugin's backend then expands its macros
(pkg/macros/macros.go of grafana-clickhouse-datasource):

| macro | expands to |
|---|---|
| ``$__fromTime`` / ``$__toTime`` | ``toDateTime(<epoch s>)`` |
| ``$__fromTime_ms`` / ``$__toTime_ms`` | ``fromUnixTimestamp64Milli(<epoch ms>)`` |
| ``$__timeFilter(c)`` | ``c >= toDateTime(from) AND c <= toDateTime(to)`` |
| ``$__timeFilter_ms(c)`` | the same with millisecond bounds |
| ``$__dateFilter(c)`` | ``c >= toDate('YYYY-MM-DD') AND c <= toDate(...)`` |
| ``$__dateTimeFilter(d, t)`` / ``$__dt(d, t)`` | both filters, on a date and a time column |
| ``$__timeInterval(c)`` | ``toStartOfInterval(toDateTime(c), INTERVAL <n> second)`` |
| ``$__timeInterval_ms(c)`` | ``toStartOfInterval(toDateTime64(c, 3), INTERVAL <n> millisecond)`` |
| ``$__interval_s`` | ``<n>`` (seconds of the query interval, at least 1) |

The query interval is Grafana's: (to - from) / max data points, rounded to a "nice" step, and never
below the panel's minimum interval. Anything left unexpanded is an error: a typo in a macro must
fail `pingan dashboards check`, not reach a command centre.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from pingan.errors import PinganError

DEFAULT_MAX_DATA_POINTS = 1000

# Grafana's rangeutil.roundInterval: (upper bound in ms, rounded interval in ms).
_ROUND_STEPS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000), (3_500, 2_000),
    (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000), (45_000, 30_000),
    (90_000, 60_000), (210_000, 120_000), (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000),
    (1_500_000, 1_200_000), (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000),
    (16_200_000, 10_800_000), (32_400_000, 21_600_000), (86_400_000, 43_200_000),
    (604_800_000, 86_400_000), (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)
_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_DURATION = re.compile(r"^\s*>?\s*(\d+)\s*(ms|s|m|h|d|w|y)\s*$")
_MACRO = re.compile(r"\$__(\w+)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")


class MacroError(PinganError):
    """A panel's SQL uses a macro or variable that cannot be expanded."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time picker: two aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise MacroError("a time range needs an offset (e.g. 2026-11-29T00:00:00+08:00)")
        if self.end <= self.start:
            raise MacroError(f"the time range is empty: {self.start.isoformat()} .. {self.end.isoformat()}")

    @property
    def from_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def to_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


def parse_duration_ms(text: str) -> int:
    """``"1h"`` -> 3600000 (Grafana's min-interval syntax, with an optional leading ``>``)."""
    match = _DURATION.match(text)
    if not match:
        raise MacroError(f"not a Grafana interval: {text!r} (expected e.g. 30s, 5m, 1h, 1d)")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def round_interval_ms(raw_ms: float) -> int:
    for bound, step in _ROUND_STEPS:
        if raw_ms < bound:
            return step
    return 31_536_000_000


def interval_ms(time_range: TimeRange, max_data_points: int | None = None, min_interval: str | None = None) -> int:
    """Grafana's query interval for a panel."""
    points = max_data_points or DEFAULT_MAX_DATA_POINTS
    value = round_interval_ms((time_range.to_ms - time_range.from_ms) / points)
    if min_interval:
        value = max(value, parse_duration_ms(min_interval))
    return value


def _format_interval(ms: int) -> str:
    for unit in ("y", "w", "d", "h", "m", "s"):
        size = _UNITS_MS[unit]
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _split_args(text: str) -> list[str]:
    args, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            continue
        depth += char == "("
        depth -= char == ")"
        current.append(char)
    args.append("".join(current).strip())
    return [a for a in args if a]


def _to_datetime(ms: int) -> str:
    return f"toDateTime({ms // 1000})"


def _to_datetime64(ms: int) -> str:
    return f"fromUnixTimestamp64Milli({ms})"


def _to_date(ms: int) -> str:
    return "toDate('" + datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d") + "')"


def _expand_macro(name: str, args: list[str] | None, time_range: TimeRange, step_ms: int) -> str:
    f, t = time_range.from_ms, time_range.to_ms

    def need(count: int) -> list[str]:
        if args is None or len(args) != count:
            raise MacroError(f"$__{name} expects {count} argument(s), got {0 if args is None else len(args)}")
        return args

    if name == "fromTime":
        return _to_datetime(f)
    if name == "toTime":
        return _to_datetime(t)
    if name == "fromTime_ms":
        return _to_datetime64(f)
    if name == "toTime_ms":
        return _to_datetime64(t)
    if name == "timeFilter":
        (col,) = need(1)
        return f"{col} >= {_to_datetime(f)} AND {col} <= {_to_datetime(t)}"
    if name == "timeFilter_ms":
        (col,) = need(1)
        return f"{col} >= {_to_datetime64(f)} AND {col} <= {_to_datetime64(t)}"
    if name == "dateFilter":
        (col,) = need(1)
        return f"{col} >= {_to_date(f)} AND {col} <= {_to_date(t)}"
    if name in ("dateTimeFilter", "dt"):
        date_col, time_col = need(2)
        return (f"({date_col} >= {_to_date(f)} AND {date_col} <= {_to_date(t)}) AND "
                f"({time_col} >= {_to_datetime(f)} AND {time_col} <= {_to_datetime(t)})")
    if name == "timeInterval":
        (col,) = need(1)
        return f"toStartOfInterval(toDateTime({col}), INTERVAL {max(step_ms // 1000, 1)} second)"
    if name == "timeInterval_ms":
        (col,) = need(1)
        return f"toStartOfInterval(toDateTime64({col}, 3), INTERVAL {max(step_ms, 1)} millisecond)"
    if name == "interval_s":
        return str(max(step_ms // 1000, 1))
    raise MacroError(f"unknown macro $__{name}")


def expand_macros(sql: str, time_range: TimeRange, step_ms: int) -> str:
    """The plugin backend's step: ``$__name`` and ``$__name(args)``."""
    out: list[str] = []
    pos = 0
    for match in _MACRO.finditer(sql):
        if match.start() < pos:
            continue  # inside the arguments of a macro already expanded
        out.append(sql[pos:match.start()])
        name, end, args = match.group(1), match.end(), None
        if end < len(sql) and sql[end] == "(":
            depth, i = 0, end
            while i < len(sql):
                depth += sql[i] == "("
                depth -= sql[i] == ")"
                if depth == 0:
                    break
                i += 1
            if depth:
                raise MacroError(f"unbalanced parentheses after $__{name}")
            # Nested macros ($__timeInterval($__fromTime)) expand inside out, as in the plugin.
            args = [expand_macros(arg, time_range, step_ms) for arg in _split_args(sql[end + 1:i])]
            end = i + 1
        out.append(_expand_macro(name, args, time_range, step_ms))
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def expand_variables(sql: str, variables: Mapping[str, str], time_range: TimeRange, step_ms: int) -> str:
    """Grafana's frontend step: template variables and the global ``$__interval`` family."""
    values = {
        "__interval": _format_interval(step_ms),
        "__interval_ms": str(step_ms),
        "__from": str(time_range.from_ms),
        "__to": str(time_range.to_ms),
        "__range_s": str((time_range.to_ms - time_range.from_ms) // 1000),
        "__range_ms": str(time_range.to_ms - time_range.from_ms),
        "__range": _format_interval(time_range.to_ms - time_range.from_ms),
        **variables,
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        if name in values:
            return values[name]
        if name.startswith("__"):
            return match.group(0)  # a plugin macro: the backend's step
        raise MacroError(f"unknown dashboard variable ${name}")

    return _VARIABLE.sub(replace, sql)


def expand(sql: str, time_range: TimeRange, variables: Mapping[str, str] | None = None, *,
           max_data_points: int | None = None, min_interval: str | None = None) -> str:
    """The SQL that the ClickHouse server would receive from Grafana for this panel."""
    step = interval_ms(time_range, max_data_points, min_interval)
    text = expand_variables(sql, variables or {}, time_range, step)
    text = expand_macros(text, time_range, step)
    leftover = re.search(r"\$\{?\w+", text)
    if leftover:
        raise MacroError(f"left unexpanded: {leftover.group(0)}")
    return text
