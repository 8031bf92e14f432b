"""全州总览: the prefecture overview for the prefecture command centre."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from pingan.dashboards import sql
from pingan.dashboards.panels import ch_bargauge, ch_stat, ch_table, ch_timeseries, row

UID = "pingan-overview"
TITLE = "全州总览"

TOTALS_SQL = f"""
SELECT
    (SELECT uniqExact(event_id) FROM v_camera_events WHERE {sql.PERIOD}) AS `摄像头事件`,
    (SELECT uniqExact(report_id) FROM v_grid_events WHERE status = 'reported' AND {sql.PERIOD}) AS `网格上报`,
    (SELECT uniqExact(case_id) FROM v_fraud_events WHERE status = 'reported' AND {sql.PERIOD}) AS `诈骗案件`,
    (SELECT uniqExact(record_id) FROM v_service_events WHERE status = 'completed' AND {sql.PERIOD}) AS `政务办结`,
    (SELECT uniqExact(alert_id) FROM v_alerts WHERE {sql.PERIOD}) AS `预警`,
    (SELECT uniqExact(alert_id) FROM v_alerts WHERE severity IN ('high', 'critical') AND {sql.PERIOD}) AS `高危预警`
"""

# The county grid: one tile per county, coloured by the share of high-risk (red) households among
# the households assessed (latest assessment before the end of the period).
RISK_GRID_SQL = f"""
SELECT d.name AS `县市`,
       if(sum(r.households) = 0, 0, round(sumIf(r.households, r.risk_level = 'high') / sum(r.households), 4))
           AS `高风险户占比`
FROM (SELECT code, name FROM divisions FINAL WHERE level = 'county') AS d
LEFT JOIN ({sql.RISK_HOUSEHOLDS}
) AS r ON r.county_code = d.code
GROUP BY d.code, d.name
ORDER BY d.code
"""
RISK_STEPS = ((None, "green"), (0.05, "yellow"), (0.10, "red"))

SEVERITY_TREND_SQL = f"""
SELECT $__timeInterval(hour) AS time,
       {" ,".join(f"uniqExactMergeIf(alerts, severity = '{s}') AS `{sql.SEVERITY_LABELS[s]}`"
                  for s in reversed(sql.SEVERITIES))}
FROM agg_alerts_hourly
WHERE $__timeFilter(hour)
GROUP BY time
ORDER BY time WITH FILL FROM $__timeInterval($__fromTime) TO $__toTime STEP $__interval_s
"""

TOP_RULES_SQL = """
SELECT rule_id AS `规则`, uniqExactMerge(alerts) AS `预警数`
FROM agg_alerts_hourly
WHERE $__timeFilter(hour)
GROUP BY rule_id
ORDER BY `预警数` DESC, rule_id
LIMIT 15
"""

ALERTS_BY_COUNTY_SQL = """
SELECT d.name AS `县市`, uniqExactMerge(a.alerts) AS `预警数`
FROM (SELECT code, name FROM divisions FINAL WHERE level = 'county') AS d
LEFT JOIN (SELECT county_code, alerts FROM agg_alerts_hourly WHERE $__timeFilter(hour)) AS a
    ON a.county_code = d.code
GROUP BY d.code, d.name
ORDER BY d.code
"""


def build() -> db.Dashboard:
    figures = {k: v for k, v in sql.FIGURE_LABELS.items()}
    units = {name: "percentunit" for name in sql.RATE_FIGURES} | {"fraud_loss_yuan": "currencyCNY"}
    return (
        db.Dashboard(TITLE).uid(UID).tags(["pingan", "平安楚雄"]).timezone("Asia/Shanghai")
        .description("楚雄州综治中心：各县市指标、风险网格、预警态势")
        .time("now-7d", "now").refresh("1m").readonly()
        .with_row(row("全州态势"))
        .with_panel(ch_stat("全州合计", TOTALS_SQL, w=24, h=4))
        .with_panel(ch_stat("各县市风险网格（高风险户占比）", RISK_GRID_SQL, w=24, h=5, per_row=True,
                            unit="percentunit", decimals=1, steps=RISK_STEPS,
                            description="颜色：绿 < 5%，黄 5%–10%，红 ≥ 10%（三色预警中红色户占已评估户的比例）"))
        .with_row(row("县市指标"))
        .with_panel(ch_table("各县市指标（口径见 county-report）", sql.county_figures_sql(), w=24, h=10,
                             rename=figures, units=units,
                             color_fields={"resolution_rate": ((None, "red"), (0.7, "yellow"), (0.8, "green"))}))
        .with_row(row("预警"))
        .with_panel(ch_timeseries("预警级别趋势", SEVERITY_TREND_SQL, w=12, bars=True, stacked=True,
                                  colors={sql.SEVERITY_LABELS[s]: c for s, c in sql.SEVERITY_COLORS.items()}))
        .with_panel(ch_bargauge("触发最多的规则", TOP_RULES_SQL, w=12))
        .with_panel(ch_bargauge("各县市预警数", ALERTS_BY_COUNTY_SQL, w=24, h=7))
    )
