-- Hourly county/township aggregates for dashboards, fed by materialized views on the raw tables.
-- They hold uniqExact states of ids (not sums), so a re-delivered event or a retried batch never
-- counts twice: merging the states of any set of hours gives exact distinct counts.
-- Hours are UTC buckets; +08:00 is a whole-hour offset, so toHour(hour, 'Asia/Shanghai') is exact.
-- Figures that need a case's first/latest event, decimals or cross-period joins (resolution,
-- risk levels, loss, service shares) are computed from the raw tables by sinks/figures.py.

CREATE TABLE IF NOT EXISTS agg_camera_hourly
(
    hour DateTime('UTC'),
    county_code LowCardinality(String),
    township_code LowCardinality(String),
    kind LowCardinality(String),
    events AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (county_code, hour, township_code, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_camera_hourly TO agg_camera_hourly AS
SELECT toStartOfHour(ts) AS hour, county_code, township_code, ifNull(kind, '') AS kind,
       uniqExactState(event_id) AS events
FROM events_camera
GROUP BY hour, county_code, township_code, kind;

CREATE TABLE IF NOT EXISTS agg_grid_hourly
(
    hour DateTime('UTC'),
    county_code LowCardinality(String),
    township_code LowCardinality(String),
    status LowCardinality(String),
    category LowCardinality(String),
    events AggregateFunction(uniqExact, String),
    reports AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (county_code, hour, township_code, status, category);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_grid_hourly TO agg_grid_hourly AS
SELECT toStartOfHour(ts) AS hour, county_code, township_code, ifNull(status, '') AS status,
       ifNull(category, '') AS category,
       uniqExactState(event_id) AS events, uniqExactState(ifNull(report_id, '')) AS reports
FROM events_grid
GROUP BY hour, county_code, township_code, status, category;

CREATE TABLE IF NOT EXISTS agg_fraud_hourly
(
    hour DateTime('UTC'),
    county_code LowCardinality(String),
    township_code LowCardinality(String),
    status LowCardinality(String),
    fraud_type LowCardinality(String),
    events AggregateFunction(uniqExact, String),
    cases AggregateFunction(uniqExact, String),
    elderly_cases AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (county_code, hour, township_code, status, fraud_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_fraud_hourly TO agg_fraud_hourly AS
SELECT toStartOfHour(ts) AS hour, county_code, township_code, ifNull(status, '') AS status,
       ifNull(fraud_type, '') AS fraud_type,
       uniqExactState(event_id) AS events, uniqExactState(ifNull(case_id, '')) AS cases,
       uniqExactStateIf(ifNull(case_id, ''), ifNull(victim_age, 0) >= 60) AS elderly_cases
FROM events_fraud
GROUP BY hour, county_code, township_code, status, fraud_type;

CREATE TABLE IF NOT EXISTS agg_service_hourly
(
    hour DateTime('UTC'),
    county_code LowCardinality(String),
    township_code LowCardinality(String),
    status LowCardinality(String),
    channel LowCardinality(String),
    events AggregateFunction(uniqExact, String),
    records AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (county_code, hour, township_code, status, channel);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_service_hourly TO agg_service_hourly AS
SELECT toStartOfHour(ts) AS hour, county_code, ifNull(township_code, '') AS township_code,
       ifNull(status, '') AS status, ifNull(channel, '') AS channel,
       uniqExactState(event_id) AS events, uniqExactState(ifNull(record_id, '')) AS records
FROM events_service
GROUP BY hour, county_code, township_code, status, channel;

CREATE TABLE IF NOT EXISTS agg_alerts_hourly
(
    hour DateTime('UTC'),
    county_code LowCardinality(String),
    township_code LowCardinality(String),
    severity LowCardinality(String),
    rule_id LowCardinality(String),
    alerts AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (county_code, hour, township_code, severity, rule_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_alerts_hourly TO agg_alerts_hourly AS
SELECT toStartOfHour(ts) AS hour, county_code, ifNull(township_code, '') AS township_code,
       severity, rule_id, uniqExactState(alert_id) AS alerts
FROM alerts
GROUP BY hour, county_code, township_code, severity, rule_id;

CREATE TABLE IF NOT EXISTS agg_deadletters_hourly
(
    hour DateTime('UTC'),
    topic LowCardinality(String),
    messages AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, topic);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_deadletters_hourly TO agg_deadletters_hourly AS
SELECT toStartOfHour(received_at) AS hour, topic,
       uniqExactState(concat(toString(partition), ':', toString(offset))) AS messages
FROM deadletters
GROUP BY hour, topic;
