"""The rule types and the engine's state: windows, deadlines, joins, spikes, suppression, reload, restart."""

from __future__ import annotations

from rulehelp import T0, Events, engine_for, fired, reference_ruleset, run, scenario, write_rules

from pingan.streams.engine import Engine, load_ruleset
from pingan.streams.engine.testing import TEST_PSEUDONYM_KEY

H = 3600.0
D = 86400.0

MATCH = """
rules:
  - id: M1
    title: t
    type: match
    stream: camera
    when: kind == "stranger"
    key: village_code
    {extra}
    alert: {{severity: low, title: "{{village_name}}"}}
"""


def test_match_without_suppression_fires_every_time_and_with_it_blocks(tmp_path):
    ev = Events()
    events = [ev(0, kind="stranger"), ev(60, kind="stranger"), ev(600, kind="stranger")]
    plain = engine_for(tmp_path, MATCH.format(extra=""))
    assert fired(run(plain, events)) == [("M1", "532301101001", 0), ("M1", "532301101001", 60),
                                        ("M1", "532301101001", 600)]
    suppressed = engine_for(tmp_path, MATCH.format(extra="suppress: 10m"))
    assert fired(run(suppressed, events)) == [("M1", "532301101001", 0), ("M1", "532301101001", 600)]


def test_shadow_alerts_are_marked_and_disabled_rules_do_not_run(tmp_path):
    ev = Events()
    shadow = engine_for(tmp_path, MATCH.format(extra="status: shadow"))
    alerts = shadow.process(ev(0, kind="stranger"))
    assert [a["status"] for a in alerts] == ["shadow"]
    disabled = engine_for(tmp_path, MATCH.format(extra="status: disabled"))
    assert disabled.process(ev(0, kind="stranger")) == []
    assert [r.status for r in disabled.ruleset.rules] == ["disabled"]


def test_alert_carries_routing_labels_and_figures(tmp_path):
    engine = engine_for(tmp_path, MATCH.format(extra="").replace(
        'alert: {severity: low, title: "{village_name}"}',
        'alert: {severity: low, title: "{village_name}", topics: [alerts, alerts.camera], '
        'labels: {team: "c-{county_code}"}, domain: security, figures: [camera_id]}'))
    [alert] = Engine(engine.ruleset).process(Events()(0, kind="stranger", camera_id="CAM-1"))
    assert alert["topics"] == ["alerts", "alerts.camera"]
    assert alert["labels"] == {"county": "532301", "domain": "security", "team": "c-532301"}
    assert alert["figures"] == {"camera_id": "CAM-1"}
    assert alert["title"] == "东兴社区居民委员会"


COUNT = """
rules:
  - id: C1
    title: t
    type: count
    stream: camera
    when: kind == "stranger"
    key: village_code
    window: 10m
    threshold: 2
    op: "{op}"
    alert: {{severity: low, title: "{{count}}"}}
"""


def test_count_threshold_operator(tmp_path):
    ev = Events()
    events = [ev(0, kind="stranger"), ev(60, kind="stranger"), ev(120, kind="stranger")]
    assert fired(run(engine_for(tmp_path, COUNT.format(op=">=")), events))[0] == ("C1", "532301101001", 60)
    strict = run(engine_for(tmp_path, COUNT.format(op=">")), events)
    assert fired(strict) == [("C1", "532301101001", 120)]
    assert strict[0]["figures"] == {"count": 3, "threshold": 2, "window_s": 600.0}
    assert strict[0]["title"] == "3"


def test_count_window_with_a_late_event_counts_only_the_window_ending_at_it(tmp_path):
    ev = Events()
    engine = engine_for(tmp_path, COUNT.format(op=">="))
    alerts = run(engine, [ev(0, kind="stranger"), ev(1200, kind="stranger"), ev(500, kind="stranger")])
    # the late event at 500 s sees [-100, 500]: the one at 0 s -> 2 events -> fires at 500 s
    assert fired(alerts) == [("C1", "532301101001", 500)]
    assert alerts[0]["evidence"] == ["e1", "e3"]


DEADLINE = """
rules:
  - id: D1
    title: t
    type: deadline
    stream: grid
    when: status == "reported"
    key: report_id
    within: 1h
    {extra}
    cancel:
      {cancel}
      when: {cancel_when}
    alert: {{severity: low, title: "{{report_id}} {{village_name}}"}}
"""


def deadline(tmp_path, extra="", cancel="", cancel_when='status == "resolved"'):
    return engine_for(tmp_path, DEADLINE.format(extra=extra, cancel=cancel, cancel_when=cancel_when))


