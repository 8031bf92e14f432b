"""县市详情: one county (and optionally one township) in detail."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from pingan.dashboards import sql
from pingan.dashboards.panels import ch_pie, ch_stat, ch_table, ch_timeseries, row
from pingan.dashboards.query import CLICKHOUSE

UID = "pingan-county"
TITLE = "县市详情"
DEFAULT_COUNTY = ("532301", "楚雄市")

WHERE = f"{sql.COUNTY} AND {sql.TOWNSHIP}"
FILL = "ORDER BY time WITH FILL FROM $__timeInterval($__fromTime) TO $__toTime STEP $__interval_s"

# --- grid governance -------------------------------------------------------------------------
DISPUTES_SQL = f"""
SELECT $__timeInterval(first_ts) AS time,
       countIf(startsWith(first_category, 'dispute_')) AS `矛盾纠纷`,
       if(countIf(startsWith(first_category, 'dispute_')) = 0, NULL,
          round(countIf(startsWith(first_category, 'dispute_') AND resolved) / countIf(startsWith(first_category, 'dispute_')), 4))
           AS `化解率`
FROM
(
    SELECT report_id, min(ts) AS first_ts,
           argMin((township_code, ifNull(category, '')), (ts, event_id)) AS first,
           first.1 AS first_township, first.2 AS first_category,
           report_id IN (SELECT report_id FROM v_grid_events
                         WHERE status IN ('resolved', 'closed') AND ts < $__toTime) AS resolved
    FROM v_grid_events
    WHERE status = 'reported' AND report_id IS NOT NULL AND {sql.COUNTY} AND {sql.PERIOD}
    GROUP BY report_id
)
WHERE {sql.township_filter('first_township')}
GROUP BY time
{FILL}
"""

RISK_LEVELS = {"high": "红色（高风险）", "medium": "黄色（中风险）", "low": "绿色（低风险）"}
RISK_COLORS = {"红色（高风险）": "red", "黄色（中风险）": "yellow", "绿色（低风险）": "green"}
RISK_SQL = f"""
SELECT l.level AS `等级`, sum(r.households) AS `户数`
FROM
(
    SELECT arrayJoin([{", ".join(f"('{k}', '{v}', {i})" for i, (k, v) in enumerate(RISK_LEVELS.items()))}]) AS t,
           t.1 AS key, t.2 AS level, t.3 AS position
) AS l
LEFT JOIN (SELECT * FROM ({sql.RISK_HOUSEHOLDS}
    ) WHERE {WHERE}) AS r ON r.risk_level = l.key
GROUP BY l.level, l.position
ORDER BY l.position
"""

OVERDUE_SQL = f"""
SELECT $__timeInterval(ts) AS time,
       uniqExactIf(alert_id, rule_id = 'GRID-OVERDUE-YELLOW') AS `黄色督办单`,
       uniqExactIf(alert_id, rule_id = 'GRID-OVERDUE-RED') AS `红色督办单`
FROM v_alerts
WHERE rule_id IN ('GRID-OVERDUE-YELLOW', 'GRID-OVERDUE-RED') AND {WHERE} AND $__timeFilter(ts)
GROUP BY time
{FILL}
"""

OVERDUE_TOTALS_SQL = f"""
SELECT uniqExactIf(alert_id, rule_id = 'GRID-OVERDUE-YELLOW') AS `黄色督办单`,
       uniqExactIf(alert_id, rule_id = 'GRID-OVERDUE-RED') AS `红色督办单`
FROM v_alerts
WHERE rule_id IN ('GRID-OVERDUE-YELLOW', 'GRID-OVERDUE-RED') AND {WHERE} AND {sql.PERIOD}
"""

# --- fraud ------------------------------------------------------------------------------------
CASES = f"""
    SELECT case_id,
           argMin((township_code, ifNull(loss_yuan, toDecimal64(0, 2)), ifNull(victim_elderly, false), fraud_type),
                  (ts, event_id)) AS first,
           min(ts) AS first_ts, first.1 AS case_township
    FROM v_fraud_events
    WHERE status = 'reported' AND case_id IS NOT NULL AND {sql.COUNTY} AND {sql.PERIOD}
    GROUP BY case_id"""

FRAUD_TOTALS_SQL = f"""
SELECT count() AS `诈骗案件`,
       toFloat64(sum(first.2)) AS `损失(元)`,
       if(count() = 0, NULL, round(countIf(first.3) / count(), 4)) AS `涉老占比`,
       (SELECT count() FROM divisions FINAL
        WHERE level = 'township' AND parent_code = '${{county}}'
          AND ('${{township}}' = '{sql.ALL}' OR code = '${{township}}'))
       - uniqExact(case_township) AS `零发案乡镇`
