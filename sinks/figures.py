"""The county statistics of contract/county-report.md: the SQL of every figure, in one place.

Each query returns one row per county with the counts a figure is made of (numerators and
denominators, never pre-rounded rates); :func:`assemble` turns them into the report (exact rounding
half-up in Python, decimals as strings). Dashboards reuse :func:`figure_queries` for the same
numbers.

Rules shared by every query (the contract's definitions):
- de-duplicated by id: plain counts read ``FINAL`` (the table is keyed by event_id, so FINAL is a
  cheap sorted merge: 5M camera rows in under a second); figures per case pick the case's event with
  ``argMin``/``argMax`` over ``(ts, event_id)``, which a repeated row of the same event cannot change
  (re-deliveries carry the same content), so they skip FINAL; alerts count ``uniqExact(alert_id)``,
  shadow-mode alerts (stored for rule tuning, never published) left out;
- period ``[from, to)`` on event time ``ts``; late events count in the period of their ts;
- a case's one event: the first ``reported`` event in the period (ties broken by event_id), a
  service record's latest ``completed`` event in the period; its county is the case's county;
- ``argMin(tuple(...), (ts, event_id))``: a tuple so NULL fields are kept (argMin skips NULL args).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pingan.schemas.divisions import load_divisions

SEVERITIES = ("low", "medium", "high", "critical")

#: Every figure of the contract, in report order (invalid_messages: prefecture only).
COUNTY_FIGURES: tuple[str, ...] = (
    "camera_events", "watchlist_hits", "night_strangers",
    "grid_reports", "grid_resolved", "resolution_rate", "disputes",
    "risk_high", "risk_medium", "risk_low",
    "fraud_cases", "fraud_loss_yuan", "fraud_elderly_cases", "townships_without_fraud",
    "service_completed", "service_online_share", "one_visit_compliance", "sla_met_share", "satisfaction_avg",
    "alerts_low", "alerts_medium", "alerts_high", "alerts_critical",
)
PREFECTURE_FIGURES: tuple[str, ...] = (*COUNTY_FIGURES, "invalid_messages")
RATE_FIGURES = ("resolution_rate", "service_online_share", "one_visit_compliance", "sla_met_share", "satisfaction_avg")

NIGHT = "(toHour(ts, 'Asia/Shanghai') >= 22 OR toHour(ts, 'Asia/Shanghai') < 5)"
FIRST = "(ts, event_id)"


@dataclass(frozen=True)
class Period:
    """``[start, end)`` as epoch seconds (None: unbounded)."""

    start: float | None = None
    end: float | None = None

    def params(self) -> dict[str, str]:
        out = {}
        if self.start is not None:
            out["from_ts"] = _ch_time(self.start)
        if self.end is not None:
            out["to_ts"] = _ch_time(self.end)
        return out

    def where(self, column: str = "ts") -> str:
        """SQL condition for the period (``1`` when unbounded)."""
        parts = []
        if self.start is not None:
            parts.append(f"{column} >= {{from_ts:DateTime64(3, 'UTC')}}")
        if self.end is not None:
            parts.append(f"{column} < {{to_ts:DateTime64(3, 'UTC')}}")
        return " AND ".join(parts) or "1"

    def before_end(self, column: str = "ts") -> str:
        return f"{column} < {{to_ts:DateTime64(3, 'UTC')}}" if self.end is not None else "1"


def _ch_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def figure_queries(period: Period) -> dict[str, str]:
    """name -> SQL; every query returns ``county_code`` plus the named counts (one row per county)."""
    p = period.where()
    return {
        "camera": f"""
SELECT county_code,
       count() AS camera_events,
       countIf(kind IN ('face_match', 'plate_match')) AS watchlist_hits,
       countIf(kind IN ('stranger', 'unknown_vehicle') AND {NIGHT}) AS night_strangers
FROM events_camera FINAL
WHERE {p}
GROUP BY county_code""",
        "grid": f"""
SELECT f.1 AS county_code,
       count() AS grid_reports,
       countIf(report_id IN (
           SELECT report_id FROM events_grid
           WHERE status IN ('resolved', 'closed') AND report_id IS NOT NULL AND {period.before_end()}
       )) AS grid_resolved,
       countIf(startsWith(ifNull(f.2, ''), 'dispute_')) AS disputes
FROM (
    SELECT report_id, argMin(tuple(county_code, category), {FIRST}) AS f
    FROM events_grid
    WHERE status = 'reported' AND report_id IS NOT NULL AND {p}
    GROUP BY report_id
)
GROUP BY county_code""",
        "risk": f"""
SELECT l.1 AS county_code,
       countIf(l.2 = 'high') AS risk_high,
       countIf(l.2 = 'medium') AS risk_medium,
       countIf(l.2 = 'low') AS risk_low
FROM (
    SELECT household_id, argMax(tuple(county_code, risk_level), {FIRST}) AS l
    FROM events_grid
    WHERE category = 'risk_assessment' AND household_id IS NOT NULL AND {period.before_end()}
    GROUP BY household_id
)
GROUP BY county_code""",
        "fraud": f"""
SELECT f.1 AS county_code,
       count() AS fraud_cases,
       toString(sum(ifNull(f.3, toDecimal64(0, 2)))) AS fraud_loss_yuan,
       countIf(ifNull(f.4, 0) >= 60) AS fraud_elderly_cases,
       groupUniqArray(f.2) AS fraud_townships