def test_deadline_alert_has_the_deadline_ts_and_the_start_location(tmp_path):
    ev = Events()
    engine = deadline(tmp_path)
    alerts = run(engine, [ev(0, stream="grid", report_id="R1", status="reported", village_code="532301101002"),
                          ev(2 * H, stream="grid", report_id="R9", status="dispatched")])
    [alert] = alerts
    assert fired(alerts) == [("D1", "R1", H)]
    assert alert["village_code"] == "532301101002" and alert["title"] == "R1 学桥街社区居民委员会"
    assert alert["evidence"] == ["e1"] and alert["figures"]["within_s"] == H


def test_a_second_start_does_not_restart_a_running_clock(tmp_path):
    ev = Events()
    engine = deadline(tmp_path)
    alerts = run(engine, [ev(0, stream="grid", report_id="R1", status="reported"),
                          ev(1800, stream="grid", report_id="R1", status="reported")], until=2 * H)
    assert fired(alerts) == [("D1", "R1", H)]


def test_a_cancel_before_the_start_does_not_cancel(tmp_path):
    ev = Events()
    engine = deadline(tmp_path)
    alerts = run(engine, [ev(0, stream="grid", report_id="R1", status="resolved"),
                          ev(10, stream="grid", report_id="R1", status="reported")], until=2 * H)
    assert fired(alerts) == [("D1", "R1", 3610)]


def test_deadline_cancel_from_another_stream_and_key_field(tmp_path):
    ev = Events()
    text = """
    rules:
      - id: D2
        title: t
        type: deadline
        stream: grid
        when: category == "hazard" and status == "reported"
        key: village_code
        within: 1h
        cancel:
          stream: camera
          when: kind == "online"
          key: village_code
        alert: {severity: low, title: t}
    """
    engine = engine_for(tmp_path, text)
    alerts = run(engine, [ev(0, stream="grid", category="hazard", status="reported", report_id="R1"),
                          ev(H, stream="camera", kind="online", camera_id="CAM-1"),
                          ev(10, stream="grid", category="hazard", status="reported", report_id="R2",
                             village_code="532301101002")], until=3 * H)
    assert fired(alerts) == [("D2", "532301101002", 3610)]


def test_late_start_whose_deadline_passed_fires_at_once_with_the_deadline_ts(tmp_path):
    ev = Events()
    engine = deadline(tmp_path)
    run(engine, [ev(5 * H, stream="grid", report_id="X", status="dispatched")])
    alerts = engine.process(ev(0, stream="grid", report_id="R1", status="reported"))
    assert fired(alerts) == [("D1", "R1", H)]


def test_deadline_suppression(tmp_path):
    ev = Events()
    engine = deadline(tmp_path, extra="suppress: 3h")
    alerts = run(engine, [ev(0, stream="grid", report_id="R1", status="reported"),
                          ev(2 * H, stream="grid", report_id="R1", status="reported"),  # deadline 3h: blocked
                          ev(5 * H, stream="grid", report_id="R1", status="reported")], until=10 * H)
    assert fired(alerts) == [("D1", "R1", H), ("D1", "R1", 6 * H)]


def test_sequence_on_one_stream_never_joins_an_event_with_itself(tmp_path):
    text = """
    rules:
      - id: S1
        title: t
        type: sequence
        key: village_code
        first: {stream: camera, when: 'kind in ["stranger", "intrusion"]'}
        then: {stream: camera, when: 'kind == "intrusion"'}
        within: 1h
        alert: {severity: low, title: "{gap_s}"}
    """
    ev = Events()
    engine = engine_for(tmp_path, text)
    alerts = run(engine, [ev(0, kind="intrusion"), ev(600, kind="intrusion")])
    assert fired(alerts) == [("S1", "532301101001", 600)]
    assert alerts[0]["evidence"] == ["e1", "e2"] and alerts[0]["title"] == "600"


def test_sequence_with_different_key_fields_per_side(tmp_path):
    text = """
    rules:
      - id: S2
        title: t
        type: sequence
        key: township_code
        first: {stream: fraud, when: 'status == "reported"'}
        then: {stream: service, when: 'status == "completed"', key: township_code}
        within: 2h
        alert: {severity: low, title: t}
    """
    ev = Events()
    engine = engine_for(tmp_path, text)
    alerts = run(engine, [ev(0, stream="fraud", case_id="C1", status="reported", township_code="532301102"),
                          ev(60, stream="service", record_id="S1", status="completed", elapsed_hours=1,
                             township_code="532301101"),
                          ev(120, stream="service", record_id="S2", status="completed", elapsed_hours=1,
                             township_code="532301102")])
    assert fired(alerts) == [("S2", "532301102", 120)]


