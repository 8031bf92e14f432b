"""`pingan dashboards preview`: one static HTML file rendering the dashboards' panels.

No Grafana can run where the demo runs, so the preview runs the very SQL of every ClickHouse panel
(taken from the built dashboard JSON, expanded with :mod:`pingan.dashboards.macros` for the time
range) and embeds the rows as JSON in a page that draws them with Apache ECharts (vendored in
dashboards/vendor, inlined: the page opens from disk, without a server or a network). The county
drill-down is computed for every county (a selector switches between them). Prometheus panels show
their PromQL and, when a metrics snapshot is given (the worker's /metrics text), its current values.

Call it at the end of the demo with the open sink::

    from pingan.dashboards.preview import build_preview
    await build_preview(sink, Path("var/demo/preview/index.html"))
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from pingan.dashboards import macros
from pingan.dashboards.check import Query, data_time_range, default_variables, run_sql, variable_options
from pingan.dashboards.registry import PanelInfo, build_all, iter_panels
from pingan.dashboards.sql import ALL

CST = timezone(timedelta(hours=8))
COUNTY_DASHBOARD = "pingan-county"


def _asset(name: str) -> str:
    return resources.files("pingan.dashboards").joinpath(name).read_text(encoding="utf-8")


def _query_of(source: Any) -> Query:
    """A sink (``await sink.query(sql)``) or an async callable ``query(sql) -> rows``."""
    query = getattr(source, "query", None)
    return query if callable(query) else source


def _panel_meta(panel: PanelInfo) -> dict[str, Any]:
    """What the page needs to draw a panel like Grafana: type, size, units, colours, renames."""
    j = panel.json
    defaults = (j.get("fieldConfig") or {}).get("defaults") or {}
    overrides: dict[str, dict[str, Any]] = {}
    for override in (j.get("fieldConfig") or {}).get("overrides") or []:
        name = (override.get("matcher") or {}).get("options")
        props = overrides.setdefault(str(name), {})
        for prop in override.get("properties") or []:
            props[prop["id"]] = prop.get("value")
    rename: dict[str, str] = {}
    for transform in j.get("transformations") or []:
        if transform.get("id") == "organize":
            rename.update((transform.get("options") or {}).get("renameByName") or {})
    options = j.get("options") or {}
    return {
        "id": panel.panel_id,
        "title": panel.title,
        "type": panel.type,
        "description": j.get("description"),
        "gridPos": j.get("gridPos"),
        "unit": defaults.get("unit"),
        "decimals": defaults.get("decimals"),
        "thresholds": (defaults.get("thresholds") or {}).get("steps"),
        "custom": defaults.get("custom") or {},
        "overrides": overrides,
        "rename": rename,
        "perRow": bool((options.get("reduceOptions") or {}).get("values")),
        "datasource": panel.datasource,
    }


def _to_epoch_ms(value: Any) -> Any:
    """``'2026-11-29 08:00:00'`` (UTC, as the queries run with session_timezone UTC) -> epoch ms."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)
    return value


def _rows(rows: list[dict[str, Any]], shape: str) -> dict[str, Any]:
    columns = list(rows[0].keys()) if rows else []
    data = [[row.get(c) for c in columns] for row in rows]
    if shape == "timeseries" and "time" in columns:
        index = columns.index("time")
        for item in data:
            item[index] = _to_epoch_ms(item[index])
    return {"columns": columns, "rows": data}


