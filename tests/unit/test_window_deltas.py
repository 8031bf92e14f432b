"""Window state goes to the changelog as a snapshot plus delta records of what was appended
(streams.engine.windows.CountRule.write_changes); a restart rebuilds exactly the live windows.

The changelog is simulated as a compacted topic (a dict; None deletes). Events come partly late
(inserted inside a window: a whole snapshot follows), partly re-delivered, and event time passes
sweeps that delete windows (their deltas must be deleted too).
"""

from __future__ import annotations

import random
from pathlib import Path

from pingan.streams.engine import Engine, load_ruleset
from pingan.streams.engine.windows import DELTA, CountRule

REPO = Path(__file__).resolve().parents[2]


def windows(engine: Engine) -> dict:
    """The live windows (a sweep first: engines restarted at other times sweep at other times)."""
    for rt in engine.rules:
        rt.next_sweep = float("-inf")  # every rule now, whatever its sweep cadence
    engine._sweep(engine.time)
    return {(rt.spec.id, k): (list(st.ev), st.last) for rt in engine.rules if isinstance(rt, CountRule)
            for k, st in rt.states.items()}


def test_snapshot_plus_deltas_restore_the_live_windows():
    from pingan.bench.data import decoded

    ruleset = load_ruleset(REPO / "rules", pseudonym_key="k")
    rng = random.Random(5)
    events = decoded(12_000)
    feed = []
    for e in events:
        if rng.random() < 0.05:  # late: an hour or so behind
            feed.append(dict(e, ts=e["ts"] - rng.uniform(60, 4000)))
        else:
            feed.append(e)
        if rng.random() < 0.02:
            feed.append(e)  # re-delivered
    live = Engine(ruleset)
    changelog: dict = {}
    deltas_written = snapshots_written = 0
    for i in range(0, len(feed), 250):  # a flush every 250 events
        live.run(feed[i:i + 250], [])
        for key, value in live.dirty_state().items():
            if value is None:
                changelog.pop(key, None)
            else:
                changelog[key] = value
                if key.startswith("r:"):
                    deltas_written += DELTA in key
                    snapshots_written += DELTA not in key
        if i % 2000 == 0:
            restored = Engine(ruleset)
            restored.restore_state(changelog.items())
            assert windows(restored) == windows(live)
    assert deltas_written > 500 and snapshots_written > 0  # windows that only grew wrote deltas
    # deleted windows left no records behind: every delta record has its snapshot
    for key in changelog:
        if DELTA in key:
            assert key.partition(DELTA)[0] in changelog
    restored = Engine(ruleset)
    restored.restore_state(changelog.items())
    assert windows(restored) == windows(live) and windows(live)
    # and the restored engine goes on writing deltas that restore again
    more = decoded(14_000)[12_000:]
    for e in (live, restored):
        e.run(more, [])
    for key, value in restored.dirty_state().items():
        if value is None:
            changelog.pop(key, None)
        else:
            changelog[key] = value
    again = Engine(ruleset)
    again.restore_state(changelog.items())
    assert windows(again) == windows(live)
