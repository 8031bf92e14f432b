"""Panel helpers: the few panel shapes the command-centre dashboards use, built with the SDK.

Conventions the preview relies on (:mod:`pingan.dashboards.preview` renders from the built JSON):
- time series SQL returns ``time`` first, then either one string column (the series) and one number
  (long format, turned wide by the plugin's time-series format) or several number columns;
- stat / bar gauge / pie SQL returns label columns (strings) and number columns; a stat with
  ``per_row`` shows one tile per row, titled by its string column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grafana_foundation_sdk.builders import bargauge, piechart, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from pingan.dashboards.query import CLICKHOUSE, PROMETHEUS, ClickHouseQueryBuilder

#: Threshold steps: (lower bound or None for the base, colour).
Steps = Sequence[tuple[float | None, str]]

GREEN_BASE: Steps = ((None, "green"),)


def thresholds(steps: Steps) -> db.ThresholdsConfig:
    return (db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=value, color=color) for value, color in steps]))


def _unit_override(panel, fields: Mapping[str, str]):
    for name, unit in fields.items():
        panel.override_by_name(name, [dm.DynamicConfigValue(id_val="unit", value=unit)])
    return panel


def ch_table(title: str, sql: str, *, w: int = 24, h: int = 9, description: str | None = None,
             rename: Mapping[str, str] | None = None, units: Mapping[str, str] | None = None,
             color_fields: Mapping[str, Steps] | None = None) -> table.Panel:
    """A table; ``rename`` maps SQL column names to Chinese headers (Grafana's organize transform)."""
    panel = (table.Panel().title(title).datasource(CLICKHOUSE).span(w).height(h)
             .with_target(ClickHouseQueryBuilder(sql).shape("table"))
             .cell_height(cm.TableCellHeight.SM).show_header(True))
    if description:
        panel.description(description)
    if rename:
        panel.with_transformation(dm.DataTransformerConfig(
            id_val="organize", options={"renameByName": dict(rename), "excludeByName": {}, "indexByName": {}}))
    display = dict(rename or {})
    if units:
        _unit_override(panel, {display.get(k, k): v for k, v in units.items()})
    for name, steps in (color_fields or {}).items():
        panel.override_by_name(display.get(name, name), [
            dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"}),
            dm.DynamicConfigValue(id_val="thresholds", value=thresholds(steps).build()),
        ])
    return panel


def ch_timeseries(title: str, sql: str, *, w: int = 12, h: int = 8, unit: str | None = None,
                  min_interval: str = "1h", bars: bool = False, stacked: bool = False,
                  right_axis: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None,
                  description: str | None = None) -> timeseries.Panel:
    """A time series from ClickHouse; ``right_axis`` maps series names to the unit of a right axis."""
    panel = (timeseries.Panel().title(title).datasource(CLICKHOUSE).span(w).height(h)
             .with_target(ClickHouseQueryBuilder(sql).shape("timeseries"))
             .interval(min_interval)
             .legend(cb.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.LIST)
                     .placement(cm.LegendPlacement.BOTTOM))
             .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
             .fill_opacity(20 if not bars else 80).line_width(2).span_nulls(True))
    if bars:
        panel.draw_style(cm.GraphDrawStyle.BARS)
    if stacked:
        panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL).group("A"))
    if unit:
        panel.unit(unit)
    if description:
        panel.description(description)
    for name, axis_unit in (right_axis or {}).items():
        panel.override_by_name(name, [
            dm.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
            dm.DynamicConfigValue(id_val="unit", value=axis_unit),
            dm.DynamicConfigValue(id_val="custom.drawStyle", value="line"),
            dm.DynamicConfigValue(id_val="custom.stacking", value={"mode": "none", "group": "B"}),
        ])
    for name, color in (colors or {}).items():
        panel.override_by_name(name, [
            dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})])
    return panel