FROM ({CASES}
) WHERE {sql.township_filter('case_township')}
"""

FRAUD_TOWNSHIPS_SQL = f"""
SELECT t.name AS `乡镇`, count(c.case_id) AS `案件`, toFloat64(sum(c.first.2)) AS `损失(元)`,
       countIf(c.first.3) AS `涉老案件`
FROM (SELECT code, name FROM divisions FINAL
      WHERE level = 'township' AND parent_code = '${{county}}'
        AND ('${{township}}' = '{sql.ALL}' OR code = '${{township}}')) AS t
LEFT JOIN ({CASES}
) AS c ON c.case_township = t.code
GROUP BY t.code, t.name
ORDER BY `案件`, t.code
"""

FRAUD_TYPES = {"telecom": "电信诈骗", "elderly_care": "养老诈骗", "investment": "投资理财",
               "impersonation": "冒充身份", "romance": "婚恋交友", "other": "其他"}
FRAUD_TREND_SQL = f"""
SELECT $__timeInterval(first_ts) AS time,
       {", ".join(f"countIf(first.4 = '{k}') AS `{v}`" for k, v in FRAUD_TYPES.items())}
FROM ({CASES}
) WHERE {sql.township_filter('case_township')}
GROUP BY time
{FILL}
"""

# --- service halls ----------------------------------------------------------------------------
RECORDS = f"""
    SELECT record_id,
           argMax((township_code, channel, one_visit_item, visits, sla_hours, elapsed_hours, satisfaction),
                  (ts, event_id)) AS last,
           max(ts) AS last_ts, last.1 AS record_township
    FROM v_service_events
    WHERE status = 'completed' AND record_id IS NOT NULL AND {sql.COUNTY} AND {sql.PERIOD}
    GROUP BY record_id"""

SERVICE_TOTALS_SQL = f"""
SELECT count() AS `办结件`,
       if(count() = 0, NULL, round(countIf(ifNull(last.2 = 'online', false)) / count(), 4)) AS `网办占比`,
       if(countIf(ifNull(last.3, false)) = 0, NULL,
          round(countIf(ifNull(last.3, false) AND ifNull(last.4 <= 1, false)) / countIf(ifNull(last.3, false)), 4))
           AS `最多跑一次达标率`,
       if(count() = 0, NULL, round(countIf(ifNull(last.6 <= last.5, false)) / count(), 4)) AS `按时办结率`,
       round(avgOrNull(last.7), 2) AS `满意度`
FROM ({RECORDS}
) WHERE {sql.township_filter('record_township')}
"""

SERVICE_TREND_SQL = f"""
SELECT $__timeInterval(last_ts) AS time,
       countIf(ifNull(last.2 = 'online', false)) AS `网上办结`,
       countIf(NOT ifNull(last.2 = 'online', false)) AS `窗口办结`,
       if(count() = 0, NULL, round(countIf(ifNull(last.6 <= last.5, false)) / count(), 4)) AS `按时办结率`
FROM ({RECORDS}
) WHERE {sql.township_filter('record_township')}
GROUP BY time
{FILL}
"""

# --- cameras ------------------------------------------------------------------------------------
CAMERA_TOTALS_SQL = f"""
SELECT uniqExactMergeIf(events, kind IN ('face_match', 'plate_match')) AS `布控命中`,
       uniqExactMergeIf(events, kind IN ('stranger', 'unknown_vehicle') AND {sql.NIGHT_HOUR}) AS `夜间陌生人车`,
       uniqExactMergeIf(events, kind = 'offline') AS `摄像头离线`
