-- Views the dashboards read. Raw rows are de-duplicated (FINAL) and personal columns appear only
-- masked (云E***45) or not at all: plates, person ids, household ids and alert keys are masked; victims'
-- pseudonymised ID numbers and phones, snapshot references, free text and extra fields are left out.
-- v_county_daily / v_township_daily: long format (day in +08:00, figure, value) from the hourly
-- aggregates; exact distinct counts per day (see docs/storage.md for what they do not cover).

CREATE VIEW IF NOT EXISTS v_camera_events AS
SELECT event_id, ts, county_code, county_name, township_code, township_name, village_code, village_name, camera_id, kind, watchlist, confidence,
       if(person_id IS NULL, NULL, if(lengthUTF8(person_id) <= 4, repeat('*', toUInt32(lengthUTF8(person_id))), concat(substringUTF8(person_id, 1, 2), '***', substringUTF8(person_id, lengthUTF8(person_id) - 1, 2)))) AS person_id_masked,
       if(plate IS NULL, NULL, if(lengthUTF8(plate) <= 4, repeat('*', toUInt32(lengthUTF8(plate))), concat(substringUTF8(plate, 1, 2), '***', substringUTF8(plate, lengthUTF8(plate) - 1, 2)))) AS plate_masked
FROM events_camera FINAL;

CREATE VIEW IF NOT EXISTS v_grid_events AS
SELECT event_id, ts, county_code, county_name, township_code, township_name, village_code, village_name, report_id, status, category, grid_id,
       risk_level, reporter,
       if(household_id IS NULL, NULL, if(lengthUTF8(household_id) <= 4, repeat('*', toUInt32(lengthUTF8(household_id))), concat(substringUTF8(household_id, 1, 2), '***', substringUTF8(household_id, lengthUTF8(household_id) - 1, 2)))) AS household_id_masked
FROM events_grid FINAL;

CREATE VIEW IF NOT EXISTS v_fraud_events AS
SELECT event_id, ts, county_code, county_name, township_code, township_name, case_id, status, fraud_type, loss_yuan, channel,
       victim_age >= 60 AS victim_elderly
FROM events_fraud FINAL;

CREATE VIEW IF NOT EXISTS v_service_events AS
SELECT event_id, ts, county_code, county_name, township_code, township_name, record_id, status, department, item_code, item_name, channel,
       one_visit_item, visits, sla_hours, elapsed_hours, satisfaction
FROM events_service FINAL;

CREATE VIEW IF NOT EXISTS v_alerts AS
SELECT alert_id, rule_id, rule_version, severity, ts, county_code, county_name, township_code, township_name, village_code, title, evidence, figures,
       domain, status, ingested_at,
       if(key IS NULL, NULL, if(lengthUTF8(key) <= 4, repeat('*', toUInt32(lengthUTF8(key))), concat(substringUTF8(key, 1, 2), '***', substringUTF8(key, lengthUTF8(key) - 1, 2)))) AS key_masked
FROM alerts FINAL;

CREATE VIEW IF NOT EXISTS v_deadletters AS
SELECT topic, partition, offset, reason, details, value_bytes, min(received_at) AS received_at
FROM deadletters
GROUP BY topic, partition, offset, reason, details, value_bytes;