def ch_stat(title: str, sql: str, *, w: int = 6, h: int = 5, unit: str | None = None,
            per_row: bool = False, steps: Steps = GREEN_BASE, decimals: int | None = None,
            units: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None,
            description: str | None = None) -> stat.Panel:
    """Big numbers: each number column of the first row, or (``per_row``) one tile per row;
    ``colors`` fixes a field's colour by its name."""
    panel = (stat.Panel().title(title).datasource(CLICKHOUSE).span(w).height(h)
             .with_target(ClickHouseQueryBuilder(sql).shape("table"))
             .reduce_options(cb.ReduceDataOptions().values(per_row).calcs(["lastNotNull"]).fields(""))
             .graph_mode(cm.BigValueGraphMode.NONE)
             .color_mode(cm.BigValueColorMode.BACKGROUND if per_row else cm.BigValueColorMode.VALUE)
             .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
             .justify_mode(cm.BigValueJustifyMode.CENTER)
             .thresholds(thresholds(steps)))
    if unit:
        panel.unit(unit)
    if decimals is not None:
        panel.decimals(decimals)
    if units:
        _unit_override(panel, units)
    for name, color in (colors or {}).items():
        panel.override_by_name(name, [
            dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})])
    if description:
        panel.description(description)
    return panel


def ch_bargauge(title: str, sql: str, *, w: int = 12, h: int = 8, unit: str | None = None,
                steps: Steps = GREEN_BASE, description: str | None = None) -> bargauge.Panel:
    """Horizontal bars, one per row (label column + number column)."""
    panel = (bargauge.Panel().title(title).datasource(CLICKHOUSE).span(w).height(h)
             .with_target(ClickHouseQueryBuilder(sql).shape("table"))
             .reduce_options(cb.ReduceDataOptions().values(True).calcs(["lastNotNull"]).fields(""))
             .orientation(cm.VizOrientation.HORIZONTAL)
             .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
             .show_unfilled(True)
             .thresholds(thresholds(steps)))
    if unit:
        panel.unit(unit)
    if description:
        panel.description(description)
    return panel


def ch_pie(title: str, sql: str, *, w: int = 8, h: int = 8, colors: Mapping[str, str] | None = None,
           description: str | None = None) -> piechart.Panel:
    """A donut, one slice per row; ``colors`` fixes a slice's colour by its label."""
    panel = (piechart.Panel().title(title).datasource(CLICKHOUSE).span(w).height(h)
             .with_target(ClickHouseQueryBuilder(sql).shape("table"))
             .reduce_options(cb.ReduceDataOptions().values(True).calcs(["lastNotNull"]).fields(""))
             .pie_type("donut")
             .display_labels(["name", "value"])
             .legend(piechart.PieChartLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.LIST)
                     .placement(cm.LegendPlacement.RIGHT).values(["value", "percent"])))
    for name, color in (colors or {}).items():
        panel.override_by_name(name, [
            dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})])
    if description:
        panel.description(description)
    return panel


def prom_timeseries(title: str, exprs: Sequence[tuple[str, str]], *, w: int = 12, h: int = 8,
                    unit: str | None = None, description: str | None = None) -> timeseries.Panel:
    """A Prometheus time series; ``exprs`` are (PromQL, legend format) pairs."""
    panel = (timeseries.Panel().title(title).datasource(PROMETHEUS).span(w).height(h)
             .legend(cb.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.LIST)
                     .placement(cm.LegendPlacement.BOTTOM))
             .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
             .fill_opacity(10).line_width(2))
    for index, (expr, legend) in enumerate(exprs):
        panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend)
                          .range().ref_id(chr(ord("A") + index)).datasource(PROMETHEUS))
    if unit:
        panel.unit(unit)
    if description:
        panel.description(description)
    return panel


def prom_stat(title: str, expr: str, legend: str, *, w: int = 6, h: int = 5, unit: str | None = None,
              description: str | None = None) -> stat.Panel:
    panel = (stat.Panel().title(title).datasource(PROMETHEUS).span(w).height(h)
             .with_target(prometheus.Dataquery().expr(expr).legend_format(legend).instant().ref_id("A")
                          .datasource(PROMETHEUS))
             .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(""))
             .graph_mode(cm.BigValueGraphMode.NONE).text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
             .thresholds(thresholds(GREEN_BASE)))
    if unit:
        panel.unit(unit)
    if description:
        panel.description(description)
    return panel


def row(title: str) -> db.Row:
    return db.Row(title)