FROM agg_camera_hourly
WHERE {WHERE} AND hour >= $__fromTime AND hour < $__toTime
"""

CAMERA_TREND_SQL = f"""
SELECT $__timeInterval(hour) AS time,
       uniqExactMergeIf(events, kind IN ('face_match', 'plate_match')) AS `布控命中`,
       uniqExactMergeIf(events, kind IN ('stranger', 'unknown_vehicle') AND {sql.NIGHT_HOUR}) AS `夜间陌生人车`
FROM agg_camera_hourly
WHERE {WHERE} AND $__timeFilter(hour)
GROUP BY time
{FILL}
"""


def variables() -> list[db.QueryVariable]:
    county = (db.QueryVariable("county").label("县市").datasource(CLICKHOUSE)
              .query(sql.COUNTY_VARIABLE_SQL)
              .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
              .current(dm.VariableOption(selected=True, text=DEFAULT_COUNTY[1], value=DEFAULT_COUNTY[0])))
    township = (db.QueryVariable("township").label("乡镇").datasource(CLICKHOUSE)
                .query(sql.TOWNSHIP_VARIABLE_SQL)
                .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
                .include_all(True).all_value(sql.ALL)
                .current(dm.VariableOption(selected=True, text="All", value="$__all")))
    return [county, township]


def build() -> db.Dashboard:
    rate = {"化解率": "percentunit"}
    return (
        db.Dashboard(TITLE).uid(UID).tags(["pingan", "平安楚雄"]).timezone("Asia/Shanghai")
        .description("县市综治中心：网格治理、反诈、政务服务、雪亮工程")
        .time("now-7d", "now").refresh("1m").readonly()
        .variables(variables())
        .with_row(row("网格治理"))
        .with_panel(ch_timeseries("矛盾纠纷与化解率", DISPUTES_SQL, w=12, bars=True, right_axis=rate,
                                  description="按上报时间统计的矛盾纠纷数；化解率 = 期末前已化解或办结的比例"))
        .with_panel(ch_pie("三色风险户", RISK_SQL, w=6, colors=RISK_COLORS))
        .with_panel(ch_stat("逾期督办单", OVERDUE_TOTALS_SQL, w=6, h=8,
                            colors={"黄色督办单": "yellow", "红色督办单": "red"}))
        .with_panel(ch_timeseries("逾期督办（黄牌 48 小时 / 红牌 96 小时）", OVERDUE_SQL, w=24, h=7, bars=True,
                                  colors={"黄色督办单": "yellow", "红色督办单": "red"}))
        .with_row(row("反诈"))
        .with_panel(ch_stat("诈骗案件与损失", FRAUD_TOTALS_SQL, w=12, h=5,
                            units={"损失(元)": "currencyCNY", "涉老占比": "percentunit"}))
        .with_panel(ch_table("各乡镇发案（零发案在前）", FRAUD_TOWNSHIPS_SQL, w=12, h=11,
                             units={"损失(元)": "currencyCNY"},
                             color_fields={"案件": ((None, "green"), (1, "transparent"))}))
        .with_panel(ch_timeseries("诈骗案件趋势（按类型）", FRAUD_TREND_SQL, w=12, h=6, bars=True, stacked=True))
        .with_row(row("政务服务"))
        .with_panel(ch_stat("政务服务", SERVICE_TOTALS_SQL, w=24, h=4,
                            units={"网办占比": "percentunit", "最多跑一次达标率": "percentunit",
                                   "按时办结率": "percentunit"}))
        .with_panel(ch_timeseries("办结趋势与按时办结率", SERVICE_TREND_SQL, w=24, bars=True, stacked=True,
                                  right_axis={"按时办结率": "percentunit"}))
        .with_row(row("雪亮工程"))
        .with_panel(ch_stat("布控与夜间", CAMERA_TOTALS_SQL, w=8, h=8,
                            steps=((None, "green"), (1, "orange"))))
        .with_panel(ch_timeseries("布控命中与夜间陌生人车", CAMERA_TREND_SQL, w=16, bars=True))
    )
