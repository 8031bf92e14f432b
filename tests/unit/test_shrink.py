"""Rule state tables give their memory back once emptied (streams.engine.shrink)."""

from __future__ import annotations

import sys

from rulehelp import T0, Events

from pingan.streams.engine.shrink import shrink


def test_a_dict_or_set_emptied_by_deletes_is_rebuilt_in_place():
    for table in ({i: i for i in range(100_000)}, set(range(100_000))):
        big = sys.getsizeof(table)
        for i in range(99_990):
            table.discard(i) if isinstance(table, set) else table.pop(i)
        assert sys.getsizeof(table) == big  # CPython does not shrink on delete
        same = table
        assert shrink(table) is True and table is same and len(table) == 10
        assert sys.getsizeof(table) < big / 100
        assert shrink(table) is False  # right-sized now


def test_a_full_table_is_left_alone():
    table = {i: i for i in range(100_000)}
    assert shrink(table) is False and len(table) == 100_000


def test_fired_and_swept_deadlines_leave_small_tables(tmp_path):
    from test_rule_types import D, deadline

    ev = Events()
    engine = deadline(tmp_path)
    for i in range(20_000):
        engine.process(ev(i * 0.01, stream="grid", report_id=f"R{i}", status="reported", event_id=f"g{i}"))
    [rule] = engine.rules
    full = sys.getsizeof(rule.states)
    assert len(rule.states) == 20_000
    assert len(engine.advance_to(T0 + 2 * D)) == 20_000  # every clock fired
    engine.advance_to(T0 + 40 * D)  # and the sweeps ran
    assert rule.states == {} and sys.getsizeof(rule.states) < full / 100
    assert max(sys.getsizeof(ids.ids) for ids in engine._seen.topics.values()) < 64 * 1024
