"""Event time: watermark, reorder buffer, and live (many partitions) == backtest (one partition)."""

from __future__ import annotations

import random

import pytest
from rulehelp import T0, Events, fired, reference_ruleset, run, scenario

from pingan.streams.engine import Engine, ReorderBuffer, Timeline, Watermark
from pingan.streams.engine.testing import FakeClock

INF = float("inf")


def test_watermark_is_the_smallest_of_the_partitions_largest_ts():
    wm = Watermark(idle_s=10)
    wm.observe("a", 100.0, now=0)
    wm.observe("b", 50.0, now=0)
    wm.observe("a", 90.0, now=0)  # out of order inside a partition: the largest stays
    assert wm.value(now=1) == 50.0
    wm.observe("b", 120.0, now=2)
    assert wm.value(now=2) == 100.0


def test_an_assigned_partition_holds_the_watermark_back_until_it_delivers_or_idles():
    wm = Watermark(idle_s=10)
    wm.assign("b", now=0)
    wm.observe("a", 100.0, now=0)
    assert wm.value(now=5) == -INF
    assert wm.value(now=10.5) == 100.0  # b idle for more than 10 s


def test_idle_partitions_stop_holding_back_and_all_idle_gives_the_largest():
    clock = FakeClock()
    wm = Watermark(idle_s=10)
    wm.observe("a", 100.0, clock.now())
    wm.observe("b", 50.0, clock.now())
    clock.advance(5)
    wm.observe("a", 200.0, clock.now())
    assert wm.value(clock.now()) == 50.0
    clock.advance(6)  # b idle 11 s, a 6 s
    assert wm.value(clock.now()) == 200.0
    clock.advance(20)  # all idle: the largest ts seen
    wm.observe("c", 10.0, clock.now() - 100)  # an old observation: c is idle too
    assert wm.value(clock.now()) == 200.0
    wm.observe("b", 60.0, clock.now())  # b comes back behind: the watermark never goes back
    assert wm.value(clock.now()) == 200.0


def test_reorder_buffer_releases_in_event_time_order_up_to_watermark_minus_grace():
    buf = ReorderBuffer(grace_s=5)
    for ts, eid in ((10, "c"), (3, "b"), (3, "a"), (7, "d"), (12, "e")):
        buf.push({"ts": float(ts), "topic": "t", "event_id": eid})
    assert [e["event_id"] for e in buf.release(12)] == ["a", "b"]  # ts < 7
    assert [e["event_id"] for e in buf.release(16)] == ["d", "c"]  # ts < 11
    assert len(buf) == 1
    assert [e["event_id"] for e in buf.drain()] == ["e"]


OFFLINE = dict(stream="camera", kind="offline", camera_id="CAM-532301-000009")
ONLINE = dict(stream="camera", kind="online", camera_id="CAM-532301-000009")


def test_a_fast_partition_never_fires_a_deadline_early():
    ev = Events()
    engine = Engine(reference_ruleset())
    tl = Timeline(engine, grace_s=5, idle_s=60)
    clock = FakeClock()
    alerts = tl.push("p0", ev(0, **OFFLINE), clock.now())
    # partition 1 races ahead by 5 hours; partition 0 is slow but not idle
    for i in range(10):
        alerts += tl.push("p1", ev(1800 * (i + 1), stream="camera", kind="intrusion", camera_id="CAM-X"), clock.now())
    assert engine.time < T0 + 7200
    alerts += tl.push("p0", ev(3600, **ONLINE), clock.now())  # the camera came back within 2 h
    alerts += tl.push("p0", ev(6 * 3600, stream="camera", kind="intrusion", camera_id="CAM-Y"), clock.now())
    alerts += tl.flush()
    assert [a for a in alerts if a["rule_id"] == "CAM-OFFLINE"] == []


