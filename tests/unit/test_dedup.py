"""SeenIds: re-deliveries are dropped, memory is bounded by capacity and by event-time horizon, and
the changelog follows the same bounds (a restart never restores more than the bound)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from rulehelp import T0, Events, reference_ruleset, run

from pingan.streams.engine import Engine
from pingan.streams.engine.dedup import BUCKETS, SEEN_CHUNK, SeenIds, _unpack, id_hash

CAM = "camera.alerts"


def apply(table: dict, changes: dict) -> None:
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def chunk_ids(table: dict, topic: str = CAM) -> list[int]:
    return [h for k, v in table.items() if k.startswith(f"s:{topic}:") for h in _unpack(v["h"])]


def test_a_second_delivery_is_a_duplicate_per_topic():
    seen = SeenIds(100)
    assert seen.add(CAM, "e1") is True
    assert seen.add(CAM, "e1") is False
    assert seen.add("grid.reports", "e1") is True  # same id, another topic: another event
    assert seen.seen(CAM, "e1") and not seen.seen(CAM, "e2")
    assert seen.count() == 2


def test_capacity_evicts_the_oldest_ids_first():
    max_ids = 160
    seen = SeenIds(max_ids, clock=[T0])
    bucket = max_ids // BUCKETS
    for i in range(1000):
        assert seen.add(CAM, f"e{i}")
        assert seen.count(CAM) <= max_ids
    assert seen.count(CAM) >= max_ids - 2 * bucket
    kept = [i for i in range(1000) if seen.seen(CAM, f"e{i}")]
    assert kept == list(range(1000 - len(kept), 1000))  # exactly the newest ones
    assert seen.add(CAM, "e999") is False
    assert seen.add(CAM, "e0") is True  # forgotten: beyond the bound (windows and alert ids keep exactness)


def test_horizon_evicts_ids_older_than_the_topic_horizon():
    clock = [T0]
    seen = SeenIds(10_000, clock=clock)
    for i in range(50):
        seen.add(CAM, f"old{i}")
    seen.add("fraud.cases", "f1")
    seen.changes()  # written at T0
    horizons = {CAM: 3600.0, "fraud.cases": 90 * 86400.0}
    seen.sweep(T0, horizons, 3600.0)  # the open bucket lives through one sweep ...
    seen.sweep(T0 + 600, horizons, 3600.0)  # ... and is closed at the next (its ids: written at T0)
    clock[0] = T0 + 1800
    seen.add(CAM, "new")
    seen.sweep(T0 + 1800, horizons, 3600.0)  # within the horizon: nothing dropped
    assert seen.count(CAM) == 51
    clock[0] = T0 + 3600 + 900
    seen.sweep(clock[0], horizons, 3600.0)
    assert not any(seen.seen(CAM, f"old{i}") for i in range(50))
    assert seen.seen(CAM, "new")  # 2700 s old
    assert seen.seen("fraud.cases", "f1")  # a longer horizon
    clock[0] = T0 + 3 * 3600
    seen.sweep(clock[0], horizons, 3600.0)
    seen.sweep(clock[0] + 1, horizons, 3600.0)
    assert seen.count(CAM) == 0


def test_evicted_chunks_are_tombstoned_and_a_restart_restores_at_most_the_bound():
    ev = Events()
    max_ids = 320
    engine = Engine(reference_ruleset(), dedup_max_ids=max_ids)
    table: dict = {}
    events = [ev(i * 0.5, kind="online", camera_id=f"CAM-{i % 5}") for i in range(3000)]
    for i, e in enumerate(events):
        engine.process(e)
        if i % 97 == 0:
            apply(table, engine.dirty_state())
    apply(table, engine.dirty_state())
    written = chunk_ids(table)
    assert max_ids - 2 * (max_ids // BUCKETS) <= len(written) <= max_ids
    assert len(set(written)) == len(written)
    assert set(written) == {id_hash(e["event_id"]) for e in events if engine._seen.seen(CAM, e["event_id"])}

    restarted = Engine(reference_ruleset(), dedup_max_ids=max_ids)
    restarted.restore_state(json.loads(json.dumps(table)).items())
    assert restarted._seen.count(CAM) == len(written)
    assert restarted.dirty_state().keys() <= {"t"}  # nothing to rewrite, nothing to delete
    replay = events[-100:]
    run(restarted, replay)
    assert restarted.stats["duplicates"] == 100 and restarted.stats["events"] == 0


def test_a_smaller_bound_after_a_restart_drops_the_oldest_chunks():
    ev = Events()
    engine = Engine(reference_ruleset(), dedup_max_ids=100_000)
    table: dict = {}
    for i in range(5 * SEEN_CHUNK):
        engine.process(ev(i * 0.1, kind="online", event_id=f"x{i}"))
        if i % SEEN_CHUNK == SEEN_CHUNK - 1:
            apply(table, engine.dirty_state())
    assert len(chunk_ids(table)) == 5 * SEEN_CHUNK
    small = Engine(reference_ruleset(), dedup_max_ids=2 * SEEN_CHUNK)
    small.restore_state(table.items())
    apply(table, small.dirty_state())
    assert len(chunk_ids(table)) == 2 * SEEN_CHUNK == small._seen.count(CAM)
    assert small._seen.seen(CAM, f"x{5 * SEEN_CHUNK - 1}") and not small._seen.seen(CAM, "x0")


def test_chunks_of_the_earlier_format_are_restored_and_rewritten():
    engine = Engine(reference_ruleset())
    old = {"ids": ["a1", "a2", "a3"], "ts": [T0, T0 + 1, T0 + 2]}
    engine.restore_state([("s:camera.alerts:7", old), ("t", T0 + 2)])
    assert engine.process({"topic": CAM, "event_id": "a2", "ts": T0 + 3}) == []
    assert engine.stats["duplicates"] == 1
    changes = engine.dirty_state()
    assert changes["s:camera.alerts:7"] is None  # the old record goes ...
    new = {k: v for k, v in changes.items() if k.startswith("s:") and v is not None}
    assert len(new) == 1 and "s:camera.alerts:7" not in new  # ... a new one (a fresh number) replaces it
    assert sorted(_unpack(next(iter(new.values()))["h"])) == sorted(id_hash(i) for i in old["ids"])


def test_the_hash_is_stable_across_processes():
    code = "from pingan.streams.engine.dedup import id_hash; print(id_hash('CAM-2026-000001'), id_hash('案件-17'))"
    outs = set()
    for seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout)
    assert len(outs) == 1
    assert outs.pop().split() == [str(id_hash("CAM-2026-000001")), str(id_hash("案件-17"))]


def test_bad_capacity_is_refused():
    with pytest.raises(ValueError):
        SeenIds(0)


def test_a_restored_chunk_larger_than_the_bound_leaves_a_working_set():
    big = Engine(reference_ruleset())
    ev = Events()
    run(big, [ev(i, kind="online", event_id=f"b{i}") for i in range(50)])
    table: dict = {}
    apply(table, big.dirty_state())
    small = Engine(reference_ruleset(), dedup_max_ids=10)
    small.restore_state(table.items())
    apply(table, small.dirty_state())
    assert small._seen.count(CAM) == 0 and chunk_ids(table) == []  # one 50-id chunk: over the bound, dropped
    run(small, [ev(100 + i, kind="online", event_id=f"n{i}") for i in range(30)])
    assert 10 - 2 <= small._seen.count(CAM) <= 10
    apply(table, small.dirty_state())
    assert 10 - 2 <= len(chunk_ids(table)) <= 10
    small.advance_to(T0 + 400 * 86400.0)
    small.advance_to(T0 + 800 * 86400.0)
    assert small._seen.count(CAM) == 0  # the horizon still applies
    apply(table, small.dirty_state())
    assert chunk_ids(table) == []
