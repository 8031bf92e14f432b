"""SQL shared by the dashboards: variable filters, the period bounds and the county figures.

Panels read only the masked views (``v_*``) and the aggregate tables (``agg_*``) of
sinks/migrations, plus the division list. Queries use the ClickHouse plugin's macros
(``$__timeFilter``, ``$__fromTime``, ``$__toTime``, ``$__timeInterval``) and the dashboard variables
``${county}`` / ``${township}``; :mod:`pingan.dashboards.macros` expands both the way Grafana does, so
`pingan dashboards check` and the preview run exactly this text.

The county figures follow ../shared/contract/county-report.md exactly as sinks/figures.py computes
them for `pingan report` (period [from, to), de-duplicated by id, the first ``reported`` event of a
report or case and the latest ``completed`` event of a record, ties broken by event_id), but in one
query over the masked views, so a Grafana table panel can show them; a test checks both agree.
"""

from __future__ import annotations

#: The value the township / county variables take for "all" (their ``allValue``).
ALL = "ALL"

#: Period bounds of the contract: [from, to).
PERIOD = "ts >= $__fromTime AND ts < $__toTime"

COUNTY = "county_code = '${county}'"
def township_filter(column: str = "township_code") -> str:
    return f"('${{township}}' = '{ALL}' OR {column} = '${{township}}')"


TOWNSHIP = township_filter()
#: For dashboards whose county variable includes "all" (the alert feed).
COUNTY_OR_ALL = f"('${{county}}' = '{ALL}' OR county_code = '${{county}}')"

NIGHT = "(toHour(ts, 'Asia/Shanghai') >= 22 OR toHour(ts, 'Asia/Shanghai') < 5)"
NIGHT_HOUR = "(toHour(hour, 'Asia/Shanghai') >= 22 OR toHour(hour, 'Asia/Shanghai') < 5)"

SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_LABELS = {"info": "提示", "low": "低", "medium": "中", "high": "高", "critical": "紧急"}
SEVERITY_COLORS = {"info": "blue", "low": "green", "medium": "yellow", "high": "orange", "critical": "red"}


def severity_label(column: str = "severity") -> str:
    """SQL turning a severity into its Chinese label."""
    keys = ", ".join(f"'{k}'" for k in SEVERITIES)
    labels = ", ".join(f"'{SEVERITY_LABELS[k]}'" for k in SEVERITIES)
    return f"transform({column}, [{keys}], [{labels}], {column})"


COUNTY_VARIABLE_SQL = "SELECT code, name FROM divisions FINAL WHERE level = 'county' ORDER BY code"
TOWNSHIP_VARIABLE_SQL = (
    "SELECT code, name FROM divisions FINAL WHERE level = 'township' AND parent_code = '${county}' ORDER BY code"
)

#: Contract figure -> Chinese column label (the order of the figures table).
FIGURE_LABELS: dict[str, str] = {
    "county_name": "县市",
    "camera_events": "摄像头事件",
    "watchlist_hits": "布控命中",
    "night_strangers": "夜间陌生人车",
    "grid_reports": "网格上报",
    "grid_resolved": "已化解",
    "resolution_rate": "化解率",
    "disputes": "矛盾纠纷",
    "risk_high": "高风险户",
    "risk_medium": "中风险户",
    "risk_low": "低风险户",
    "fraud_cases": "诈骗案件",
    "fraud_loss_yuan": "损失(元)",
    "fraud_elderly_cases": "涉老案件",
    "townships_without_fraud": "零发案乡镇",
    "service_completed": "办结件",
    "service_online_share": "网办占比",
    "one_visit_compliance": "最多跑一次",
    "sla_met_share": "按时办结",
    "satisfaction_avg": "满意度",
    "alerts_low": "低级预警",
    "alerts_medium": "中级预警",
    "alerts_high": "高级预警",
    "alerts_critical": "紧急预警",
}
RATE_FIGURES = ("resolution_rate", "service_online_share", "one_visit_compliance", "sla_met_share")

# Latest risk level per household before the end of the period. The masked grid view shows only
# masked household ids (which collide), so this one sub-query counts distinct pseudonymous
# household ids in the raw grid table; it returns counts per county and level, never an id.
RISK_HOUSEHOLDS = """
    SELECT last.1 AS county_code, last.2 AS township_code, last.3 AS risk_level, count() AS households
    FROM
    (
        SELECT household_key, argMax((county_code, township_code, ifNull(risk_level, '')), (ts, event_id)) AS last
        FROM v_grid_events
        WHERE category = 'risk_assessment' AND household_key IS NOT NULL AND ts < $__toTime
        GROUP BY household_key
    )
    GROUP BY county_code, township_code, risk_level"""


def ratio(numerator: str, denominator: str) -> str:
    """SQL for a share rounded half-up to 4 places, NULL when the denominator is 0 — as the report
    computes it (``sinks.figures.ratio``). ``round`` on a Float64 rounds ties to even in
    ClickHouse (4.40625 -> 4.4062); on a Decimal it rounds them away from zero (-> 4.4063)."""
    return (f"if({denominator} = 0, NULL, "
            f"toFloat64(round(toDecimal128({numerator}, 10) / {denominator}, 4)))")