FROM (
    SELECT case_id, argMin(tuple(county_code, township_code, loss_yuan, victim_age), {FIRST}) AS f
    FROM events_fraud
    WHERE status = 'reported' AND case_id IS NOT NULL AND {p}
    GROUP BY case_id
)
GROUP BY county_code""",
        "townships": f"""
SELECT parent_code AS county_code,
       count() AS townships,
       countIf(code NOT IN (
           SELECT argMin(township_code, {FIRST})
           FROM events_fraud
           WHERE status = 'reported' AND case_id IS NOT NULL AND {p}
           GROUP BY case_id
       )) AS townships_without_fraud
FROM divisions FINAL
WHERE level = 'township'
GROUP BY parent_code""",
        "service": f"""
SELECT l.1 AS county_code,
       count() AS service_completed,
       countIf(l.2 = 'online') AS service_online,
       countIf(l.3) AS one_visit_records,
       countIf(l.3 AND l.4 <= 1) AS one_visit_compliant,
       countIf(l.6 <= l.5) AS sla_met,
       countIf(l.7 IS NOT NULL) AS satisfaction_count,
       sum(ifNull(l.7, 0)) AS satisfaction_sum
FROM (
    SELECT record_id,
           argMax(tuple(county_code, channel, one_visit_item, visits, sla_hours, elapsed_hours, satisfaction),
                  {FIRST}) AS l
    FROM events_service
    WHERE status = 'completed' AND record_id IS NOT NULL AND {p}
    GROUP BY record_id
)
GROUP BY county_code""",
        "alerts": f"""
SELECT county_code,
       uniqExactIf(alert_id, severity = 'low') AS alerts_low,
       uniqExactIf(alert_id, severity = 'medium') AS alerts_medium,
       uniqExactIf(alert_id, severity = 'high') AS alerts_high,
       uniqExactIf(alert_id, severity = 'critical') AS alerts_critical
FROM alerts
WHERE status != 'shadow' AND {p}
GROUP BY county_code""",
        "deadletters": f"""
SELECT count() AS invalid_messages
FROM (
    SELECT topic, partition, offset, min(received_at) AS received_at
    FROM deadletters
    GROUP BY topic, partition, offset
)
WHERE {period.where('received_at')}""",
    }


def ratio(numerator: int, denominator: int) -> float | None:
    """A share rounded half-up to 4 places; None when the denominator is 0."""
    if not denominator:
        return None
    value = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return float(value)


def money(text: str | int | Decimal | None) -> str:
    return str(Decimal(str(text or 0)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _empty_counts() -> dict[str, Any]:
    return {
        "camera_events": 0, "watchlist_hits": 0, "night_strangers": 0,
        "grid_reports": 0, "grid_resolved": 0, "disputes": 0,
        "risk_high": 0, "risk_medium": 0, "risk_low": 0,
        "fraud_cases": 0, "fraud_loss_yuan": Decimal(0), "fraud_elderly_cases": 0,
        "townships": 0, "townships_without_fraud": 0,
        "service_completed": 0, "service_online": 0, "one_visit_records": 0, "one_visit_compliant": 0,
        "sla_met": 0, "satisfaction_count": 0, "satisfaction_sum": 0,
        "alerts_low": 0, "alerts_medium": 0, "alerts_high": 0, "alerts_critical": 0,
    }


def _finish(c: dict[str, Any]) -> dict[str, Any]:
    """Counts -> the contract's figures (in COUNTY_FIGURES order)."""
    derived = {
        "resolution_rate": ratio(c["grid_resolved"], c["grid_reports"]),
        "fraud_loss_yuan": money(c["fraud_loss_yuan"]),
        "service_online_share": ratio(c["service_online"], c["service_completed"]),
        "one_visit_compliance": ratio(c["one_visit_compliant"], c["one_visit_records"]),
        "sla_met_share": ratio(c["sla_met"], c["service_completed"]),
        "satisfaction_avg": ratio(c["satisfaction_sum"], c["satisfaction_count"]),
    }
    return {name: derived[name] if name in derived else int(c[name]) for name in COUNTY_FIGURES}


def assemble(results: dict[str, list[dict[str, Any]]], *, period_text: tuple[str | None, str | None] = (None, None),
             county: str | None = None) -> dict[str, Any]:
    """Query results (name -> rows) -> the report object of county-report.md."""
    divisions = load_divisions()
    counts = {code: _empty_counts() for code in sorted(divisions.counties)}
    for name, rows in results.items():
        if name == "deadletters":
            continue
        for row in rows:
            target = counts.get(row.get("county_code"))
            if target is None:
                continue  # a county outside the division list cannot be stored, but never crash on it
            for key, value in row.items():
                if key in ("county_code", "fraud_townships"):
                    continue
                target[key] = Decimal(value) if key == "fraud_loss_yuan" else int(value)
    total = _empty_counts()
    for c in counts.values():
        for key, value in c.items():
            total[key] += value
    invalid = sum(int(r["invalid_messages"]) for r in results.get("deadletters", []))
    shown = [code for code in counts if county is None or code == county]
    report = {
        "from": period_text[0],
        "to": period_text[1],
        "counties": [
            {"county_code": code, "county_name": divisions.county_name(code), **_finish(counts[code])}
            for code in shown
        ],
        "prefecture": {**_finish(total), "invalid_messages": invalid},
    }
    return report


def run_figures(query: Any, period: Period) -> dict[str, list[dict[str, Any]]]:
    """Run every figure query with ``query(sql, params) -> rows`` (a sink's query_sync)."""
    params = period.params()
    return {name: query(sql, params) for name, sql in figure_queries(period).items()}
