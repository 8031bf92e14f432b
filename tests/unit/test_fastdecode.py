"""The generated fast decode path accepts only what pydantic accepts, with the same record."""

from __future__ import annotations

import orjson
import pytest

from pingan.errors import InvalidEvent
from pingan.schemas.decode import Decoder
from pingan.schemas.privacy import Pseudonymizer
from pingan.streams.fastdecode import FastDecoder

KEY = "test-key"
FRAUD = {"event_id": "f1", "ts": "2026-11-29T10:00:00+08:00", "case_id": "F1", "status": "reported",
         "fraud_type": "telecom", "county_code": "532301", "township_code": "532301101", "loss_yuan": 1000.25,
         "victim_age": 70, "victim_id_number": "53230119500101123X", "victim_phone": "+86 138-0000-0000",
         "channel": "phone"}
CAMERA = {"event_id": "c1", "ts": "2026-11-29T02:00:00Z", "camera_id": "CAM-1", "county_code": "532301",
          "township_code": "532301101", "village_code": "532301101001", "kind": "face_match", "person_id": "KP1",
          "watchlist": "wanted", "confidence": 0.95}
SERVICE = {"event_id": "s1", "ts": "2026-11-29T10:00:00.123+08:00", "record_id": "S1", "status": "completed",
           "county_code": "532301", "channel": "hall", "one_visit_item": True, "visits": 1, "sla_hours": 48,
           "elapsed_hours": 3, "satisfaction": 5}
GRID = {"event_id": "g1", "ts": "2026-11-29T10:00:00+08:00", "report_id": "R1", "status": "reported",
        "category": "risk_assessment", "risk_level": "high", "county_code": "532301", "township_code": "532301101",
        "village_code": "532301101001", "reporter": "resident", "description": "x" * 2000}
BASE = {"fraud.cases": FRAUD, "camera.alerts": CAMERA, "service.records": SERVICE, "grid.reports": GRID}

# (topic, field, value): each replaces one field of the valid event above (None deletes it)
VARIANTS = [
    ("fraud.cases", "loss_yuan", 1000.255), ("fraud.cases", "loss_yuan", -1), ("fraud.cases", "loss_yuan", "10"),
    ("fraud.cases", "loss_yuan", 10), ("fraud.cases", "loss_yuan", True), ("fraud.cases", "loss_yuan", 1e30),
    ("fraud.cases", "victim_age", 121), ("fraud.cases", "victim_age", 60.0), ("fraud.cases", "victim_age", True),
    ("fraud.cases", "victim_id_number", "5323011950010112"), ("fraud.cases", "victim_phone", "abc"),
    ("fraud.cases", "township_code", "532322101"), ("fraud.cases", "county_code", "532301\n"),
    ("fraud.cases", "county_code", "５３２３０１"), ("fraud.cases", "channel", "fax"), ("fraud.cases", "status", None),
    ("camera.alerts", "confidence", 1), ("camera.alerts", "confidence", 1.01), ("camera.alerts", "confidence", "0.9"),
    ("camera.alerts", "person_id", None), ("camera.alerts", "kind", "FACE_MATCH"), ("camera.alerts", "village_code", None),
    ("camera.alerts", "village_code", "532301102001"), ("camera.alerts", "ts", "2026-11-29T02:00:00"),
    ("camera.alerts", "ts", "2026-11-29 02:00:00Z"), ("camera.alerts", "ts", "2026-11-29T02:00:00.1234567Z"),
    ("camera.alerts", "ts", "20261129T020000Z"), ("camera.alerts", "ts", 1795910400), ("camera.alerts", "ts", None),
    ("camera.alerts", "event_id", ""), ("camera.alerts", "event_id", "x" * 65), ("camera.alerts", "event_id", 7),
    ("camera.alerts", "extra_field", {"a": [1, 2]}), ("camera.alerts", "camera_id", None),
    ("service.records", "one_visit_item", 1), ("service.records", "visits", -1), ("service.records", "sla_hours", -0.5),
    ("service.records", "elapsed_hours", None), ("service.records", "satisfaction", 6), ("service.records", "township_code", None),
    ("service.records", "township_code", "532301101"), ("service.records", "county_code", "999999"),
    ("grid.reports", "risk_level", None), ("grid.reports", "description", "x" * 2001), ("grid.reports", "village_code", None),
    ("grid.reports", "reporter", None), ("grid.reports", "ts", "2026-02-30T10:00:00+08:00"),
    ("grid.reports", "ts", "2026-11-29T24:00:00+08:00"), ("grid.reports", "ts", "2026-11-29T10:00:00+25:00"),
]


def outcome(decoder: Decoder, topic: str, raw: bytes):
    try:
        return decoder.decode(topic, raw)
    except InvalidEvent as exc:
        return ("invalid", exc.reason)
    except Exception as exc:  # noqa: BLE001 - a validator that raises something else: the same for both
        return ("error", type(exc).__name__)


@pytest.fixture(scope="module")
def decoders():
    return Decoder(Pseudonymizer(KEY)), FastDecoder(Pseudonymizer(KEY))


def test_every_topic_has_both_fast_paths(decoders):
    _, fast = decoders
    assert set(fast._fast) == set(BASE) and not fast.unsupported
    assert all(len(tiers) == 2 for tiers in fast._fast.values())


def test_extra_fields_take_the_orjson_tier(decoders):
    slow, fast = decoders
    raw = orjson.dumps({**CAMERA, "remark": "系统补录", "nested": {"a": [1, 2.5, None]}})
    before, second = fast.slow, fast.second
    assert outcome(fast, "camera.alerts", raw) == outcome(slow, "camera.alerts", raw)
    assert (fast.slow, fast.second) == (before, second + 1)


@pytest.mark.parametrize("topic", sorted(BASE))
def test_valid_events_take_the_fast_path_with_the_same_record(decoders, topic):
    slow, fast = decoders
    raw = orjson.dumps(BASE[topic])
    before, second = fast.slow, fast.second
    assert outcome(fast, topic, raw) == outcome(slow, topic, raw)
    assert (fast.slow, fast.second) == (before, second)  # the msgspec tier took it


@pytest.mark.parametrize("topic,field,value", VARIANTS)
def test_variants_decode_exactly_as_pydantic_does(decoders, topic, field, value):
    slow, fast = decoders
    event = dict(BASE[topic])
    if value is None:
        event.pop(field, None)
    else:
        event[field] = value
    raw = orjson.dumps(event)
    assert outcome(fast, topic, raw) == outcome(slow, topic, raw)


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b"[]", b"null", b'{"event_id": "x"}', b""])
def test_broken_bytes_get_pydantic_reasons(decoders, raw):
    slow, fast = decoders
    assert outcome(fast, "camera.alerts", raw) == outcome(slow, "camera.alerts", raw)


def test_simulated_traffic_matches(decoders):
    from pingan.traffic.simulate import SimulationConfig, simulate

    slow, fast = decoders
    config = SimulationConfig(events=3000, start=1_795_910_400, duration_s=86400, seed=5, invalid_share=0.05)
    n = 0
    for m in simulate(config):
        raw = m.value_bytes()
        assert outcome(fast, m.topic, raw) == outcome(slow, m.topic, raw), raw
        n += 1
    assert n == 3000
