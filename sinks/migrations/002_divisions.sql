-- The division list (county / township / village), loaded from the package data after migrations,
-- so SQL (dashboards, townships without fraud) can join names and count townships.
CREATE TABLE IF NOT EXISTS divisions
(
    level LowCardinality(String),
    code String,
    name String,
    parent_code String
)
ENGINE = ReplacingMergeTree
ORDER BY (level, code);
