"""The traffic simulator: deterministic, contract-exact, realistic enough to make every rule fire."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from pingan.errors import ConfigError, InvalidEvent, UnavailableError
from pingan.schemas.decode import Decoder
from pingan.schemas.privacy import Pseudonymizer
from pingan.traffic import ids
from pingan.traffic.clock import HOUR, is_night, local_hour, parse_duration, parse_start
from pingan.traffic.message import Message, parse_line, read_jsonl, write_jsonl
from pingan.traffic.simulate import SimulationConfig, Simulator

START = parse_start("2026-11-16T00:00:00+08:00")  # a Monday
WEEK = 7 * 86_400
N = 20_000


def run(**kw) -> tuple[Simulator, list[Message]]:
    options = {"events": N, "start": START, "duration_s": WEEK, "seed": 7}
    options.update(kw)
    sim = Simulator(SimulationConfig(**options))
    return sim, list(sim.messages())


@pytest.fixture(scope="module")
def week():
    return run()


@pytest.fixture(scope="module")
def decoded(week):
    """(message, decoded record or None, reason) for every message of the week."""
    decoder = Decoder(Pseudonymizer("test-key"))
    out = []
    for m in week[1]:
        try:
            out.append((m, decoder.decode(m.topic, m.value_bytes()), None))
        except InvalidEvent as exc:
            out.append((m, None, exc.reason))
    return out


@pytest.fixture(scope="module")
def events(week):
    """Distinct valid events as (topic, JSON object), in arrival order."""
    seen, out = set(), []
    for m in week[1]:
        if not m.is_raw and (m.topic, m.value["event_id"]) not in seen:
            seen.add((m.topic, m.value["event_id"]))
            out.append((m.topic, m.value))
    return out


def ts_of(value: dict) -> float:
    return datetime.fromisoformat(value["ts"]).timestamp()


def of(events, topic, **match):
    return [v for t, v in events if t == topic and all(v.get(k) == x for k, x in match.items())]


# -- determinism and exact counts ---------------------------------------------------------------

def test_same_seed_same_stream_other_seed_other_stream(week):
    _, again = run()
    assert [m.to_line() for m in again] == [m.to_line() for m in week[1]]
    _, other = run(seed=8)
    assert [m.to_line() for m in other[:50]] != [m.to_line() for m in week[1][:50]]


def test_exact_message_count_and_shares(week):
    sim, messages = week
    assert len(messages) == N
    assert sim.stats.invalid == sum(m.is_raw for m in messages) == round(N * 0.01)
    ids_seen = Counter((m.topic, m.value["event_id"]) for m in messages if not m.is_raw)
    assert sum(n - 1 for n in ids_seen.values()) == sim.stats.duplicates == round(N * 0.005)
    assert 0.01 < sim.stats.late / sim.stats.valid < 0.03
    assert set(sim.stats.per_topic) == {"camera.alerts", "grid.reports", "fraud.cases", "service.records"}
    shares = {t: n / N for t, n in sim.stats.per_topic.items()}
    assert 0.3 < shares["camera.alerts"] < 0.6 and 0.15 < shares["grid.reports"] < 0.4
    assert 0.02 < shares["fraud.cases"] < 0.12 and 0.1 < shares["service.records"] < 0.35


def test_shares_follow_the_options():
    sim, messages = run(events=4000, invalid_share=0.1, duplicate_share=0.05, late_share=0.0)
    assert sum(m.is_raw for m in messages) == 400 and sim.stats.duplicates == 200 and sim.stats.late == 0
    _, in_order = run(events=4000, duplicate_share=0.0, late_share=0.0)
    arrival = [ts_of(m.value) for m in in_order if not m.is_raw]
    assert arrival == sorted(arrival)  # without late events and re-deliveries, arrival order is event time
    with pytest.raises(ConfigError):
        SimulationConfig(events=10, start=START, duration_s=60, invalid_share=0.6)


def test_small_streams_are_exact_too():
    for n in (0, 1, 7, 150):
        sim, messages = run(events=n, duration_s=600)
        assert len(messages) == n
        assert all(START <= ts_of(m.value) < START + 600 for m in messages if not m.is_raw)


# -- the contract -------------------------------------------------------------------------------

def test_every_valid_message_decodes_and_every_invalid_one_fails(decoded):
    kinds = Counter()
    for m, record, reason in decoded:
        if m.is_raw:
            assert record is None, f"a broken message passed: {m.value[:200]!r}"
            kinds[reason.split(":")[0]] += 1
        else:
            assert reason is None, f"{reason}: {m.value}"
            assert m.key == m.value["event_id"]
    assert len(kinds) >= 6  # varied kinds of breakage
    raws = [m.value for m, _, _ in decoded if m.is_raw]
    assert any(not _utf8(r) for r in raws)
    assert any(b'"ts":"' in r and b"+08:00" not in r and b"Z\"" not in r for r in raws)


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_division_codes_are_real_and_cover_every_county(decoded):
    counties = Counter(r["county_code"] for _, r, _ in decoded if r)
    assert len(counties) == 10
    assert counties.most_common(1)[0][0] == "532301"  # 楚雄市 is the largest
    assert all(r["county_name"] for _, r, _ in decoded if r)


def test_event_times_inside_the_window_with_offset(events):
    for _, v in events:
        assert v["ts"].endswith("+08:00")
        assert START <= ts_of(v) < START + WEEK


# -- rhythm and late arrivals -------------------------------------------------------------------

def test_more_events_by_day_than_at_night_but_night_strangers_happen(events):
    by_hour = Counter(local_hour(ts_of(v)) for _, v in events)
    day = sum(by_hour[h] for h in range(9, 18)) / 9
    night = sum(by_hour[h] for h in range(0, 5)) / 5
    assert day > 2.5 * night
    strangers = [v for v in of(events, "camera.alerts") if v["kind"] in ("stranger", "unknown_vehicle")]
    night_share = sum(is_night(ts_of(v)) for v in strangers) / len(strangers)
    assert 0.1 < night_share < 0.6
    service_night = [v for v in of(events, "service.records", status="accepted", channel="hall") if is_night(ts_of(v))]
    assert not service_night  # halls are closed at night


def test_some_events_arrive_hours_late(events):
    latest, late = 0.0, 0
    for _, v in events:
        ts = ts_of(v)
        if ts < latest - HOUR:
            late += 1
        latest = max(latest, ts)
    assert late > 0.005 * len(events)


# -- lifecycles ---------------------------------------------------------------------------------

GRID_NEXT = {"reported": {"dispatched", "closed"}, "dispatched": {"resolved"}, "resolved": {"closed", "reopened"},
             "closed": {"reopened"}, "reopened": {"resolved"}}
FRAUD_NEXT = {"reported": {"investigating"}, "investigating": {"solved", "closed"}, "solved": {"closed"}}
SERVICE_NEXT = {"accepted": {"completed", "rejected"}}


@pytest.mark.parametrize("topic,id_field,first,allowed", [
    ("grid.reports", "report_id", "reported", GRID_NEXT),
    ("fraud.cases", "case_id", "reported", FRAUD_NEXT),
    ("service.records", "record_id", "accepted", SERVICE_NEXT),
])
def test_lifecycles_are_ordered(events, topic, id_field, first, allowed):
    cases = defaultdict(list)
    for v in of(events, topic):
        cases[v[id_field]].append(v)
    assert len(cases) > 100
    for case_id, evs in cases.items():
        evs.sort(key=ts_of)
        assert evs[0]["status"] == first, case_id
        for a, b in zip(evs, evs[1:]):
            assert ts_of(a) < ts_of(b), case_id
            assert b["status"] in allowed.get(a["status"], ()), (case_id, a["status"], b["status"])
        assert len({(v["county_code"], v.get("township_code")) for v in evs}) == 1


def test_grid_reports_overdue_and_reopened(events):
    reported, resolved, reopened = {}, {}, set()
    for v in of(events, "grid.reports"):
        if v["status"] == "reported":
            reported[v["report_id"]] = ts_of(v)
        elif v["status"] in ("resolved", "closed"):
            resolved.setdefault(v["report_id"], ts_of(v))
        elif v["status"] == "reopened":
            reopened.add(v["report_id"])
    delays = [resolved[r] - t for r, t in reported.items() if r in resolved]
    assert any(d > 48 * HOUR for d in delays) and any(d > 96 * HOUR for d in delays)
    assert sum(d <= 48 * HOUR for d in delays) > 0.7 * len(delays)
    assert reopened


def test_household_risk_levels_and_repeated_family_disputes(events):
    levels = Counter(v["risk_level"] for v in of(events, "grid.reports", category="risk_assessment", status="reported"))
    total = sum(levels.values())
    assert levels["low"] > levels["medium"] > levels["high"] > 0
    assert 0.7 < levels["low"] / total < 0.95
    disputes = Counter(v["household_id"] for v in of(events, "grid.reports", category="dispute_family", status="reported"))
    assert max(disputes.values()) >= 3


def test_high_risk_then_stranger_in_the_same_village_within_a_day(events):
    high = [(v["village_code"], ts_of(v)) for v in of(events, "grid.reports", status="reported", risk_level="high")]
    cams = [(v.get("village_code"), ts_of(v)) for v in of(events, "camera.alerts") if v["kind"] in ("stranger", "intrusion")]
    by_village = defaultdict(list)
    for village, ts in cams:
        by_village[village].append(ts)
    hits = sum(any(0 <= c - t <= 24 * HOUR for c in by_village[village]) for village, t in high)
    assert hits >= 3


# -- cameras ------------------------------------------------------------------------------------

def test_watchlist_hits_straddle_the_thresholds_and_trails_exist(events):
    faces = of(events, "camera.alerts", kind="face_match")
    conf = [v["confidence"] for v in faces]
    assert any(c < 0.85 for c in conf) and any(0.85 <= c < 0.90 for c in conf) and any(c >= 0.90 for c in conf)
    wanted = [v["confidence"] for v in faces if v["watchlist"] == "wanted"]
    assert any(c >= 0.9 for c in wanted) and any(c < 0.9 for c in wanted)
    plates = of(events, "camera.alerts", kind="plate_match")
    assert plates and all(v["plate"] and v["watchlist"] == "blacklist_vehicle" for v in plates)
    seen = defaultdict(list)
    for v in faces:
        seen[v["person_id"]].append((ts_of(v), v["camera_id"]))
    trails = 0
    for sightings in seen.values():
        sightings.sort()
        trails += any(b[0] - a[0] <= 1800 and a[1] != b[1] for a, b in zip(sightings, sightings[1:]))
    assert trails >= 5


def test_cameras_go_offline_some_for_more_than_two_hours(events):
    status = [v for v in of(events, "camera.alerts") if v["kind"] in ("offline", "online")]
    offline_at, gaps, never = {}, [], 0
    for v in sorted(status, key=ts_of):
        if v["kind"] == "offline":
            offline_at[v["camera_id"]] = ts_of(v)
        elif v["camera_id"] in offline_at:
            gaps.append(ts_of(v) - offline_at.pop(v["camera_id"]))
    assert any(g > 2 * HOUR for g in gaps) and sum(g <= 2 * HOUR for g in gaps) > len(gaps) / 2
    assert offline_at  # some still offline at the end


def test_night_stranger_bursts_in_one_village(events):
    night = sorted((v["village_code"], ts_of(v)) for v in of(events, "camera.alerts")
                   if v["kind"] in ("stranger", "unknown_vehicle") and v.get("village_code") and is_night(ts_of(v)))
    bursts = sum(1 for a, c in zip(night, night[2:]) if a[0] == c[0] and c[1] - a[1] <= HOUR)
    assert bursts >= 3


# -- fraud --------------------------------------------------------------------------------------

def test_fraud_victims_losses_clusters_and_repeat_victims(events):
    reported = of(events, "fraud.cases", status="reported")
    assert any(v["victim_age"] >= 60 for v in reported) and any(v["victim_age"] < 60 for v in reported)
    assert all(v["victim_age"] >= 60 for v in reported if v["fraud_type"] == "elderly_care")
    assert any(v["loss_yuan"] >= 100_000 for v in reported)
    for v in reported:
        if "victim_id_number" in v:
            assert ids.id_number_valid(v["victim_id_number"]), v["victim_id_number"]
            assert v["victim_id_number"][:6] == v["county_code"]
    by_id = defaultdict(set)
    for v in reported:
        if "victim_id_number" in v:
            by_id[v["victim_id_number"]].add(v["case_id"])
    assert any(len(cases) >= 2 for cases in by_id.values())
    by_township = defaultdict(list)
    for v in reported:
        by_township[v["township_code"]].append(ts_of(v))
    clusters = 0
    for times in by_township.values():
        times.sort()
        clusters += any(c - a <= 24 * HOUR for a, c in zip(times, times[2:]))
    assert clusters >= 2


def test_some_townships_have_no_fraud(week, events):
    sim, _ = week
    assert 0 < len(sim.world.fraud_townships) < len(sim.world.township_weights)
    assert {v["township_code"] for v in of(events, "fraud.cases")} <= set(sim.world.fraud_townships)


# -- service ------------------------------------------------------------------------------------

def test_service_records_online_hall_sla_and_visits(events):
    done = of(events, "service.records", status="completed")
    channels = Counter(v["channel"] for v in done)
    assert channels["online"] > 0 and channels["hall"] > 0
    assert any(v["one_visit_item"] and v["visits"] > 1 for v in done)
    breaches = sum(v["elapsed_hours"] > v["sla_hours"] for v in done)
    assert 0.02 < breaches / len(done) < 0.2
    assert {v["satisfaction"] for v in done if "satisfaction" in v} == {1, 2, 3, 4, 5}


# -- identifiers --------------------------------------------------------------------------------

def test_id_numbers_have_valid_check_digits():
    import random

    rng = random.Random(1)
    assert ids.id_check_digit("11010519491231002") == "X"  # the GB 11643 example
    for _ in range(200):
        number = ids.national_id(rng, "532301", rng.randrange(18, 90), datetime(2026, 11, 29).date())
        assert ids.id_number_valid(number) and number.startswith("532301")
    assert not ids.id_number_valid("110105194912310020")
    assert ids.mobile_phone(rng).isdigit()


# -- the file format ----------------------------------------------------------------------------

def test_file_written_and_read_back_is_identical(week, tmp_path):
    _, messages = week
    path = tmp_path / "traffic.jsonl"
    with path.open("wb") as handle:
        assert write_jsonl(messages, handle) == len(messages)
    back = list(read_jsonl(path))
    assert back == messages
    assert [m.value_bytes() for m in back] == [m.value_bytes() for m in messages]
    text = path.read_bytes()
    assert b'"value_b64"' in text  # non-UTF-8 bytes are kept in base64
    assert text.count(b"\n") == len(messages)


def test_surrogateescape_strings_replay_byte_exactly():
    import json

    raw = b'{"event_id":"x","d":"\xd6\xd0"}'
    line = json.dumps({"topic": "grid.reports", "key": None, "value": raw.decode("utf-8", "surrogateescape")})
    assert parse_line(line).value == raw
    message = Message("grid.reports", None, raw)
    assert parse_line(message.to_line()) == message


def test_bad_lines_name_the_file_and_line(tmp_path):
    from pingan.traffic.message import TrafficFileError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"topic": "camera.alerts", "key": null, "value": {}}\n{"topic": 3}\n')
    with pytest.raises(TrafficFileError, match=r"bad.jsonl:2"):
        list(read_jsonl(path))


# -- CLI ----------------------------------------------------------------------------------------

def test_durations_and_plan():
    import argparse

    from pingan.cli.simulate import plan

    assert parse_duration("30m") == 1800 and parse_duration("1h30m") == 5400 and parse_duration("7d") == WEEK
    assert parse_duration("90") == 90
    for bad in ("", "abc", "5x", "0s"):
        with pytest.raises(ConfigError):
            parse_duration(bad)

    def ns(**kw):
        base = {"events": None, "rate": None, "duration": None, "start": "2026-11-29T00:00:00"}
        base.update(kw)
        return argparse.Namespace(**base)

    assert plan(ns(events=1000, rate=50.0)) == (1000, 20.0, parse_start("2026-11-29T00:00:00+08:00"))
    assert plan(ns(rate=10.0, duration="1m"))[:2] == (600, 60.0)
    assert plan(ns(duration="6h"))[:2] == (10_000, 6 * HOUR)


def test_cli_writes_the_file_and_prints_a_summary(tmp_path, capsys):
    from pingan.cli.main import main

    out = tmp_path / "t.jsonl"
    argv = ["simulate", "--events", "3000", "--duration", "6h", "--start", "2026-11-29T08:00:00+08:00",
            "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    summary = capsys.readouterr().out
    assert "simulated 3,000 messages" in summary and "30 invalid" in summary and "camera.alerts" in summary
    first = out.read_bytes()
    assert main(argv) == 0
    assert out.read_bytes() == first
    assert len(first.splitlines()) == 3000


def test_unreachable_broker_is_one_line_error(tmp_path, capsys):
    import socket

    from pingan.cli.main import main

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "t.jsonl"
    path.write_bytes(Message("camera.alerts", None, b"x").to_line())
    assert main(["produce", str(path), "--bootstrap", f"127.0.0.1:{port}"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not reachable" in err[0] and f"127.0.0.1:{port}" in err[0]


def test_kafka_client_unreachable_is_one_line_unavailable_error(monkeypatch):
    import socket

    from pingan import kafka_client
    from pingan.config import load_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(kafka_client, "DEFAULT_BOOTSTRAP_TIMEOUT_MS", 500)
    with pytest.raises(UnavailableError, match=f"127.0.0.1:{port} is not reachable") as info:
        kafka_client.make_producer(load_settings(), bootstrap=f"127.0.0.1:{port}")
    assert "\n" not in str(info.value)


def test_kafka_client_security_options():
    from pydantic import SecretStr

    from pingan.config import KafkaSettings
    from pingan.kafka_client import client_options

    plain = client_options(KafkaSettings(bootstrap="a:9092, b:9092"))
    assert plain == {"bootstrap_servers": ["a:9092", "b:9092"], "security_protocol": "PLAINTEXT"}
    scram = client_options(KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                                         sasl_username="pingan", sasl_password=SecretStr("s3cret")))
    assert scram["sasl_mechanism"] == "SCRAM-SHA-512" and scram["sasl_plain_password"] == "s3cret"
    with pytest.raises(ConfigError):
        client_options(KafkaSettings.model_construct(security_protocol="SASL_SSL"))  # bypass the model's own check
    with pytest.raises(ConfigError):
        client_options(KafkaSettings.model_construct(security_protocol="TLS"))
    assert issubclass(UnavailableError, Exception)


def test_generator_speed_is_reported():
    """Not a wall-clock assertion: prints the rate for the report."""
    import time

    sim = Simulator(SimulationConfig(events=30_000, start=START, duration_s=WEEK, seed=1))
    t0 = time.perf_counter()
    buf = io.BytesIO()
    write_jsonl(sim.messages(), buf)
    dt = time.perf_counter() - t0
    print(f"\nsimulate: {30_000 / dt:,.0f} messages/s to JSONL")
    assert buf.getvalue().count(b"\n") == 30_000
