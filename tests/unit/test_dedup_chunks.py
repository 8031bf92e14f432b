"""De-duplication state goes to the changelog in chunks of ids, not one record per event, and a
restarted engine still recognises every event it has seen (nothing counted twice after a crash)."""

from __future__ import annotations

import json

from rulehelp import T0, Events, fired, reference_ruleset, run, scenario

from pingan.streams.engine import Engine
from pingan.streams.engine.dedup import _unpack, id_hash
from pingan.streams.engine.engine import SEEN_CHUNK


def apply(table: dict, changes: dict) -> None:
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def test_one_changelog_record_per_chunk_of_ids():
    ev = Events()
    engine = Engine(reference_ruleset())
    n = SEEN_CHUNK * 2 + 5
    run(engine, [ev(i * 0.01, kind="online", camera_id=f"CAM-{i % 7}") for i in range(n)])
    changes = engine.dirty_state()
    chunks = {k: v for k, v in changes.items() if k.startswith("s:camera.alerts:")}
    assert len(chunks) == 3
    assert sum(len(_unpack(v["h"])) for v in chunks.values()) == n
    assert not any(k.startswith("d:") for k in changes)
    assert len(changes) < 20  # a handful of rule keys and the clock, not one record per event
    assert engine.dirty_state() == {}  # nothing new, nothing written


def test_restored_engine_drops_replayed_events_and_gives_the_same_alerts():
    ruleset = reference_ruleset()
    events = scenario(11)
    whole = fired(run(Engine(ruleset), events))
    cut = len(events) // 2
    first = Engine(ruleset)
    table: dict = {}
    before = []
    for i, e in enumerate(events[:cut]):
        before += first.process(e)
        if i % 37 == 0:
            apply(table, first.dirty_state())
    apply(table, first.dirty_state())
    table = json.loads(json.dumps(table))  # what the changelog stores
    restarted = Engine(ruleset)
    restarted.restore_state(table.items())
    after = run(restarted, events[cut - 20:])  # a replay from the last committed offset (within 6 h)
    assert restarted.stats["duplicates"] == 20
    assert fired(before) + fired(after) == whole


def test_new_chunks_after_a_restore_do_not_overwrite_old_ones():
    ev = Events()
    engine = Engine(reference_ruleset())
    run(engine, [ev(0, kind="online", event_id="a")])
    table: dict = {}
    apply(table, engine.dirty_state())
    again = Engine(reference_ruleset())
    again.restore_state(json.loads(json.dumps(table)).items())
    run(again, [ev(1, kind="online", event_id="b")])
    apply(table, again.dirty_state())
    third = Engine(reference_ruleset())
    third.restore_state(table.items())
    assert third._seen.count("camera.alerts") == 2
    assert third._seen.seen("camera.alerts", "a") and third._seen.seen("camera.alerts", "b")


def test_legacy_per_event_keys_are_read_and_rewritten_as_chunks():
    engine = Engine(reference_ruleset())
    engine.restore_state([("d:camera.alerts:x1", T0), ("d:camera.alerts:x2", T0 + 1)])
    assert engine.process({"topic": "camera.alerts", "event_id": "x1", "ts": T0 + 2}) == []
    assert engine.stats["duplicates"] == 1
    changes = engine.dirty_state()
    assert changes["d:camera.alerts:x1"] is None and changes["d:camera.alerts:x2"] is None
    (chunk,) = [v for k, v in changes.items() if k.startswith("s:")]
    assert sorted(_unpack(chunk["h"])) == sorted([id_hash("x1"), id_hash("x2")])


def test_expired_chunks_are_deleted():
    ev = Events()
    engine = Engine(reference_ruleset())
    run(engine, [ev(0, kind="online", event_id="old")])
    key = next(k for k in engine.dirty_state() if k.startswith("s:camera.alerts:"))
    engine.advance_to(T0 + 30 * 86400.0)
    assert engine.dirty_state()[key] is None
    assert engine._seen.count("camera.alerts") == 0
