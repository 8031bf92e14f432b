-- Raw tables: one row per received event, alert or dead letter.
-- ReplacingMergeTree keyed by (county, day, id): a re-delivered event (same event_id, same ts) collapses
-- to one row on merge, and every report query reads with FINAL or de-duplicates by id at query time.
-- Insert deduplication tokens (topic-partition-offset ranges) need non_replicated_deduplication_window.
-- Personal columns get their TTL from settings (clickhouse.personal_ttl_days), applied after migrations.

CREATE TABLE IF NOT EXISTS events_camera
(
    event_id String,
    ts DateTime64(3, 'UTC'),
    county_code LowCardinality(String),
    county_name LowCardinality(String),
    township_code LowCardinality(String),
    township_name LowCardinality(String),
    village_code Nullable(String),
    village_name Nullable(String),
    camera_id Nullable(String),
    kind LowCardinality(Nullable(String)),
    person_id Nullable(String),
    watchlist LowCardinality(Nullable(String)),
    plate Nullable(String),
    confidence Nullable(Float64),
    image_ref Nullable(String),
    extra String DEFAULT '{}',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (county_code, toDate(ts), event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS events_grid
(
    event_id String,
    ts DateTime64(3, 'UTC'),
    county_code LowCardinality(String),
    county_name LowCardinality(String),
    township_code LowCardinality(String),
    township_name LowCardinality(String),
    village_code Nullable(String),
    village_name Nullable(String),
    report_id Nullable(String),
    status LowCardinality(Nullable(String)),
    category LowCardinality(Nullable(String)),
    grid_id Nullable(String),
    household_id Nullable(String),
    risk_level LowCardinality(Nullable(String)),
    reporter LowCardinality(Nullable(String)),
    description Nullable(String),
    extra String DEFAULT '{}',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (county_code, toDate(ts), event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS events_fraud
(
    event_id String,
    ts DateTime64(3, 'UTC'),
    county_code LowCardinality(String),
    county_name LowCardinality(String),
    township_code LowCardinality(String),
    township_name LowCardinality(String),
    case_id Nullable(String),
    status LowCardinality(Nullable(String)),
    fraud_type LowCardinality(Nullable(String)),
    loss_yuan Nullable(Decimal(18, 2)),
    victim_age Nullable(UInt8),
    victim_id_number Nullable(String),
    victim_phone Nullable(String),
    channel LowCardinality(Nullable(String)),
    extra String DEFAULT '{}',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (county_code, toDate(ts), event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS events_service
(
    event_id String,
    ts DateTime64(3, 'UTC'),
    county_code LowCardinality(String),
    county_name LowCardinality(String),
    township_code LowCardinality(Nullable(String)),
    township_name LowCardinality(Nullable(String)),
    record_id Nullable(String),
    status LowCardinality(Nullable(String)),
    department LowCardinality(Nullable(String)),
    item_code Nullable(String),
    item_name Nullable(String),
    channel LowCardinality(Nullable(String)),
    one_visit_item Nullable(Bool),
    visits Nullable(UInt32),
    sla_hours Nullable(Float64),
    elapsed_hours Nullable(Float64),
    satisfaction Nullable(UInt8),
    extra String DEFAULT '{}',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (county_code, toDate(ts), event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS alerts
(
    alert_id String,
    rule_id LowCardinality(String),
    rule_version String,
    severity LowCardinality(String),
    key String,
    ts DateTime64(3, 'UTC'),
    county_code LowCardinality(String),
    county_name LowCardinality(Nullable(String)),
    township_code LowCardinality(Nullable(String)),
    township_name LowCardinality(Nullable(String)),
    village_code Nullable(String),
    title String,
    evidence Array(String),
    figures String DEFAULT '{}',
    labels Map(String, String),
    domain LowCardinality(Nullable(String)),
    status LowCardinality(String),
    topics Array(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (county_code, toDate(ts), alert_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Dead letters keep a redacted text of the message (ID-number and phone patterns removed), never the
-- original bytes: those stay in the Kafka dead-letter topic. A plain MergeTree: a message dead-lettered
-- again after a crash is a second row, and queries count (topic, partition, offset) once, at its
-- first received_at (a replacing engine could keep the later arrival).
CREATE TABLE IF NOT EXISTS deadletters
(
    reason String,
    details Array(String),
    topic LowCardinality(String),
    partition Int32,
    offset Int64,
    key_text Nullable(String),
    value_text String,
    value_bytes UInt32,
    received_at DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 10000;
