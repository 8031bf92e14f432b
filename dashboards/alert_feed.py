"""预警流: the latest alerts, for the duty officer. Reads the masked alert view only: the alert key
(a person id, plate or household pseudonym for some rules) is shown masked, evidence not at all."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from pingan.dashboards import sql
from pingan.dashboards.panels import ch_bargauge, ch_stat, ch_table, ch_timeseries, row
from pingan.dashboards.query import CLICKHOUSE

UID = "pingan-alerts"
TITLE = "预警流"

WHERE = f"{sql.COUNTY_OR_ALL} AND $__timeFilter(ts)"

LATEST_SQL = f"""
SELECT formatDateTime(ts, '%Y-%m-%d %H:%i:%S', 'Asia/Shanghai') AS `时间`,
       {sql.severity_label()} AS `级别`,
       rule_id AS `规则`,
       ifNull(county_name, county_code) AS `县市`,
       ifNull(township_name, '') AS `乡镇`,
       title AS `标题`,
       ifNull(key_masked, '') AS `对象`,
       if(status = 'shadow', '试运行', '正式') AS `状态`
FROM v_alerts
WHERE {WHERE}
ORDER BY ts DESC, alert_id
LIMIT 200
"""

BY_SEVERITY_SQL = f"""
SELECT {", ".join(f"uniqExactIf(alert_id, severity = '{s}') AS `{sql.SEVERITY_LABELS[s]}`"
                  for s in reversed(sql.SEVERITIES))}
FROM v_alerts
WHERE {WHERE}
"""

BY_RULE_TREND_SQL = f"""
SELECT $__timeInterval(ts) AS time, rule_id AS `规则`, uniqExact(alert_id) AS `预警`
FROM v_alerts
WHERE {WHERE}
GROUP BY time, rule_id
ORDER BY time, rule_id
"""

BY_TOWNSHIP_SQL = f"""
SELECT concat(ifNull(county_name, county_code), ' ', ifNull(township_name, '')) AS `乡镇`,
       uniqExact(alert_id) AS `预警`
FROM v_alerts
WHERE {WHERE}
GROUP BY `乡镇`
ORDER BY `预警` DESC, `乡镇`
LIMIT 15
"""


def variables() -> list[db.QueryVariable]:
    return [
        db.QueryVariable("county").label("县市").datasource(CLICKHOUSE)
        .query(sql.COUNTY_VARIABLE_SQL)
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD).include_all(True).all_value(sql.ALL)
        .current(dm.VariableOption(selected=True, text="All", value="$__all")),
    ]


def severity_mappings() -> list[dm.ValueMapping]:
    return [dm.ValueMap(options={label: dm.ValueMappingResult(color=sql.SEVERITY_COLORS[key], index=i)
                                 for i, (key, label) in enumerate(sql.SEVERITY_LABELS.items())})]


def build() -> db.Dashboard:
    latest = ch_table("最新预警（最近 200 条）", LATEST_SQL, w=24, h=16)
    latest.override_by_name("级别", [
        dm.DynamicConfigValue(id_val="mappings", value=severity_mappings()),
        dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"}),
    ])
    return (
        db.Dashboard(TITLE).uid(UID).tags(["pingan", "平安楚雄"]).timezone("Asia/Shanghai")
        .description("预警实时流：级别、规则、地点、标题；对象编号已脱敏")
        .time("now-24h", "now").refresh("10s").readonly()
        .variables(variables())
        .with_row(row("预警"))
        .with_panel(ch_stat("各级别预警", BY_SEVERITY_SQL, w=24, h=4))
        .with_panel(latest)
        .with_panel(ch_timeseries("预警趋势（按规则）", BY_RULE_TREND_SQL, w=14, bars=True, stacked=True,
                                  min_interval="10m"))
        .with_panel(ch_bargauge("预警最多的乡镇", BY_TOWNSHIP_SQL, w=10))
    )
