-- Shadow-mode alerts (rules under evaluation: stored, never published) do not count as alerts in
-- the county figures, so the hourly alert aggregate leaves them out from now on (v_alerts keeps
-- them, with their status).
DROP VIEW IF EXISTS mv_alerts_hourly;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_alerts_hourly_published TO agg_alerts_hourly AS
SELECT toStartOfHour(ts) AS hour, county_code, ifNull(township_code, '') AS township_code,
       severity, rule_id, uniqExactState(alert_id) AS alerts
FROM alerts
WHERE status != 'shadow'
GROUP BY hour, county_code, township_code, severity, rule_id;
