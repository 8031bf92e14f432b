"""Rule type ``spike``: the current bucket (a local calendar day or an hour) against a baseline.

At a matching event in bucket b, with c = the key's matching events in b and avg = the mean of the
key's counts in the ``baseline`` buckets before b, the rule fires when c >= min_count and
c >= factor x avg. Buckets before the rule first saw any event are not known, so the rule only fires
once it has watched ``baseline`` whole buckets (no alert storm on a cold start).
"""

from __future__ import annotations

from typing import Any

from pingan.streams.engine.base import Handler, RuleRuntime
from pingan.streams.engine.compiler import local_day

META = ""  # the state key of the rule-level record (keys are never empty)


class SpikeState:
    __slots__ = ("counts", "last")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.last: float | None = None


class SpikeRule(RuleRuntime):
    def __init__(self, spec, ctx, index):
        super().__init__(spec, ctx, index)
        p = spec.params
        self.size = 86400.0 if p["bucket"] == "day" else 3600.0
        self.horizon_s = max(self.size * (p["baseline"] + 1), self.suppress_keep_s)
        self.since: int | None = None  # first bucket the rule saw

    def bucket_fn(self):
        if self.size == 3600.0:
            return lambda ts: int(ts // 3600.0)
        return local_day(self.spec.params["timezone"])

    def handlers(self) -> list[tuple[str, Handler]]:
        spec = self.spec
        side = spec.sides["main"]
        p = spec.params
        baseline, factor, min_count = p["baseline"], p["factor"], p["min_count"]
        cond, key_of, suppress, grace = side.cond, side.key, spec.suppress, spec.grace
        states, dirty, clock, alert = self.states, self.dirty, self.ctx.clock, self.alert
        bucket_of = self.bucket_fn()

        def on_event(e: dict[str, Any]) -> dict[str, Any] | None:
            if not cond(e):
                return None
            k = key_of(e)
            if k is None:
                return None
            ts = e["ts"]
            if grace is not None and ts < clock[0] - grace:
                return None
            b = bucket_of(ts)
            if self.since is None or b < self.since:
                self.since = b
                dirty.add(META)
            st = states.get(k)
            if st is None:
                st = states[k] = SpikeState()
            counts = st.counts
            c = counts[b] = counts.get(b, 0) + 1
            newest = max(counts)
            for old in [x for x in counts if x < newest - baseline]:
                del counts[old]
            dirty.add(k)
            if c < min_count or b - self.since < baseline:
                return None
            avg = sum(counts.get(b - i, 0) for i in range(1, baseline + 1)) / baseline
            if c < factor * avg:
                return None
            if suppress is not None and st.last is not None and ts < st.last + suppress:
                return None
            if st.last is None or ts > st.last:
                st.last = ts
            figures = {"count": c, "baseline_avg": round(avg, 3), "factor": factor, "baseline_buckets": baseline}
            return (alert, ts, k, e, [e["event_id"]], figures)

        return [(side.topic, on_event)]

    def snapshot(self, key: str) -> Any:
        if key == META:
            return {"since": self.since}
        return super().snapshot(key)

    def dump(self, key: str, state: Any) -> Any:
        return {"counts": {str(b): c for b, c in state.counts.items()}, "last": state.last}

    def load(self, key: str, value: Any) -> None:
        if key == META:
            self.since = value.get("since")
            return
        st = SpikeState()
        st.counts = {int(b): int(c) for b, c in value.get("counts", {}).items()}
        st.last = value.get("last")
        self.states[key] = st

    def expired(self, state: SpikeState, now: float) -> bool:
        if state.counts and max(state.counts) * self.size >= now - self.horizon_s:
            return False
        return self.suppression_over(state.last, now)