SPIKE = """
rules:
  - id: SP
    title: t
    type: spike
    stream: fraud
    when: status == "reported"
    key: township_code
    bucket: day
    baseline: 3
    factor: 2
    min_count: 3
    suppress: 1d
    alert: {severity: low, title: "{count} vs {baseline_avg}"}
"""


def test_spike_against_the_baseline_after_warm_up(tmp_path):
    ev = Events()
    engine = engine_for(tmp_path, SPIKE)
    events = []
    n = 0
    # day 0: 5 cases (warm-up: no alert even though 5 >= min_count); days 1-2: 1 case; day 3: 4 cases
    for day, count in ((0, 5), (1, 1), (2, 1), (3, 4)):
        for i in range(count):
            n += 1
            events.append(ev(day * D + i * 60, stream="fraud", case_id=f"C{n}", status="reported"))
    alerts = run(engine, events)
    # day 3: baseline avg (5 + 1 + 1) / 3 = 2.33; 2 x 2.33 = 4.67 > 4: no alert yet
    assert alerts == []
    more = run(engine, [ev(3 * D + 600, stream="fraud", case_id="C99", status="reported"),
                        ev(3 * D + 700, stream="fraud", case_id="C98", status="reported")])
    assert fired(more) == [("SP", "532301101", 3 * D + 600)]
    assert more[0]["figures"]["count"] == 5 and more[0]["title"] == "5 vs 2.333"


def test_spike_uses_local_calendar_days(tmp_path):
    from pingan.streams.engine.compiler import local_day

    day = local_day("Asia/Shanghai")
    from pingan.streams.engine.testing import parse_time

    assert day(parse_time("2026-11-29T23:59:59+08:00")) + 1 == day(parse_time("2026-11-30T00:00:00+08:00"))
    assert day(parse_time("2026-11-29T16:00:00Z")) == day(parse_time("2026-11-30T00:00:00+08:00"))


def test_rule_grace_drops_events_older_than_engine_time_minus_grace(tmp_path):
    ev = Events()
    engine = engine_for(tmp_path, MATCH.format(extra="grace: 5m"))
    run(engine, [ev(H, kind="intrusion")])
    assert engine.process(ev(H - 300, kind="stranger"))  # exactly at the grace boundary: accepted
    assert engine.process(ev(H - 301, kind="stranger")) == []


def test_plate_keys_are_pseudonymised_and_composite_keys_join_fields(tmp_path):
    text = """
    rules:
      - id: P1
        title: t
        type: match
        stream: camera
        when: kind == "unknown_vehicle"
        key: [village_code, plate]
        alert: {severity: low, title: "车辆{plate}"}
    """
    ev = Events()
    engine = engine_for(tmp_path, text)
    [alert] = engine.process(ev(0, kind="unknown_vehicle", plate="云E12345"))
    assert alert["key"].startswith("532301101001|p_") and "云E12345" not in str(alert)
    assert alert["title"] == "车辆云E***45"
    assert engine.process(ev(1, kind="unknown_vehicle")) == []  # no plate: no key, never grouped


def test_duplicates_are_dropped_per_topic(tmp_path):
    ev = Events()
    engine = engine_for(tmp_path, MATCH.format(extra=""))
    first = ev(0, kind="stranger", event_id="x1")
    assert len(engine.process(first)) == 1
    assert engine.process(dict(first)) == []
    assert engine.stats["duplicates"] == 1


def test_swap_rules_keeps_state_of_unchanged_rules_only(tmp_path):
    ev = Events()
    c1 = COUNT.format(op=">=")
    c2 = c1.replace("rules:\n", "").replace("C1", "C2")
    engine = Engine(load_ruleset(write_rules(tmp_path, c1 + c2), pseudonym_key="k"))
    run(engine, [ev(0, kind="stranger")])
    engine.dirty_state()
    old_c2 = next(r for r in engine.rules if r.spec.id == "C2").prefix + "532301101001"
    engine.swap_rules(load_ruleset(write_rules(tmp_path, c1 + c2.replace("10m", "12m")), pseudonym_key="k"))
    assert engine.dirty_state() == {old_c2: None}
    assert fired(engine.process(ev(60, kind="stranger"))) == [("C1", "532301101001", 60)]


