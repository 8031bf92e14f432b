"""The wire contract (../shared/contract/events.md): what is accepted, what is dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from pingan.errors import InvalidEvent
from pingan.schemas.decode import Decoder
from pingan.schemas.divisions import load_divisions, parse_divisions
from pingan.schemas.export import JSON_DIR, render_all
from pingan.schemas.privacy import Pseudonymizer, mask

SHARED_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "chuxiong_divisions.csv"


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return Decoder(Pseudonymizer("test-key"))


def camera(**kw):
    base = {"event_id": "c1", "ts": "2026-11-29T21:14:03+08:00", "camera_id": "CAM-532301-000123",
            "county_code": "532301", "township_code": "532301101", "kind": "stranger"}
    base.update(kw)
    return orjson.dumps({k: v for k, v in base.items() if v is not None})


def grid(**kw):
    base = {"event_id": "g1", "ts": "2026-11-29T09:00:00+08:00", "report_id": "R1", "status": "reported",
            "category": "dispute_family", "county_code": "532301", "township_code": "532301101",
            "village_code": "532301101001", "reporter": "grid_worker"}
    base.update(kw)
    return orjson.dumps({k: v for k, v in base.items() if v is not None})


def fraud(**kw):
    base = {"event_id": "f1", "ts": "2026-11-29T09:00:00Z", "case_id": "F1", "status": "reported",
            "fraud_type": "telecom", "county_code": "532301", "township_code": "532301101", "loss_yuan": 1200.5}
    base.update(kw)
    return orjson.dumps({k: v for k, v in base.items() if v is not None})


def service(**kw):
    base = {"event_id": "s1", "ts": "2026-11-29T09:00:00+08:00", "record_id": "S1", "status": "completed",
            "county_code": "532301", "channel": "online", "one_visit_item": True, "visits": 1,
            "sla_hours": 24, "elapsed_hours": 3.5, "satisfaction": 5}
    base.update(kw)
    return orjson.dumps({k: v for k, v in base.items() if v is not None})


def test_valid_camera_event_is_enriched(decoder):
    event = decoder.decode("camera.alerts", camera(extra_field="kept"))
    assert event["county_name"] == "楚雄市"
    assert event["township_name"] == "鹿城镇"
    assert event["stream"] == "camera"
    assert event["extra"] == {"extra_field": "kept"}
    # 21:14:03 at +08:00 is 13:14:03 UTC
    assert event["ts"] % 86400 == 13 * 3600 + 14 * 60 + 3


def test_utc_and_offset_timestamps_are_the_same_instant(decoder):
    a = decoder.decode("camera.alerts", camera(ts="2026-11-29T13:14:03Z"))
    b = decoder.decode("camera.alerts", camera(ts="2026-11-29T21:14:03+08:00"))
    assert a["ts"] == b["ts"]


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"\xff\xfe\x00", "JSON"),
        (b"not json", "JSON"),
        (b"[1, 2]", "object"),
        (camera(ts="2026-11-29T21:14:03"), "timezone"),
        (camera(confidence="0.9", kind="face_match", person_id="P1"), "number"),
        (camera(kind="teleport"), "kind"),
        (camera(county_code="532399"), "unknown county_code"),
        (camera(township_code="532302101"), "not in county"),
        (camera(township_code="999999999"), "unknown township_code"),
        (camera(village_code="532301102001"), "not in township"),
        (camera(kind="face_match", person_id=None, confidence=0.9), "person_id is required"),
        (camera(kind="face_match", person_id="P1"), "confidence is required"),
        (camera(kind="plate_match", confidence=0.9), "plate is required"),
        (camera(confidence=1.5), "less than or equal"),
        (camera(event_id=""), "event_id"),
        (camera(event_id="x" * 65), "event_id"),
        (camera(event_id=None), "event_id"),
        (camera(ts=None), "ts"),
    ],
)
def test_invalid_camera_messages(decoder, raw, reason):
    with pytest.raises(InvalidEvent) as info:
        decoder.decode("camera.alerts", raw)
    assert reason.lower() in (info.value.reason + " ".join(info.value.details)).lower()


def test_grid_requires_village_and_risk_level(decoder):
    assert decoder.decode("grid.reports", grid())["village_name"]
    with pytest.raises(InvalidEvent, match="village_code"):
        decoder.decode("grid.reports", grid(village_code=None))
    with pytest.raises(InvalidEvent, match="risk_level is required"):
        decoder.decode("grid.reports", grid(category="risk_assessment"))
    assert decoder.decode("grid.reports", grid(category="risk_assessment", risk_level="high"))["risk_level"] == "high"
    with pytest.raises(InvalidEvent):
        decoder.decode("grid.reports", grid(description="字" * 2001))


def test_fraud_money_is_exact_and_identifiers_are_pseudonymised(decoder):
    event = decoder.decode("fraud.cases", fraud(victim_id_number="53230119500101123X", victim_phone="13800000000"))
    assert str(event["loss_yuan"]) == "1200.50"
    assert event["victim_id_number"].startswith("p_") and "53230119500101123X" not in str(event)
    assert event["victim_phone"].startswith("p_") and "13800000000" not in str(event)
    same = decoder.decode("fraud.cases", fraud(event_id="f2", victim_id_number="53230119500101123X"))
    assert same["victim_id_number"] == event["victim_id_number"]
    other_key = Decoder(Pseudonymizer("another-key")).decode("fraud.cases", fraud(victim_id_number="53230119500101123X"))
    assert other_key["victim_id_number"] != event["victim_id_number"]


@pytest.mark.parametrize("raw", [fraud(loss_yuan="100.00"), fraud(loss_yuan=-1), fraud(loss_yuan=1.234),
                                 fraud(loss_yuan=1e30), fraud(loss_yuan=10**16), b'{"event_id":"f","ts":"2026-11-29T09:00:00Z",'
                                 b'"county_code":"532301","township_code":"532301101","loss_yuan":1e400}',
                                 fraud(victim_age=121), fraud(victim_age=True), fraud(victim_id_number="123"),
                                 fraud(status="lost")])
def test_invalid_fraud(decoder, raw):
    with pytest.raises(InvalidEvent):
        decoder.decode("fraud.cases", raw)


def test_service_rules(decoder):
    assert decoder.decode("service.records", service())["satisfaction"] == 5
    assert decoder.decode("service.records", service(status="accepted", elapsed_hours=None))["elapsed_hours"] is None
    for bad in (service(elapsed_hours=None), service(satisfaction=6), service(visits=-1), service(one_visit_item="yes"),
                service(sla_hours="24")):
        with pytest.raises(InvalidEvent):
            decoder.decode("service.records", bad)


def test_packaged_divisions_match_the_shared_list():
    divisions = load_divisions()
    assert len(divisions.counties) == 10 and len(divisions.townships) == 103 and len(divisions.villages) == 1106
    for township in divisions.townships.values():
        assert township.parent_code in divisions.counties
    if SHARED_CSV.exists():
        shared = parse_divisions(SHARED_CSV.read_text(encoding="utf-8"))
        assert shared == divisions


def test_find_county_by_name_or_code():
    divisions = load_divisions()
    assert divisions.find_county("楚雄市").code == "532301"
    assert divisions.find_county("武定").code == "532329"
    assert divisions.find_county("532322").name == "双柏县"
    assert divisions.find_county("北京") is None


def test_mask():
    assert mask("云E12345") == "云E***45"
    assert mask("P1") == "**"
    assert mask(None) is None


def test_exported_json_schemas_are_current():
    rendered = render_all()
    stale = [name for name, text in rendered.items()
             if not (JSON_DIR / name).exists() or (JSON_DIR / name).read_text(encoding="utf-8") != text]
    assert not stale, f"stale JSON Schema files {stale}: run python -m pingan.schemas.export"
    schema = json.loads(rendered["camera.alerts.schema.json"])
    assert "kind" in schema["properties"]
