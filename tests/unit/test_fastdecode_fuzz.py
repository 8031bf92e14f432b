"""Randomized comparison of the generated fast decode path with the pydantic decoder.

Simulated traffic (with its broken messages) is replayed through both decoders, then each message
is mutated at random - fields dropped, nulled, retyped or swapped with tricky values, extra fields
added (including names the model validators read), timestamps reshaped, keys duplicated - and the
outcomes must be identical: the same record (compared with value types, so ``1`` is not ``1.0`` and
``Decimal('1.0')`` is not ``Decimal('1.00')``) or the same rejection reason. The decoders keep their
memos across messages, so mutated messages meet memo entries made by valid ones.
"""

from __future__ import annotations

import random
from decimal import Decimal

import orjson
import pytest

from pingan.errors import InvalidEvent
from pingan.schemas.decode import Decoder
from pingan.schemas.events import EVENT_MODELS
from pingan.schemas.privacy import Pseudonymizer
from pingan.streams.fastdecode import FastDecoder

KEY = "fuzz-key"


def canonical(value):
    """A comparable form that keeps the types (``==`` alone says 1 == 1.0 == True)."""
    if isinstance(value, dict):
        return ("dict", sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", [canonical(v) for v in value])
    return (type(value).__name__, repr(value))


def outcome(decoder, topic, raw):
    try:
        return canonical(decoder.decode(topic, raw))
    except InvalidEvent as exc:
        return ("invalid", exc.reason, tuple(exc.details or ()))
    except Exception as exc:  # noqa: BLE001 - a validator raising something else must do so on both paths
        return ("error", type(exc).__name__, str(exc))


TS_VARIANTS = [
    lambda ts, r: ts,
    lambda ts, r: ts[:17] + f"{r.randrange(0, 62):02d}" + ts[19:],  # another second (60, 61 invalid)
    lambda ts, r: ts[:14] + f"{r.randrange(0, 61):02d}" + ts[16:],  # another minute
    lambda ts, r: ts[:11] + f"{r.randrange(0, 25):02d}" + ts[13:],  # another hour
    lambda ts, r: ts[:8] + f"{r.randrange(0, 33):02d}" + ts[10:],  # another day (30/31 Feb...)
    lambda ts, r: ts[:19] + r.choice(["Z", "z", "+08:00", "-00:00", "+23:59", "+24:00", "+08:60", "+0800", "", "+08"]),
    lambda ts, r: ts[:19] + "." + "7" * r.randrange(0, 8) + ts[19:],  # fractions, 0..7 digits
    lambda ts, r: ts.replace("T", r.choice([" ", "t", "_"])),
    lambda ts, r: ts[:16] + ts[19:],  # no seconds
    lambda ts, r: "２" + ts[1:],  # a non-ASCII digit
    lambda ts, r: ts + r.choice(["", " ", "\n", "Z"]),
    lambda ts, r: r.choice([1795910400, 1795910400.5, None, True, [ts], {"ts": ts}, ""]),
]

TRICKY = [None, True, False, 0, 1, -1, 1.0, 0.5, -0.0, 1.5, 1e30, 2 ** 63 - 1, 10 ** 16, 120, 121, "", "0", "1",
          "532301", "532301101", "532301101001", "532399", "５３２３０１", "532301 ", "face_match", "plate_match",
          "completed", "risk_assessment", "reported", "x" * 65, "x" * 2001, [], [1], {}, {"a": 1}, "0.9",
          "53230119500101123X", "+86 138-0000-0000", 1000.255, 1000.25, 99.999, 1e-7]

EXTRA_NAMES = ["remark", "village_code", "township_code", "counties", "townships", "get", "extra", "topic", "stream",
               "county_name", "ValueError", "parent_code", "__class__", "model_extra", "kind"]


def mutate(rng: random.Random, topic: str, event: dict, pool: dict[str, list]) -> bytes:
    fields = list(EVENT_MODELS[topic].model_fields)
    event = dict(event)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        action = rng.random()
        name = rng.choice(fields)
        if action < 0.15:
            event.pop(name, None)
        elif action < 0.25:
            event[name] = None
        elif action < 0.45 and "ts" in event and isinstance(event["ts"], str):
            event["ts"] = rng.choice(TS_VARIANTS)(event["ts"], rng)
        elif action < 0.65:
            event[name] = rng.choice(TRICKY)
        elif action < 0.8 and pool.get(name):
            event[name] = rng.choice(pool[name])  # a value of another event (other county, township...)
        elif action < 0.9:
            event[rng.choice(EXTRA_NAMES)] = rng.choice(TRICKY)
    raw = orjson.dumps(event)
    if rng.random() < 0.05 and event:  # a duplicated key: the last one counts
        name = rng.choice(list(event))
        raw = raw[:-1] + b"," + orjson.dumps({name: rng.choice(TRICKY)})[1:]
    return raw


@pytest.fixture(scope="module")
def traffic():
    from pingan.traffic.simulate import SimulationConfig, simulate

    config = SimulationConfig(events=4000, start=1_795_910_400, duration_s=2 * 86400, seed=11, invalid_share=0.1)
    return [(m.topic, m.value_bytes()) for m in simulate(config)]


def test_fuzzed_traffic_decodes_exactly_as_pydantic_does(traffic):
    slow, fast = Decoder(Pseudonymizer(KEY)), FastDecoder(Pseudonymizer(KEY))
    rng = random.Random(20261129)
    pool: dict[str, list] = {}
    accepted_fast = accepted_second = compared = 0
    for topic, raw in traffic:
        expected = outcome(slow, topic, raw)
        assert outcome(fast, topic, raw) == expected, raw
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        for name, value in event.items():
            values = pool.setdefault(name, [])
            if len(values) < 200 and value not in values:
                values.append(value)
        for _ in range(4):
            mutated = mutate(rng, topic, event, pool)
            before, second = fast.slow, fast.second
            expected = outcome(slow, topic, mutated)
            assert outcome(fast, topic, mutated) == expected, mutated
            accepted_fast += fast.slow == before
            accepted_second += fast.slow == before and fast.second > second
            compared += 1
    # the comparison means something only if both paths see plenty of work
    assert compared > 12000
    assert accepted_fast > compared // 5
    assert compared // 50 < accepted_second < accepted_fast // 2  # both tiers accept, msgspec most
    assert fast.slow > compared // 5


def test_a_validator_reads_an_extra_field_by_its_name():
    """FraudCase has no village_code field, but pydantic hands an extra ``village_code`` to the division check."""
    slow, fast = Decoder(Pseudonymizer(KEY)), FastDecoder(Pseudonymizer(KEY))
    event = {"event_id": "f1", "ts": "2026-11-29T10:00:00+08:00", "county_code": "532301", "township_code": "532301101"}
    for extra in ("999", "532301101001", None, 7):
        raw = orjson.dumps({**event, "village_code": extra})
        assert outcome(fast, "fraud.cases", raw) == outcome(slow, "fraud.cases", raw)
    assert outcome(fast, "fraud.cases", orjson.dumps({**event, "village_code": "999"}))[0] == "invalid"


def test_memo_hits_do_not_widen_what_is_accepted():
    """After a valid message fills the memos, near-misses of it are still judged like pydantic does."""
    slow, fast = Decoder(Pseudonymizer(KEY)), FastDecoder(Pseudonymizer(KEY))
    good = {"event_id": "g1", "ts": "2026-11-29T10:00:07+08:00", "county_code": "532301",
            "township_code": "532301101", "village_code": "532301101001", "category": "risk_assessment",
            "risk_level": "high", "reporter": "resident"}
    assert outcome(fast, "grid.reports", orjson.dumps(good)) == outcome(slow, "grid.reports", orjson.dumps(good))
    near = [("county_code", 532301), ("county_code", ["532301"]), ("village_code", "532301101001\n"),
            ("risk_level", None), ("ts", "2026-11-29T10:00:60+08:00"), ("ts", "2026-11-29T10:00:07+08:60"),
            ("ts", "2026-11-29T10:00:07.5+08:00"), ("ts", "2026-11-29T10:00:07+08:00 "), ("ts", "2026-11-29T10:00:7+08:00"),
            ("ts", "2026-11-29T10:00:07-08:00"), ("ts", "2026-11-29T10:00:07Z"), ("ts", "2026-11-29T10:00:59+08:00")]
    for name, value in near:
        raw = orjson.dumps({**good, name: value})
        assert outcome(fast, "grid.reports", raw) == outcome(slow, "grid.reports", raw), (name, value)


def test_records_keep_their_value_types():
    slow, fast = Decoder(Pseudonymizer(KEY)), FastDecoder(Pseudonymizer(KEY))
    raw = orjson.dumps({"event_id": "s1", "ts": "2026-11-29T10:00:00Z", "county_code": "532301", "status": "completed",
                        "sla_hours": 48, "elapsed_hours": 3, "visits": 2, "one_visit_item": False})
    record = fast.decode("service.records", raw)
    assert fast.slow == 0
    assert type(record["sla_hours"]) is float and type(record["elapsed_hours"]) is float and type(record["ts"]) is float
    assert canonical(record) == canonical(slow.decode("service.records", raw))
    raw = orjson.dumps({"event_id": "f1", "ts": "2026-11-29T10:00:00Z", "county_code": "532301",
                        "township_code": "532301101", "loss_yuan": 12})
    assert fast.decode("fraud.cases", raw)["loss_yuan"].as_tuple() == Decimal("12.00").as_tuple()


@pytest.mark.parametrize("extra", [b'"big":123456789012345678901234567890', b'"big":-9223372036854775809',
                                   b'"big":18446744073709551616', b'"big":18446744073709551615',
                                   b'"big":{"a":[1,99999999999999999999999]}', b'"big":1.5e300', b'"big":0.1',
                                   b'"deep":' + b"[" * 150 + b"]" * 150, b'"deep":' + b"[" * 600 + b"]" * 600])
def test_extras_pydantic_reads_differently_go_to_pydantic(extra):
    """orjson reads integers beyond 64 bits as floats (pydantic keeps them) and nests deeper."""
    slow, fast = Decoder(Pseudonymizer(KEY)), FastDecoder(Pseudonymizer(KEY))
    raw = b'{"event_id":"s1","ts":"2026-11-29T10:00:00Z","county_code":"532301",' + extra + b"}"
    assert outcome(fast, "service.records", raw) == outcome(slow, "service.records", raw)