def test_an_idle_partition_stops_holding_deadlines_back():
    ev = Events()
    engine = Engine(reference_ruleset())
    clock = FakeClock()
    tl = Timeline(engine, grace_s=5, idle_s=30)
    tl.push("p0", ev(0, **OFFLINE), clock.now())
    tl.push("p1", ev(3 * 3600, stream="camera", kind="intrusion", camera_id="CAM-X"), clock.now())
    assert tl.tick(clock.now()) == []
    clock.advance(31)
    alerts = tl.push("p1", ev(3 * 3600 + 60, stream="camera", kind="intrusion", camera_id="CAM-X"), clock.now())
    alerts += tl.tick(clock.now())
    assert fired([a for a in alerts if a["rule_id"] == "CAM-OFFLINE"]) == [("CAM-OFFLINE", "CAM-532301-000009", 7200)]


def test_backtest_time_stops_where_the_input_stops():
    ev = Events()
    engine = Engine(reference_ruleset())
    tl = Timeline(engine, grace_s=5)
    alerts = tl.push(0, ev(0, **OFFLINE)) + tl.push(0, ev(3600, stream="camera", kind="intrusion", camera_id="X"))
    alerts += tl.flush()
    assert alerts == [] and engine.time - ev(0, **OFFLINE)["ts"] == 3600
    assert tl.pending == 0


def jittered(events, rnd, grace):
    """Reorder so that each event is late by less than ``grace`` relative to the largest ts before it."""
    return sorted(events, key=lambda e: e["ts"] + rnd.uniform(0, grace * 0.999))


def live_run(ruleset, events, partitions: int, rnd: random.Random, grace: float):
    """Spread events over partitions (one key's events on several), consume at random speeds."""
    queues = [[] for _ in range(partitions)]
    for e in events:
        queues[rnd.randrange(partitions)].append(e)
    queues = [jittered(q, rnd, grace) for q in queues]
    speeds = [rnd.uniform(0.2, 5.0) for _ in range(partitions)]
    engine = Engine(ruleset)
    tl = Timeline(engine, grace_s=grace, idle_s=INF)
    tl.assign(range(partitions))
    alerts = []
    while any(queues):
        live = [i for i, q in enumerate(queues) if q]
        i = rnd.choices(live, weights=[speeds[j] for j in live])[0]
        alerts += tl.push(i, queues[i].pop(0))
    alerts += tl.flush()
    return alerts, engine, tl


def backtest_run(ruleset, events, rnd, grace):
    engine = Engine(ruleset)
    tl = Timeline(engine, grace_s=grace)
    alerts = []
    for e in jittered(events, rnd, grace):
        alerts += tl.push(0, e)
    return alerts + tl.flush()


def key_set(alerts):
    return sorted(fired(alerts))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_live_partitions_give_the_same_alerts_as_backtest(seed):
    ruleset = reference_ruleset()
    rnd = random.Random(seed)
    events = scenario(seed, n=500)
    redelivered = [dict(e) for e in rnd.sample(events, 20)]  # re-deliveries, maybe on other partitions
    events = sorted(events + redelivered, key=lambda e: (e["ts"], e["topic"], e["event_id"]))
    grace = 600.0
    truth = key_set(run(Engine(ruleset), events))
    assert len({rule for rule, _, _ in truth}) >= 10  # the comparison is not vacuous
    backtest = key_set(backtest_run(ruleset, events, random.Random(seed + 100), grace))
    assert backtest == truth
    for trial in range(3):
        alerts, engine, tl = live_run(ruleset, events, partitions=4, rnd=random.Random(seed * 10 + trial), grace=grace)
        assert key_set(alerts) == truth
        assert tl.late == 0 and engine.stats["duplicates"] == 20


def test_without_the_reorder_buffer_interleavings_would_differ():
    """Guard for the test above: feeding partitions straight to the engine does change the alerts."""
    ruleset = reference_ruleset()
    events = scenario(4, n=500)
    truth = key_set(run(Engine(ruleset), events))
    rnd = random.Random(5)
    queues = [[], [], [], []]
    for e in events:
        queues[rnd.randrange(4)].append(e)
    engine = Engine(ruleset)
    alerts = []
    while any(queues):
        i = rnd.choice([j for j, q in enumerate(queues) if q])
        alerts += engine.process(queues[i].pop(0))
    assert key_set(alerts) != truth