async def _run(query: Query, panel: PanelInfo, time_range: macros.TimeRange, variables: dict[str, str]) -> dict:
    try:
        sql = macros.expand(panel.sql, time_range, variables, max_data_points=panel.max_data_points,
                            min_interval=panel.interval)
        rows = await run_sql(query, sql)
    except Exception as exc:  # noqa: BLE001 - shown on the panel, as Grafana would
        return {"error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}
    return _rows(rows, panel.shape)


def parse_metrics(text: str) -> dict[str, list[dict[str, Any]]]:
    """Prometheus exposition text -> metric sample name -> [{labels..., value}]."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[dict[str, Any]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append({**sample.labels, "value": sample.value})
    return out


async def collect(source: Any, *, time_range: macros.TimeRange | None = None,
                  metrics_text: str | None = None) -> dict[str, Any]:
    """Run every panel (every county for the drill-down) and return the page's data."""
    query = _query_of(source)
    time_range = time_range or await data_time_range(query)
    dashboards = build_all()
    metrics = parse_metrics(metrics_text) if metrics_text else None
    page: dict[str, Any] = {
        "from": time_range.start.astimezone(CST).isoformat(timespec="minutes"),
        "to": time_range.end.astimezone(CST).isoformat(timespec="minutes"),
        "generated": datetime.now(CST).isoformat(timespec="seconds"),
        "dashboards": [],
    }
    for uid, data in dashboards.items():
        defaults = default_variables(data)
        variants: list[tuple[str, str, dict[str, str]]] = [("default", "", defaults)]
        if uid == COUNTY_DASHBOARD:
            county_sql = next(v["query"] for v in data["templating"]["list"] if v["name"] == "county")
            options = await variable_options(query, county_sql, time_range, defaults)
            variants = [(code, name, defaults | {"county": code, "township": ALL}) for code, name in options]
        board: dict[str, Any] = {"uid": uid, "title": data["title"], "description": data.get("description"),
                                 "variants": [{"key": k, "label": label} for k, label, _ in variants],
                                 "rows": [], "panels": []}
        for item in data.get("panels", []):
            if item.get("type") == "row":
                board["panels"].append({"type": "row", "title": item["title"], "gridPos": item.get("gridPos")})
        for panel in iter_panels({uid: data}):
            meta = _panel_meta(panel)
            if panel.is_clickhouse:
                meta["sql"] = panel.sql
                meta["data"] = {key: await _run(query, panel, time_range, variables) for key, _l, variables in variants}
            else:
                meta["promql"] = [{"expr": t.get("expr"), "legend": t.get("legendFormat")} for t in panel.targets]
                meta["metrics"] = _metric_values(panel, metrics) if metrics is not None else None
            board["panels"].append(meta)
        board["panels"].sort(key=lambda p: ((p.get("gridPos") or {}).get("y", 0), (p.get("gridPos") or {}).get("x", 0)))
        page["dashboards"].append(board)
    return page


def _metric_values(panel: PanelInfo, metrics: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A snapshot of what a Prometheus panel reads: counter totals and gauges by the legend's labels,
    histograms as their mean (sum / count). A snapshot has no rates: the page says so."""
    series: dict[str, float] = {}
    for target in panel.targets:
        expr = target.get("expr") or ""
        labels = re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat") or "")

        def key(sample: dict[str, Any], prefix: str = "") -> str:
            text = " ".join(str(sample.get(k, "")) for k in labels if k != "le").strip()
            return (prefix + " " + text).strip() or prefix or "合计"

        for name in dict.fromkeys(re.findall(r"\b(pingan_\w+)", expr)):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if f"{base}_count" in metrics:
                sums: dict[str, float] = {}
                counts: dict[str, float] = {}
                for sample in metrics.get(f"{base}_sum", []):
                    sums[key(sample, "平均")] = sums.get(key(sample, "平均"), 0.0) + float(sample["value"])
                for sample in metrics[f"{base}_count"]:
                    counts[key(sample, "平均")] = counts.get(key(sample, "平均"), 0.0) + float(sample["value"])
                for k, count in counts.items():
                    series[k] = sums.get(k, 0.0) / count if count else 0.0
            else:
                totals: dict[str, float] = {}
                for sample in metrics.get(name, []):
                    totals[key(sample)] = totals.get(key(sample), 0.0) + float(sample["value"])
                series.update(totals)
    return {"columns": ["series", "value"], "rows": [[k, v] for k, v in sorted(series.items())]}


def render_html(page: dict[str, Any]) -> str:
    """The page: template with its CSS, ECharts, the renderer and the data inlined (one pass, so
    nothing inserted is ever taken for a placeholder)."""
    data = json.dumps(page, ensure_ascii=False, separators=(",", ":"), default=str).replace("</", "<\\/")
    parts = {
        "/*STYLE*/": _asset("preview_assets/preview.css"),
        "/*ECHARTS*/": _asset("vendor/echarts.min.js").replace("</script", "<\\/script"),
        "/*PREVIEW*/": _asset("preview_assets/preview.js"),
        "/*DATA*/": data,
        "<!--RANGE-->": html.escape(f"{page['from']} — {page['to']}"),
    }
    pattern = re.compile("|".join(re.escape(k) for k in parts))
    return pattern.sub(lambda m: parts[m.group(0)], _asset("preview_assets/index.html"))


async def build_preview(source: Any, out_path: Path | str, *, time_range: macros.TimeRange | None = None,
                        metrics_text: str | None = None) -> Path:
    """Write the preview page for the data in ``source`` (a started sink, or ``async query(sql)``)."""
    page = await collect(source, time_range=time_range, metrics_text=metrics_text)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(page), encoding="utf-8")
    return out