def test_swap_rules_keeps_windows_when_nothing_changed(tmp_path):
    ev = Events()
    directory = write_rules(tmp_path, COUNT.format(op=">="))
    engine = Engine(load_ruleset(directory, pseudonym_key="k"))
    run(engine, [ev(0, kind="stranger")])
    engine.swap_rules(load_ruleset(directory, pseudonym_key="k"))
    assert fired(engine.process(ev(60, kind="stranger"))) == [("C1", "532301101001", 60)]
    changed = write_rules(tmp_path, COUNT.format(op=">=").replace("10m", "20m"))
    engine.swap_rules(load_ruleset(changed, pseudonym_key="k"))
    assert engine.process(ev(120, kind="stranger")) == []  # fresh state: only 1 event in the new window
    assert any(v is None for v in engine.dirty_state().values())


def table_apply(table: dict, changes: dict) -> None:
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def test_restart_from_the_state_table_continues_windows_deadlines_and_suppression():
    import json

    ruleset = reference_ruleset()
    events = scenario(7)
    whole = fired(run(Engine(ruleset), events))
    cut = len(events) // 2
    first = Engine(ruleset)
    table: dict = {}
    before = []
    for i, e in enumerate(events[:cut]):
        before += first.process(e)
        if i % 50 == 0:
            table_apply(table, first.dirty_state())
    table_apply(table, first.dirty_state())
    table = json.loads(json.dumps(table))  # what a changelog would store
    restarted = Engine(ruleset)
    restarted.restore_state(table.items())
    after = run(restarted, events[cut:])
    assert fired(before) + fired(after) == whole
    assert len({r for r, _, _ in whole}) >= 10
    assert any(k.startswith("r:GRID-OVERDUE-YELLOW:") for k in table)


def test_restore_drops_state_of_unknown_rule_versions():
    engine = Engine(reference_ruleset())
    engine.restore_state([("r:CAM-WANTED:oldversion:P1", {"last": 1.0}), ("t", T0)])
    assert engine.dirty_state()["r:CAM-WANTED:oldversion:P1"] is None
    assert engine.time == T0


def test_sweep_forgets_expired_state_and_seen_ids(tmp_path):
    ev = Events()
    engine = engine_for(tmp_path, COUNT.format(op=">="))
    run(engine, [ev(0, kind="stranger", event_id="a")])
    assert any(k.startswith("r:C1:") for k in engine.dirty_state())
    engine.advance_to(T0 + 3 * D)
    dirty = engine.dirty_state()
    assert [v for k, v in dirty.items() if k.startswith("r:C1:")] == [None]
    assert [v for k, v in dirty.items() if k.startswith("s:camera.alerts:")] == [None]  # its seen-id chunk
    assert engine._seen.count("camera.alerts") == 0
    assert engine.rules[0].states == {}


def test_evaluation_counts_and_rules_by_stream():
    ev = Events()
    engine = Engine(reference_ruleset())
    run(engine, [ev(0, kind="stranger"), ev(1, kind="stranger"), ev(2, stream="grid", status="reported")])
    counts = engine.evaluation_counts()
    assert counts["CAM-WANTED"] == 2 and counts["GRID-RISK-HIGH"] == 1 and counts["FUSION-RISK-INTRUSION"] == 3
    assert counts["FRAUD-MAJOR"] == 0
    assert "FUSION-RISK-INTRUSION" in engine.rules_by_stream()["grid"]


def test_dedup_retention_follows_the_longest_rule_horizon_per_topic():
    engine = Engine(reference_ruleset())
    retention = engine._retention
    assert retention["fraud.cases"] >= 90 * D  # FRAUD-REPEAT-VICTIM's window
    assert retention["grid.reports"] >= 96 * H  # GRID-OVERDUE-RED, and the stored side of the fusion join
    # camera rules look back at most 2 h; fusion stores no camera event but suppresses for 24 h
    assert retention["camera.alerts"] == 24 * H


def test_a_start_arriving_after_its_cancel_starts_no_clock(tmp_path):
    ev = Events()
    engine = deadline(tmp_path)
    # the resolution (ts 30 min) is processed before the late report (ts 0): no overdue alert
    alerts = run(engine, [ev(1800, stream="grid", report_id="R1", status="resolved"),
                          ev(0, stream="grid", report_id="R1", status="reported"),
                          ev(10, stream="grid", report_id="R2", status="reported")], until=5 * H)
    assert fired(alerts) == [("D1", "R2", 3610)]
    # a cancel with the same ts as the start cancels, whatever their processing order
    engine = deadline(tmp_path)
    alerts = run(engine, [ev(0, stream="grid", report_id="R3", status="resolved"),
                          ev(0, stream="grid", report_id="R3", status="reported")], until=5 * H)
    assert alerts == []


