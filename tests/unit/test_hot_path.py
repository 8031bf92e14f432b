"""Pieces of the worker's hot path that have a slower reference implementation to agree with."""

from __future__ import annotations

import pytest


def test_alert_message_writes_ts_as_iso_cst():
    import orjson

    from pingan.schemas.alert import iso_cst
    from pingan.streams.runtime import alert_message

    for ts in (1_795_910_400.0, 1_795_910_400.123, 1_795_910_401.999999, 1e9 + 0.1):
        assert orjson.loads(alert_message({"key": "k", "ts": ts}))["ts"] == iso_cst(ts)


@pytest.mark.parametrize("rules", ["generated", "reference"])
def test_dispatcher_inlines_conditions_and_only_skips_work(tmp_path, rules):
    """The per-topic dispatcher (each rule type's inlined code) gives the alerts a plain loop over
    the rule types' handlers gives: on 80 generated match/count rules, and on the reference rules
    (every rule type, deadlines firing)."""
    from pathlib import Path

    from pingan.bench.data import decoded
    from pingan.bench.rulegen import generate_rules
    from pingan.streams.engine import Engine, load_ruleset

    source = generate_rules(tmp_path, 80, seed=3) if rules == "generated" else Path(__file__).parents[2] / "rules"
    ruleset = load_ruleset(source, pseudonym_key="bench-key")
    events = decoded(3000 if rules == "generated" else 12000)
    fast = Engine(ruleset)
    assert "c = (" in fast._dispatch["camera.alerts"].source  # conditions are inlined
    plain = Engine(ruleset)

    def loop(event, out, ts=None, now=None):  # what the engine did before the dispatcher
        for handler in plain._by_topic.get(event["topic"], ()):
            alert = handler(event)
            if alert is not None:
                out.append(alert)

    loop.field, loop.table, loop.other = None, {}, loop  # no index: every handler sees every event
    plain._dispatch = {topic: loop for topic in plain._by_topic}
    got = [a for e in events for a in fast.process(e)]
    want = [a for e in events for a in plain.process(e)]
    assert got == want and len(got) > 100


def test_the_index_uses_a_field_tested_in_any_operand_of_a_conjunction(tmp_path):
    """``category == "x" and status == "reported"`` is indexed on ``status`` like a rule testing
    ``status`` first: the function for other statuses does not evaluate it, the one for
    ``reported`` evaluates only ``category == "x"``."""
    from pingan.streams.engine import Engine, load_ruleset

    rules = tmp_path / "rules"
    rules.mkdir()
    rule = """
  - id: {id}
    title: t
    type: match
    stream: grid
    when: {when}
    key: report_id
    alert: {{severity: low, title: t}}
"""
    (rules / "r.yaml").write_text("rules:" + rule.format(id="A", when="category == \"hazard\" and status == \"reported\"")
                                  + rule.format(id="B", when="status == \"closed\""), encoding="utf-8")
    engine = Engine(load_ruleset(rules, pseudonym_key="k"))
    fn = engine._dispatch["grid.reports"]
    assert fn.field == "status" and set(fn.table) == {"reported", "closed"}
    assert "hazard" not in fn.table["closed"].__code__.co_consts and "hazard" in fn.table["reported"].__code__.co_consts
    reported = fn.source.split(f"def {fn.table['reported'].__name__}(")[1].split("def ")[0]
    assert "'category'" in reported and "'status'" not in reported  # the test the index made is dropped


def test_rules_in_a_row_on_the_same_key_share_its_extraction():
    """GRID-OVERDUE-YELLOW and -RED start (and stop) on the same events with the same key: the
    function for ``reported`` reads ``report_id`` once and runs both clocks under it."""
    from pathlib import Path

    from pingan.streams.engine import Engine, load_ruleset

    engine = Engine(load_ruleset(Path(__file__).parents[2] / "rules", pseudonym_key="k"))
    fn = engine._dispatch["grid.reports"]
    for status in ("reported", "closed"):
        body = fn.source.split(f"def {fn.table[status].__name__}(")[1].split("\ndef ")[0]
        assert body.count("k = e.get('report_id')") == 1 and body.count("cl = ") + body.count("if k not in") == 2