def county_figures_sql(county: str | None = None) -> str:
    """Every contract figure per county over [$__fromTime, $__toTime), one row per county.

    ``county`` limits the rows to one county (e.g. ``"${county}"``); figures whose inputs are missing
    are 0 (counts) or NULL (rates).
    """
    where = "1" if county is None else f"d.county_code = '{county}'"
    return f"""
WITH
    cam AS (
        SELECT county_code,
               uniqExact(event_id) AS camera_events,
               uniqExactIf(event_id, kind IN ('face_match', 'plate_match')) AS watchlist_hits,
               uniqExactIf(event_id, kind IN ('stranger', 'unknown_vehicle') AND {NIGHT}) AS night_strangers
        FROM v_camera_events WHERE {PERIOD}
        GROUP BY county_code
    ),
    reports AS (
        SELECT report_id, argMin((county_code, ifNull(category, '')), (ts, event_id)) AS first
        FROM v_grid_events WHERE status = 'reported' AND report_id IS NOT NULL AND {PERIOD}
        GROUP BY report_id
    ),
    grid AS (
        SELECT first.1 AS county_code,
               count() AS grid_reports,
               countIf(report_id IN (SELECT report_id FROM v_grid_events
                                     WHERE status IN ('resolved', 'closed') AND ts < $__toTime)) AS grid_resolved,
               countIf(startsWith(first.2, 'dispute_')) AS disputes
        FROM reports GROUP BY county_code
    ),
    risk AS (
        SELECT county_code,
               sumIf(households, risk_level = 'high') AS risk_high,
               sumIf(households, risk_level = 'medium') AS risk_medium,
               sumIf(households, risk_level = 'low') AS risk_low
        FROM ({RISK_HOUSEHOLDS}
        )
        GROUP BY county_code
    ),
    cases AS (
        SELECT case_id, argMin((county_code, township_code, ifNull(loss_yuan, toDecimal64(0, 2)),
                                ifNull(victim_elderly, false)), (ts, event_id)) AS first
        FROM v_fraud_events WHERE status = 'reported' AND case_id IS NOT NULL AND {PERIOD}
        GROUP BY case_id
    ),
    fraud AS (
        SELECT first.1 AS county_code, count() AS fraud_cases, sum(first.3) AS fraud_loss,
               countIf(first.4) AS fraud_elderly_cases, uniqExact(first.2) AS fraud_townships
        FROM cases GROUP BY county_code
    ),
    townships AS (
        SELECT parent_code AS county_code, count() AS townships
        FROM divisions FINAL WHERE level = 'township' GROUP BY parent_code
    ),
    records AS (
        SELECT record_id, argMax((county_code, channel, one_visit_item, visits, sla_hours, elapsed_hours,
                                  satisfaction), (ts, event_id)) AS last
        FROM v_service_events WHERE status = 'completed' AND record_id IS NOT NULL AND {PERIOD}
        GROUP BY record_id
    ),
    svc AS (
        SELECT last.1 AS county_code, count() AS service_completed,
               countIf(ifNull(last.2 = 'online', false)) AS online,
               countIf(ifNull(last.3, false)) AS one_visit_items,
               countIf(ifNull(last.3, false) AND ifNull(last.4 <= 1, false)) AS one_visit_ok,
               countIf(ifNull(last.6 <= last.5, false)) AS sla_met,
               sum(ifNull(last.7, 0)) AS satisfaction_sum, count(last.7) AS satisfaction_count
        FROM records GROUP BY county_code
    ),
    alert_counts AS (
        SELECT county_code,
               uniqExactIf(alert_id, severity = 'low') AS alerts_low,
               uniqExactIf(alert_id, severity = 'medium') AS alerts_medium,
               uniqExactIf(alert_id, severity = 'high') AS alerts_high,
               uniqExactIf(alert_id, severity = 'critical') AS alerts_critical
        FROM v_alerts WHERE {PERIOD}
        GROUP BY county_code
    )
SELECT
    d.name AS county_name,
    cam.camera_events AS camera_events,
    cam.watchlist_hits AS watchlist_hits,
    cam.night_strangers AS night_strangers,
    grid.grid_reports AS grid_reports,
    grid.grid_resolved AS grid_resolved,
    {ratio('grid.grid_resolved', 'grid.grid_reports')} AS resolution_rate,
    grid.disputes AS disputes,
    risk.risk_high AS risk_high,
    risk.risk_medium AS risk_medium,
    risk.risk_low AS risk_low,
    fraud.fraud_cases AS fraud_cases,
    toFloat64(fraud.fraud_loss) AS fraud_loss_yuan,
    fraud.fraud_elderly_cases AS fraud_elderly_cases,
    townships.townships - fraud.fraud_townships AS townships_without_fraud,
    svc.service_completed AS service_completed,
    {ratio('svc.online', 'svc.service_completed')} AS service_online_share,
    {ratio('svc.one_visit_ok', 'svc.one_visit_items')} AS one_visit_compliance,
    {ratio('svc.sla_met', 'svc.service_completed')} AS sla_met_share,
    {ratio('svc.satisfaction_sum', 'svc.satisfaction_count')} AS satisfaction_avg,
    alert_counts.alerts_low AS alerts_low,
    alert_counts.alerts_medium AS alerts_medium,
    alert_counts.alerts_high AS alerts_high,
    alert_counts.alerts_critical AS alerts_critical
FROM (SELECT code AS county_code, name FROM divisions FINAL WHERE level = 'county') AS d
LEFT JOIN cam ON cam.county_code = d.county_code
LEFT JOIN grid ON grid.county_code = d.county_code
LEFT JOIN risk ON risk.county_code = d.county_code
LEFT JOIN fraud ON fraud.county_code = d.county_code
LEFT JOIN townships ON townships.county_code = d.county_code
LEFT JOIN svc ON svc.county_code = d.county_code
LEFT JOIN alert_counts ON alert_counts.county_code = d.county_code
WHERE {where}
ORDER BY d.county_code
"""
