-- Three-colour risk households (三色风险户) count distinct households. The masked household ids of
-- v_grid_events collide, so the view gains household_key: a 64-bit hash of the (already
-- pseudonymous) household id. It identifies nobody outside ClickHouse, and lets the dashboards count
-- households from the view instead of reading the raw grid table.
DROP VIEW IF EXISTS v_grid_events;

CREATE VIEW IF NOT EXISTS v_grid_events AS
SELECT event_id, ts, county_code, county_name, township_code, township_name, village_code, village_name, report_id, status, category, grid_id,
       risk_level, reporter,
       if(household_id IS NULL, NULL, if(lengthUTF8(household_id) <= 4, repeat('*', toUInt32(lengthUTF8(household_id))), concat(substringUTF8(household_id, 1, 2), '***', substringUTF8(household_id, lengthUTF8(household_id) - 1, 2)))) AS household_id_masked,
       if(household_id IS NULL, NULL, sipHash64(household_id)) AS household_key
FROM events_grid FINAL;
