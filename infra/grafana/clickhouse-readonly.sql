-- The read-only ClickHouse user of the Grafana data source (run as an admin, once per server).
-- It may read the masked views, the hourly aggregates and the division list, nothing else: plates,
-- person ids, household ids, victims' pseudonyms and free text stay out of its reach.
-- readonly = 1 with max_execution_time changeable, as the plugin's client sets it per query.

CREATE SETTINGS PROFILE IF NOT EXISTS grafana_ro_profile
    SETTINGS readonly = 1, max_execution_time = 60 CHANGEABLE_IN_READONLY,
             max_result_rows = 100000, max_memory_usage = 4000000000;

CREATE USER IF NOT EXISTS grafana_ro IDENTIFIED WITH sha256_password BY '{{GRAFANA_CH_PASSWORD}}'
    SETTINGS PROFILE 'grafana_ro_profile';

GRANT SELECT ON pingan.v_camera_events TO grafana_ro;
GRANT SELECT ON pingan.v_grid_events TO grafana_ro;
GRANT SELECT ON pingan.v_fraud_events TO grafana_ro;
GRANT SELECT ON pingan.v_service_events TO grafana_ro;
GRANT SELECT ON pingan.v_alerts TO grafana_ro;
GRANT SELECT ON pingan.v_deadletters TO grafana_ro;
GRANT SELECT ON pingan.v_county_daily TO grafana_ro;
GRANT SELECT ON pingan.v_township_daily TO grafana_ro;
GRANT SELECT ON pingan.agg_camera_hourly TO grafana_ro;
GRANT SELECT ON pingan.agg_grid_hourly TO grafana_ro;
GRANT SELECT ON pingan.agg_fraud_hourly TO grafana_ro;
GRANT SELECT ON pingan.agg_service_hourly TO grafana_ro;
GRANT SELECT ON pingan.agg_alerts_hourly TO grafana_ro;
GRANT SELECT ON pingan.divisions TO grafana_ro;

-- The v_* views read the raw tables with the view owner's rights only when they are
-- SQL SECURITY DEFINER views (ClickHouse >= 24.2); with INVOKER views (the default) the user would
-- need the raw columns too. Check with:  SHOW CREATE VIEW pingan.v_alerts