def test_a_long_horizon_rule_is_swept_within_an_eighth_of_its_horizon(tmp_path):
    """Rules are swept every SWEEP_EVERY_S, a rule with a long horizon every eighth of it: its
    expired keys go, at most that much after they expired, and not before."""
    from pingan.streams.engine.engine import SWEEP_EVERY_S

    ev = Events()
    engine = engine_for(tmp_path, COUNT.format(op=">=").replace("10m", "30d"))
    [rule] = engine.rules
    horizon = rule.horizon_s  # window + retention: 60 days
    assert horizon == 60 * D and horizon / 8 > SWEEP_EVERY_S
    run(engine, [ev(0, kind="stranger")])
    assert len(rule.states) == 1
    swept_at = []
    sweep = rule.sweep
    rule.sweep = lambda now: (swept_at.append(now), sweep(now))
    step = SWEEP_EVERY_S
    at = step
    while at <= horizon + horizon / 8 + step:
        engine.advance_to(T0 + at)
        at += step
        if at < horizon:
            assert len(rule.states) == 1  # not expired: kept
    assert rule.states == {}  # gone within horizon + horizon / 8
    gaps = [b - a for a, b in zip(swept_at, swept_at[1:])]
    assert gaps and min(gaps) >= horizon / 8  # and not walked every SWEEP_EVERY_S


def test_a_reloaded_deadline_rule_and_its_predecessor_may_tie_on_the_heap(tmp_path):
    """A changed deadline rule keeps its index; the removed runtime's entries stay in the heap. Two
    entries (deadline, index, key) alike must still order (runtimes compare by identity) and only
    the live rule fires."""
    ev = Events()
    engine = deadline(tmp_path)
    run(engine, [ev(0, stream="grid", report_id="R1", status="reported")])
    changed = write_rules(tmp_path, DEADLINE.format(extra="", cancel="", cancel_when='status == "closed"'))
    engine.swap_rules(load_ruleset(changed, pseudonym_key=TEST_PSEUDONYM_KEY))
    assert engine.process(ev(0, stream="grid", report_id="R1", status="reported", event_id="again")) == []
    heap = engine._ctx.heap
    assert len(heap) == 2 and heap[0][:3] == heap[1][:3] and heap[0][3] is not heap[1][3]
    alerts = engine.advance_to(T0 + 2 * H)
    assert fired(alerts) == [("D1", "R1", H)]
    assert alerts[0]["rule_version"] == engine.rules[0].spec.version


def test_events_of_equal_ts_keep_arrival_order_in_a_window_and_its_restore(tmp_path):
    """Window items of the same ts are in the order they arrived (the evidence shows them so); the
    changelog restores the same window; a re-delivered event the de-dup set no longer knows is
    still not counted twice (the window holds its id)."""
    ev = Events()
    engine = engine_for(tmp_path, COUNT.format(op=">=").replace("threshold: 2", "threshold: 3"))
    events = [ev(60, kind="stranger", event_id="z"), ev(60, kind="stranger", event_id="a"),
              ev(0, kind="stranger", event_id="m")]
    assert run(engine, events) == []  # the late one at 0 s is alone in [-600 s, 0]
    alerts = engine.process(ev(60, kind="stranger", event_id="b"))
    assert fired(alerts) == [("C1", "532301101001", 60)] and alerts[0]["evidence"] == ["m", "z", "a", "b"]
    [st] = engine.rules[0].states.values()
    assert st.ids == ["m", "z", "a", "b"] and st.ts == [T0, T0 + 60, T0 + 60, T0 + 60]
    changelog = engine.dirty_state()
    restored = Engine(engine.ruleset)
    restored.restore_state(changelog.items())
    [again] = restored.rules[0].states.values()
    assert again.ids == st.ids and again.ts == st.ts
    forgetful = Engine(engine.ruleset)  # the rule state without the seen ids
    forgetful.restore_state((k, v) for k, v in changelog.items() if not k.startswith("s:"))
    assert forgetful.process(dict(events[1])) == []  # "a" again: not a fourth item, no alert
    [window] = forgetful.rules[0].states.values()
    assert window.ids == ["m", "z", "a", "b"]