CREATE VIEW IF NOT EXISTS v_county_daily AS
SELECT x.day AS day, x.county_code AS county_code, c.name AS county_name, x.figure AS figure, x.value AS value
FROM
(
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'camera_events' AS figure, toUInt64(uniqExactMerge(events)) AS value
    FROM agg_camera_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'watchlist_hits' AS figure, toUInt64(uniqExactMergeIf(events, kind IN ('face_match', 'plate_match'))) AS value
    FROM agg_camera_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'night_strangers' AS figure, toUInt64(uniqExactMergeIf(events, kind IN ('stranger', 'unknown_vehicle') AND (toHour(hour, 'Asia/Shanghai') >= 22 OR toHour(hour, 'Asia/Shanghai') < 5))) AS value
    FROM agg_camera_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'camera_offline' AS figure, toUInt64(uniqExactMergeIf(events, kind = 'offline')) AS value
    FROM agg_camera_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'grid_reports' AS figure, toUInt64(uniqExactMergeIf(reports, status = 'reported')) AS value
    FROM agg_grid_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'grid_resolved_events' AS figure, toUInt64(uniqExactMergeIf(reports, status IN ('resolved', 'closed'))) AS value
    FROM agg_grid_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'disputes' AS figure, toUInt64(uniqExactMergeIf(reports, status = 'reported' AND startsWith(category, 'dispute_'))) AS value
    FROM agg_grid_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'risk_assessments' AS figure, toUInt64(uniqExactMergeIf(events, category = 'risk_assessment')) AS value
    FROM agg_grid_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'fraud_cases' AS figure, toUInt64(uniqExactMergeIf(cases, status = 'reported')) AS value
    FROM agg_fraud_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'fraud_elderly_cases' AS figure, toUInt64(uniqExactMergeIf(elderly_cases, status = 'reported')) AS value
    FROM agg_fraud_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'service_completed' AS figure, toUInt64(uniqExactMergeIf(records, status = 'completed')) AS value
    FROM agg_service_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'service_completed_online' AS figure, toUInt64(uniqExactMergeIf(records, status = 'completed' AND channel = 'online')) AS value
    FROM agg_service_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'alerts_low' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'low')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'alerts_medium' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'medium')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'alerts_high' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'high')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, 'alerts_critical' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'critical')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code
) AS x
LEFT JOIN (SELECT code, name FROM divisions FINAL WHERE level = 'county') AS c ON c.code = x.county_code;

CREATE VIEW IF NOT EXISTS v_township_daily AS
SELECT x.day AS day, x.county_code AS county_code, c.name AS county_name, x.township_code AS township_code, t.name AS township_name, x.figure AS figure, x.value AS value
FROM
(
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'camera_events' AS figure, toUInt64(uniqExactMerge(events)) AS value
    FROM agg_camera_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'watchlist_hits' AS figure, toUInt64(uniqExactMergeIf(events, kind IN ('face_match', 'plate_match'))) AS value
    FROM agg_camera_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'night_strangers' AS figure, toUInt64(uniqExactMergeIf(events, kind IN ('stranger', 'unknown_vehicle') AND (toHour(hour, 'Asia/Shanghai') >= 22 OR toHour(hour, 'Asia/Shanghai') < 5))) AS value
    FROM agg_camera_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'camera_offline' AS figure, toUInt64(uniqExactMergeIf(events, kind = 'offline')) AS value
    FROM agg_camera_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'grid_reports' AS figure, toUInt64(uniqExactMergeIf(reports, status = 'reported')) AS value
    FROM agg_grid_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'grid_resolved_events' AS figure, toUInt64(uniqExactMergeIf(reports, status IN ('resolved', 'closed'))) AS value
    FROM agg_grid_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'disputes' AS figure, toUInt64(uniqExactMergeIf(reports, status = 'reported' AND startsWith(category, 'dispute_'))) AS value
    FROM agg_grid_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'risk_assessments' AS figure, toUInt64(uniqExactMergeIf(events, category = 'risk_assessment')) AS value
    FROM agg_grid_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'fraud_cases' AS figure, toUInt64(uniqExactMergeIf(cases, status = 'reported')) AS value
    FROM agg_fraud_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'fraud_elderly_cases' AS figure, toUInt64(uniqExactMergeIf(elderly_cases, status = 'reported')) AS value
    FROM agg_fraud_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'service_completed' AS figure, toUInt64(uniqExactMergeIf(records, status = 'completed')) AS value
    FROM agg_service_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'service_completed_online' AS figure, toUInt64(uniqExactMergeIf(records, status = 'completed' AND channel = 'online')) AS value
    FROM agg_service_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'alerts_low' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'low')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'alerts_medium' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'medium')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'alerts_high' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'high')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code, township_code
    UNION ALL
    SELECT toDate(hour, 'Asia/Shanghai') AS day, county_code, township_code, 'alerts_critical' AS figure, toUInt64(uniqExactMergeIf(alerts, severity = 'critical')) AS value
    FROM agg_alerts_hourly GROUP BY day, county_code, township_code
) AS x
LEFT JOIN (SELECT code, name FROM divisions FINAL WHERE level = 'county') AS c ON c.code = x.county_code
LEFT JOIN (SELECT code, name FROM divisions FINAL WHERE level = 'township') AS t ON t.code = x.township_code;
