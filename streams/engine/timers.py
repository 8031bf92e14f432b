"""Rule type ``deadline`` (absence): a start event opens a clock; a cancel event stops it.

Semantics (contract): the clock of a start at ts s has deadline d = s + within. A cancel event of
the same key with s <= ts <= d stops it (a cancel exactly at the deadline cancels). The alert fires
once event time is strictly past d, with ts = d and the location of the start event. While a clock
runs, further start events of the key are ignored (a re-report does not restart it).

Cancels that meet no running clock are remembered for ``within``: a start that arrives late (after
a cancel with a later ts, beyond the reorder grace) or a cancel with the same ts as the start still
stops the clock, so late events do not raise false "overdue" alerts.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from heapq import heappush
from decimal import Decimal
from typing import Any

from pingan.streams.engine.base import Handler, RuleRuntime, plain
from pingan.streams.engine.inline import block, with_key, within_grace


class TimerState:
    __slots__ = ("clock", "last", "cancels")

    def __init__(self) -> None:
        self.clock: tuple | None = None  # (start_ts, deadline, start_event_id, context values)
        self.last: float | None = None
        self.cancels: list[float] | tuple = ()  # ts of recent cancels that met no clock (sorted; a list once one is)


class DeadlineRule(RuleRuntime):
    ORDER = ("cancel", "main")  # an event that both cancels and starts leaves a fresh clock running

    def __init__(self, spec, ctx, index):
        super().__init__(spec, ctx, index)
        self.horizon_s = max(spec.params["within"], self.suppress_keep_s)

    def handlers(self) -> list[tuple[str, Handler]]:
        spec = self.spec
        start, cancel = spec.sides["main"], spec.sides["cancel"]
        within, grace = spec.params["within"], spec.grace
        context_fields = spec.context_fields
        states, dirty, clock, schedule = self.states, self.dirty, self.ctx.clock, self.ctx.schedule

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
            cancels = st.cancels
            if cancels:
                # a cancel already seen (it arrived before this late start) may stop the clock at once
                i = bisect_left(cancels, ts)
                if i < len(cancels) and cancels[i] <= deadline:
                    return None
            st.clock = (ts, deadline, e["event_id"], tuple([e.get(name) for name in context_fields]))
            dirty.add(k)
            schedule(deadline, self, k)
            return None

        def on_cancel(e: dict[str, Any]) -> None:
            if not cancel.cond(e):
                return None
            k = cancel.key(e)
            if k is None:
                return None
            ts = e["ts"]
            st = states.get(k)
            if st is not None and st.clock is not None:
                if st.clock[0] <= ts <= st.clock[1]:
                    st.clock = None
                    dirty.add(k)
                    if st.last is None and not st.cancels:
                        del states[k]
                return None
            # no clock: remember the cancel for a start that may still arrive late (or at the same ts)
            if st is None:
                st = states[k] = TimerState()
            cancels = st.cancels
            if not cancels:
                st.cancels = cancels = [ts]
            elif cancels[-1] <= ts:
                cancels.append(ts)
            else:
                insort(cancels, ts)
            if cancels[0] < cancels[-1] - within:
                del cancels[: bisect_left(cancels, cancels[-1] - within)]
            dirty.add(k)
            return None

        # cancel first: an event that both cancels and starts leaves a fresh clock running
        return [(cancel.topic, on_cancel), (start.topic, on_start)]

    def scheduled(self, key: str, deadline: float) -> bool:
        st = self.states.get(key)
        return (st is not None and st.clock is not None and st.clock[1] == deadline
                and not getattr(self, "removed", False))

    def fire(self, key: str, deadline: float) -> dict[str, Any] | None:
        st = self.states.get(key)
        if st is None or st.clock is None or st.clock[1] != deadline:
            return None  # cancelled, or superseded: a stale schedule entry
        start_ts, _, event_id, values = st.clock
        st.clock = None
        self.dirty.add(key)
        if self.suppressed(st.last, deadline):
            return None
        st.last = deadline
        figures = {"within_s": self.spec.params["within"], "started_ts": start_ts}
        return self.alert(deadline, key, dict(zip(self.spec.context_fields, values)), [event_id], figures)

    def emit(self, side: str, slot: str) -> tuple[list[str], dict[str, Any]]:
        spec = self.spec
        within = float(spec.params["within"])
        slots: dict[str, Any] = {f"{slot}S": self.states, f"{slot}D": self.dirty, f"{slot}N": TimerState,
                                 f"{slot}bl": bisect_left, f"{slot}ins": insort, f"{slot}R": self,
                                 f"{slot}hp": heappush, f"{slot}heap": self.ctx.heap, f"{slot}seq": self.ctx.seq}
        if side == "main":
            context = "".join(f"e.get({name!r}), " for name in spec.context_fields)
            body = [
                f"st = {slot}S.get(k)",
                "if st is None:",
                f"    st = {slot}S[k] = {slot}N()",
                *block("if st.clock is None:", [
                    f"d = ts + {within!r}",
                    "cs = st.cancels",
                    "i = len(cs) and " + f"{slot}bl(cs, ts)",
                    # a cancel already seen (before this late start) may stop the clock at once
                    *block("if i >= len(cs) or cs[i] > d:", [
                        f"st.clock = (ts, d, e['event_id'], ({context}))",
                        f"{slot}D.add(k)",
                        f"{slot}hp({slot}heap, (d, {slot}R.index, k, {slot}seq(), {slot}R))",
                    ]),
                ]),
            ]
            return with_key(spec.sides[side], slot, slots, within_grace(spec.grace, body)), slots
        body = [
            f"st = {slot}S.get(k)",
            "cl = None if st is None else st.clock",
            *block("if cl is not None:", [
                *block("if cl[0] <= ts <= cl[1]:", [
                    "st.clock = None",
                    f"{slot}D.add(k)",
                    "if st.last is None and not st.cancels:",
                    f"    del {slot}S[k]",
                ]),
            ]),
            # no clock: remember the cancel for a start that may still arrive late (or at the same ts)
            *block("else:", [
                "if st is None:",
                f"    st = {slot}S[k] = {slot}N()",
                "cs = st.cancels",
                "if not cs:",
                "    st.cancels = cs = [ts]",
                "elif cs[-1] <= ts:",
                "    cs.append(ts)",
                "else:",
                f"    {slot}ins(cs, ts)",
                f"if cs[0] < cs[-1] - {within!r}:",
                f"    del cs[:{slot}bl(cs, cs[-1] - {within!r})]",
                f"{slot}D.add(k)",
            ]),
        ]
        return with_key(spec.sides[side], slot, slots, body), slots

    def dump(self, key: str, state: TimerState) -> Any:
        clock = state.clock
        if clock is not None:
            context = dict(zip(self.spec.context_fields, clock[3]))
            for name, v in context.items():
                if v.__class__ is Decimal:
                    context[name] = plain(v)
            clock = [clock[0], clock[1], clock[2], context]
        return {"clock": clock, "last": state.last, "cancels": list(state.cancels)}

    def load(self, key: str, value: Any) -> None:
        st = TimerState()
        clock = value.get("clock")
        if clock is not None:
            context = clock[3] or {}
            clock = (clock[0], clock[1], clock[2], tuple([context.get(name) for name in self.spec.context_fields]))
        st.clock = clock
        st.last = value.get("last")
        st.cancels = list(value.get("cancels") or ()) or ()
        self.states[key] = st
        if st.clock is not None:
            self.ctx.schedule(st.clock[1], self, key)

    def expired(self, state: TimerState, now: float) -> bool:
        if state.clock is not None:
            return False
        if state.cancels and state.cancels[-1] >= now - self.spec.params["within"]:
            return False
        return self.suppression_over(state.last, now)
