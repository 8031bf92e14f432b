"""Rule type ``deadline`` (absence): a start event opens a clock; a cancel event stops it.

Semantics (contract): the clock of a start at ts s has deadline d = s + within. A cancel event of
the same key with s <= ts <= d stops it (a cancel exactly at the deadline cancels). The alert fires
once event time is strictly past d, with ts = d and the location of the start event. While a clock
runs, further start events of the key are ignored (a re-report does not restart it).
"""

from __future__ import annotations

from typing import Any

from pingan.streams.engine.base import Handler, RuleRuntime, plain


class TimerState:
    __slots__ = ("clock", "last")

    def __init__(self) -> None:
        self.clock: list | None = None  # [start_ts, deadline, start_event_id, context]
        self.last: float | None = None


class DeadlineRule(RuleRuntime):
    def __init__(self, spec, ctx, index):
        super().__init__(spec, ctx, index)
        self.horizon_s = max(spec.params["within"], spec.suppress or 0.0)

    def handlers(self) -> list[tuple[str, Handler]]:
        spec = self.spec
        start, cancel = spec.sides["main"], spec.sides["cancel"]
        within, grace = spec.params["within"], spec.grace
        context_fields = spec.context_fields
        states, dirty, clock, schedule = self.states, self.ctx.dirty, self.ctx.clock, self.ctx.schedule

        def on_start(e: dict[str, Any]) -> None:
            if not start.cond(e):
                return None
            k = start.key(e)
            if k is None:
                return None
            ts = e["ts"]
            if grace is not None and ts < clock[0] - grace:
                return None
            st = states.get(k)
            if st is None:
                st = states[k] = TimerState()
            elif st.clock is not None:
                return None
            deadline = ts + within
            context = {name: e.get(name) for name in context_fields}
            st.clock = [ts, deadline, e["event_id"], context]
            dirty.add((self, k))
            schedule(deadline, self, k)
            return None

        def on_cancel(e: dict[str, Any]) -> None:
            if not cancel.cond(e):
                return None
            k = cancel.key(e)
            if k is None:
                return None
            st = states.get(k)
            if st is None or st.clock is None:
                return None
            ts = e["ts"]
            if st.clock[0] <= ts <= st.clock[1]:
                st.clock = None
                dirty.add((self, k))
                if st.last is None:
                    del states[k]
            return None

        # cancel first: an event that both cancels and starts leaves a fresh clock running
        return [(cancel.topic, on_cancel), (start.topic, on_start)]

    def fire(self, key: str, deadline: float) -> dict[str, Any] | None:
        st = self.states.get(key)
        if st is None or st.clock is None or st.clock[1] != deadline:
            return None  # cancelled, or superseded: a stale schedule entry
        start_ts, _, event_id, context = st.clock
        st.clock = None
        self.ctx.dirty.add((self, key))
        if self.suppressed(st.last, deadline):
            return None
        st.last = deadline
        figures = {"within_s": self.spec.params["within"], "started_ts": start_ts}
        return self.alert(deadline, key, context, [event_id], figures)

    def dump(self, key: str, state: TimerState) -> Any:
        clock = state.clock
        if clock is not None:
            clock = clock[:3] + [{k: plain(v) for k, v in clock[3].items()}]
        return {"clock": clock, "last": state.last}

    def load(self, key: str, value: Any) -> None:
        st = TimerState()
        st.clock = value.get("clock")
        st.last = value.get("last")
        self.states[key] = st
        if st.clock is not None:
            self.ctx.schedule(st.clock[1], self, key)

    def expired(self, state: TimerState, now: float) -> bool:
        if state.clock is not None:
            return False
        return state.last is None or now >= state.last + (self.spec.suppress or 0.0)
