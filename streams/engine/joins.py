"""Rule type ``sequence``: a ``then`` event fires when a ``first`` event of the same key lies at most
``within`` before it (first.ts in [then.ts - within, then.ts], inclusive). The streams may differ
(a join across streams on a key); the alert carries the ``then`` event's location and both ids.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any

from pingan.streams.engine.base import Handler, RuleRuntime
from pingan.streams.engine.inline import block, with_key, within_grace

_HIGH = "\U0010ffff"


class SequenceState:
    __slots__ = ("firsts", "last")

    def __init__(self) -> None:
        self.firsts: list = []  # sorted (ts, event_id) of first-step events
        self.last: float | None = None


class SequenceRule(RuleRuntime):
    ORDER = ("then", "first")  # an event matching both sides never joins with itself

    def __init__(self, spec, ctx, index):
        super().__init__(spec, ctx, index)
        within = spec.params["within"]
        self.retain = within + (spec.grace if spec.grace is not None else within)  # room for late events
        self.horizon_s = max(self.retain, self.suppress_keep_s)

    def horizon_for(self, topic: str) -> float:
        if topic == self.spec.sides["first"].topic:
            return self.horizon_s
        # `then` events are not stored: a re-delivered one is harmless once suppression covers it
        return self.spec.suppress if self.spec.suppress is not None else self.horizon_s

    def handlers(self) -> list[tuple[str, Handler]]:
        spec = self.spec
        first, then = spec.sides["first"], spec.sides["then"]
        grace, retain = spec.grace, self.retain
        states, dirty, clock, joined = self.states, self.dirty, self.ctx.clock, self._joined

        def on_first(e: dict[str, Any]) -> None:
            if not first.cond(e):
                return None
            k = first.key(e)
            if k is None:
                return None
            ts = e["ts"]
            if grace is not None and ts < clock[0] - grace:
                return None
            st = states.get(k)
            if st is None:
                st = states[k] = SequenceState()
            firsts = st.firsts
            item = (ts, e["event_id"])
            if not firsts or firsts[-1][0] <= ts:
                firsts.append(item)
            else:
                insort(firsts, item)
            keep = firsts[-1][0] - retain
            if firsts[0][0] < keep:
                del firsts[: bisect_left(firsts, (keep,))]
            dirty.add(k)
            return None

        def on_then(e: dict[str, Any]) -> dict[str, Any] | None:
            if not then.cond(e):
                return None
            k = then.key(e)
            if k is None:
                return None
            st = states.get(k)
            if st is None or not st.firsts:
                return None
            ts = e["ts"]
            if grace is not None and ts < clock[0] - grace:
                return None
            return joined(st, k, e, ts)

        # then before first: an event matching both sides never joins with itself
        return [(then.topic, on_then), (first.topic, on_first)]

    def emit(self, side: str, slot: str) -> tuple[list[str], dict[str, Any]]:
        """``first`` events are inlined (stored); a ``then`` event that meets a stored key calls
        :meth:`_joined` (most do not: no state for their key)."""
        spec = self.spec
        retain = float(self.retain)
        slots: dict[str, Any] = {f"{slot}S": self.states, f"{slot}D": self.dirty, f"{slot}N": SequenceState,
                                 f"{slot}bl": bisect_left, f"{slot}ins": insort, f"{slot}J": self._joined}
        if side == "first":
            body = [
                f"st = {slot}S.get(k)",
                "if st is None:",
                f"    st = {slot}S[k] = {slot}N()",
                "firsts = st.firsts",
                "item = (ts, e['event_id'])",
                "if not firsts or firsts[-1][0] <= ts:",
                "    firsts.append(item)",
                "else:",
                f"    {slot}ins(firsts, item)",
                f"keep = firsts[-1][0] - {retain!r}",
                "if firsts[0][0] < keep:",
                f"    del firsts[:{slot}bl(firsts, (keep,))]",
                f"{slot}D.add(k)",
            ]
            return with_key(spec.sides[side], slot, slots, within_grace(spec.grace, body)), slots
        test = "if st is not None and st.firsts:"
        if spec.suppress is not None:  # a suppressed key: no call (_joined would say None)
            test = f"if st is not None and st.firsts and (st.last is None or ts >= st.last + {float(spec.suppress)!r}):"
        body = [
            f"st = {slot}S.get(k)",
            *block(test, within_grace(spec.grace, [
                f"a = {slot}J(st, k, e, ts)",
                "if a is not None:",
                "    out.append(a)",
            ])),
        ]
        return with_key(spec.sides[side], slot, slots, body), slots

    def _joined(self, st: SequenceState, k: str, e: dict[str, Any], ts: float) -> dict[str, Any] | None:
        """A ``then`` event of key ``k`` whose state holds first events (grace already checked)."""
        within, suppress = self.spec.params["within"], self.spec.suppress
        firsts = st.firsts
        if firsts[-1][0] <= ts:
            f_ts, f_id = firsts[-1]
        else:
            i = bisect_right(firsts, (ts, _HIGH)) - 1
            if i < 0:
                return None
            f_ts, f_id = firsts[i]
        if f_ts < ts - within:
            return None
        if suppress is not None and st.last is not None and ts < st.last + suppress:
            return None
        if st.last is None or ts > st.last:
            st.last = ts
        self.dirty.add(k)
        return (self.alert, ts, k, e, [f_id, e["event_id"]], {"gap_s": ts - f_ts, "within_s": within})

    def dump(self, key: str, state: SequenceState) -> Any:
        return {"firsts": [list(x) for x in state.firsts], "last": state.last}

    def load(self, key: str, value: Any) -> None:
        st = SequenceState()
        st.firsts = [tuple(x) for x in value.get("firsts", ())]
        st.last = value.get("last")
        self.states[key] = st

    def expired(self, state: SequenceState, now: float) -> bool:
        if state.firsts and state.firsts[-1][0] >= now - self.retain:
            return False
        return self.suppression_over(state.last, now)
