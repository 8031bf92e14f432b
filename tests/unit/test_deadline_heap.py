"""The deadline heap drops the entries of clocks that were cancelled (streams.engine.engine
Engine._compact_heap): a report resolved within minutes must not leave its 48-hour entry behind,
or the heap grows with the rate of reports times the deadline."""

from __future__ import annotations

from pathlib import Path

from pingan.streams.engine import Engine, load_ruleset
from pingan.streams.engine.engine import HEAP_COMPACT_MIN

REPO = Path(__file__).resolve().parents[2]


def test_cancelled_clocks_leave_the_heap_and_live_ones_still_fire():
    from pingan.bench.data import decoded

    template = next(e for e in decoded(3000) if e["topic"] == "grid.reports")
    engine = Engine(load_ruleset(REPO / "rules", pseudonym_key="k"))
    t0 = template["ts"]
    n = 3 * HEAP_COMPACT_MIN // 2  # each report starts two clocks (yellow, red)
    peak = 0
    batch = []
    for i in range(n):
        ts = t0 + i * 0.5
        batch.append({**template, "event_id": f"r{i}", "report_id": f"R{i}", "status": "reported",
                      "category": "hazard", "ts": ts})
        if i != 7:  # report R7 is never resolved
            batch.append({**template, "event_id": f"s{i}", "report_id": f"R{i}", "status": "resolved",
                          "category": "hazard", "ts": ts + 0.25})
        if len(batch) >= 2000:
            engine.run(batch, [])
            batch.clear()
            peak = max(peak, len(engine._heap))
    engine.run(batch, [])
    assert peak <= 2 * HEAP_COMPACT_MIN + 4000  # bounded by the live clocks, not by every report
    assert len(engine._heap) < HEAP_COMPACT_MIN * 2
    fired = engine.advance_to(t0 + n * 0.5 + 5 * 86400)
    assert sorted((a["rule_id"], a["key"]) for a in fired) == [("GRID-OVERDUE-RED", "R7"), ("GRID-OVERDUE-YELLOW", "R7")]
