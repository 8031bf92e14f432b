"""Rule types ``match``, ``count`` and ``distinct_count`` (event-time windows, inclusive).

A count rule evaluated at a matching event with ts t looks at the key's matching events with ts in
[t - window, t] (both ends inclusive). Suppression only blocks firing; events seen during it stay in
the window.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter
from typing import Any

from pingan.streams.engine.base import Handler, RuleRuntime
from pingan.streams.engine.inline import block, suppressed_test, with_key, within_grace



class MatchRule(RuleRuntime):
    """Fires on every matching event (state only for suppression: the last firing per key)."""

    def __init__(self, spec, ctx, index):
        super().__init__(spec, ctx, index)
        self.horizon_s = self.suppress_keep_s

    def handlers(self) -> list[tuple[str, Handler]]:
        side = self.spec.sides["main"]
        cond, key_of, suppress, grace = side.cond, side.key, self.spec.suppress, self.spec.grace
        states, dirty, clock, alert = self.states, self.dirty, self.ctx.clock, self.alert

        def on_event(e: dict[str, Any]) -> dict[str, Any] | None:
            if not cond(e):
                return None
            k = key_of(e)
            if k is None:
                return None
            ts = e["ts"]
            if grace is not None and ts < clock[0] - grace:
                return None
            if suppress is not None:
                last = states.get(k)
                if last is not None and ts < last + suppress:
                    return None
                states[k] = ts if last is None or ts > last else last
                dirty.add(k)
            return (alert, ts, k, e, [e["event_id"]], {})

        return [(side.topic, on_event)]

    def emit(self, side: str, slot: str) -> tuple[list[str], dict[str, Any]]:
        spec = self.spec
        slots: dict[str, Any] = {f"{slot}S": self.states, f"{slot}D": self.dirty, f"{slot}A": self.alert}
        fire = [f"out.append(({slot}A, ts, k, e, [e['event_id']], {{}}))"]
        if spec.suppress is None:
            body = fire
        else:
            body = [f"last = {slot}S.get(k)",
                    *block(f"if {suppressed_test(spec.suppress, 'last')}:",
                           [f"{slot}S[k] = ts if last is None or ts > last else last", f"{slot}D.add(k)", *fire])]
        return with_key(spec.sides[side], slot, slots, within_grace(spec.grace, body)), slots

    def dump(self, key: str, state: Any) -> Any:
        return {"last": state}

    def load(self, key: str, value: Any) -> None:
        self.states[key] = float(value["last"])

    def expired(self, state: Any, now: float) -> bool:
        return self.suppression_over(state, now)


class WindowState:
    """A key's window: parallel lists sorted by ts (events of equal ts in arrival order). Floats
    in their own list make every bisect a float comparison and the count a subtraction; a
    distinct count is ``len(set(vals[lo:hi]))``."""

    __slots__ = ("ts", "ids", "vals", "last", "new", "moved")

    def __init__(self) -> None:
        self.ts: list[float] = []
        self.ids: list[str] = []  # event ids
        self.vals: list[str] = []  # the distinct field's values (distinct_count only)
        self.last: float | None = None
        self.new = 0  # items appended at the end since the state was last written
        # the next write must be a whole snapshot: a new window (its key may still have records of
        # a deleted one), or an item went elsewhere than the end
        self.moved = True

    @property
    def ev(self) -> list[tuple]:
        """The items as tuples, (ts, event_id) or (ts, value, event_id) (the changelog's shape)."""
        return self.items()

    def items(self, start: int = 0) -> list[tuple]:
        """The items from position ``start`` on, as tuples (see :attr:`ev`)."""
        if self.vals:
            return list(zip(self.ts[start:], self.vals[start:], self.ids[start:]))
        return list(zip(self.ts[start:], self.ids[start:]))

    def trim(self, retain: float) -> bool:
        """Drop the items more than ``retain`` before the newest; whether any went."""
        tl = self.ts
        if not tl or tl[0] >= tl[-1] - retain:
            return False
        j = bisect_left(tl, tl[-1] - retain)
        del tl[:j]
        del self.ids[:j]
        del self.vals[:j]
        return True

    def set_items(self, items: Any) -> None:
        """From the changelog's lists, sorted by ts (stable: equal ts keep their order)."""
        items = sorted((tuple(x) for x in items), key=_TS)
        self.ts = [x[0] for x in items]
        self.ids = [x[-1] for x in items]
        self.vals = [x[1] for x in items] if items and len(items[0]) == 3 else []


_TS = itemgetter(0)
DELTA = "\x1e"  # a window's delta record: <state key>\x1e<n>
MAX_DELTAS = 32  # delta records per window before a whole snapshot replaces them


class CountRule(RuleRuntime):
    """>= threshold (or > threshold) matching events of a key in the window ending at the trigger."""

    distinct = False

    def __init__(self, spec, ctx, index):
        super().__init__(spec, ctx, index)
        window = spec.params["window"]
        # events are kept for one window more than needed (or the rule's grace), so an event that
        # arrives late still counts the events of the window that ends at it
        self.retain = window + (spec.grace if spec.grace is not None else window)
        self._deltas: dict[str, int] = {}  # key -> records written since its snapshot (the snapshot is 1)
        self._restored: dict[str, dict[int, Any]] = {}  # deltas read back, until finish_restore
        self.horizon_s = max(self.retain, self.suppress_keep_s)

    def handlers(self) -> list[tuple[str, Handler]]:
        spec = self.spec
        side = spec.sides["main"]
        cond, key_of, grace = side.cond, side.key, spec.grace
        distinct_field = spec.params.get("distinct")
        states, dirty, clock, add, triggered = self.states, self.dirty, self.ctx.clock, self.add, self._triggered
        window, threshold, strict = spec.params["window"], spec.params["threshold"], spec.params["op"] == ">"

        def on_event(e: dict[str, Any]) -> Any:
            if not cond(e):
                return None
            k = key_of(e)
            if k is None:
                return None
            ts = e["ts"]
            if grace is not None and ts < clock[0] - grace:
                return None
            value = None
            if distinct_field is not None:
                value = e[distinct_field]
                if value is None or value == "":
                    return None
                value = value if value.__class__ is str else str(value)
            st = states.get(k)
            if st is None:
                st = states[k] = WindowState()
            hi = add(st, ts, value, e["event_id"])
            if hi is None:
                return None  # a re-delivered event the window already holds
            dirty.add(k)
            n = hi - bisect_left(st.ts, ts - window, 0, hi)
            if (n <= threshold) if strict else (n < threshold):
                return None
            return triggered(st, k, e, ts, hi)

        return [(side.topic, on_event)]

    def add(self, st: WindowState, ts: float, value: str | None, event_id: str) -> int | None:
        """Put an event into ``st`` (the code ``emit`` inlines does the same); returns the end of
        its ts in the window, or None when the window already holds it."""
        tl = st.ts
        if not tl or tl[-1] < ts:
            tl.append(ts)
            st.ids.append(event_id)
            if value is not None:
                st.vals.append(value)
            hi = len(tl)
        else:
            hi = bisect_right(tl, ts)
            if event_id in st.ids[bisect_left(tl, ts, 0, hi):hi]:
                return None
            tl.insert(hi, ts)
            st.ids.insert(hi, event_id)
            if value is not None:
                st.vals.insert(hi, value)
            hi += 1
            if hi < len(tl):
                st.moved = True
        st.new += 1
        if st.trim(self.retain):
            hi = bisect_right(tl, ts)
        return hi

    def emit(self, side: str, slot: str) -> tuple[list[str], dict[str, Any]]:
        """The window update inlined (as :meth:`add`); counting past the threshold and the alert
        stay a call."""
        spec = self.spec
        s = spec.sides[side]
        slots: dict[str, Any] = {f"{slot}S": self.states, f"{slot}D": self.dirty, f"{slot}W": WindowState,
                                 f"{slot}bl": bisect_left, f"{slot}br": bisect_right, f"{slot}T": self._triggered}
        retain = float(self.retain)
        field = spec.params.get("distinct")
        trigger = [f"a = {slot}T(st, k, e, ts, hi)", "if a is not None:", "    out.append(a)"]
        if spec.suppress is not None:  # a suppressed key is not counted: no call
            trigger = ["last = st.last", *block(f"if {suppressed_test(spec.suppress, 'last')}:", trigger)]
        window, threshold = float(spec.params["window"]), spec.params["threshold"]
        op = ">" if spec.params["op"] == ">" else ">="
        # the count checks its threshold inline; a distinct count is at most the count, so it is
        # only counted (in the call) once the count reaches the threshold
        reached = f"if hi - {slot}bl(ev, ts - {window!r}, 0, hi) {op} {int(threshold)!r}:"
        vals = field is not None
        update = [
            f"st = {slot}S.get(k)",
            "if st is None:",
            f"    st = {slot}S[k] = {slot}W()",
            "ev = st.ts",
            "dup = False",
            "if not ev or ev[-1] < ts:",
            "    ev.append(ts)",
            "    st.ids.append(e['event_id'])",
            *(["    st.vals.append(v)"] if vals else []),
            "    hi = len(ev)",
            "else:",
            f"    hi = {slot}br(ev, ts)",
            f"    if e['event_id'] in st.ids[{slot}bl(ev, ts, 0, hi):hi]:",
            "        dup = True",  # a re-delivered event the window already holds
            "    else:",
            "        ev.insert(hi, ts)",
            "        st.ids.insert(hi, e['event_id'])",
            *(["        st.vals.insert(hi, v)"] if vals else []),
            "        hi += 1",
            "        if hi < len(ev):",
            "            st.moved = True",
            *block("if not dup:", [
                "st.new += 1",
                f"if ev[0] < ev[-1] - {retain!r}:",
                f"    i = {slot}bl(ev, ev[-1] - {retain!r})",
                "    del ev[:i]",
                "    del st.ids[:i]",
                *(["    del st.vals[:i]"] if vals else []),
                f"    hi = {slot}br(ev, ts)",
                f"{slot}D.add(k)",
                *block(reached, trigger),
            ]),
        ]
        if vals:
            body = [f"v = e.get({field!r})", *block('if v is not None and v != "":', [
                "if v.__class__ is not str:", "    v = str(v)", *update])]
        else:
            body = update
        return with_key(s, slot, slots, within_grace(spec.grace, body)), slots

    def _triggered(self, st: WindowState, k: str, e: dict[str, Any], ts: float, hi: int) -> Any:
        """After the window of ``k`` took the event at ``ts`` (``hi``: end of its ts in ``st.ts``):
        the firing, if the window ending at ts reaches the threshold and no suppression holds."""
        last = st.last
        suppress = self.spec.suppress
        if suppress is not None and last is not None and ts < last + suppress:
            return None  # suppressed whatever the count: not counted
        params = self.spec.params
        window, threshold = params["window"], params["threshold"]
        lo = bisect_left(st.ts, ts - window, 0, hi)
        n = len(set(st.vals[lo:hi])) if self.distinct else hi - lo
        if (n <= threshold) if params["op"] == ">" else (n < threshold):
            return None
        if last is None or ts > last:
            st.last = ts
        figures = {"count": hi - lo, "threshold": threshold, "window_s": window}
        if self.distinct:
            figures["distinct"] = n
        # the alert keeps the last evidence_max ids: only those are collected
        return (self.alert, ts, k, e, st.ids[max(lo, hi - self.spec.alert.evidence_max):hi], figures)

    # -- changelog: a whole snapshot, then delta records of what was appended ------------------
    def write_changes(self, out: dict[str, Any]) -> None:
        """A window that only grew at its end since it was last written gets a delta record
        (``<key>\x1e<n>``: the appended items and ``last``); otherwise, or after ``MAX_DELTAS``
        deltas, a whole snapshot under its key and tombstones for its deltas. Items that slid out
        of the window are not written: a restore trims by the newest item, as the window does.
        Most windows change by one item a flush, so a flush writes what changed, not every window."""
        prefix = self.prefix
        written = self._deltas
        removed = self.removed
        for key in self.dirty:
            st = None if removed else self.states.get(key)
            n = written.get(key, 0)
            if st is not None and not st.moved and 0 < n < MAX_DELTAS and st.new <= len(st.ts):
                tail = st.items(len(st.ts) - st.new) if st.new else []
                out[f"{prefix}{key}{DELTA}{n}"] = {"ev": [list(x) for x in tail], "last": st.last}
                written[key] = n + 1
            else:
                out[prefix + key] = None if st is None else self.dump(key, st)
                for i in range(1, n):
                    out[f"{prefix}{key}{DELTA}{i}"] = None
                if st is None:
                    written.pop(key, None)
                else:
                    written[key] = 1  # the snapshot; deltas are numbered from 1
            if st is not None:
                st.new = 0
                st.moved = False
        self.dirty.clear()

    def dump(self, key: str, state: WindowState) -> Any:
        return {"ev": [list(x) for x in state.items()], "last": state.last}

    def load(self, key: str, value: Any) -> None:
        if DELTA in key:
            key, _, n = key.partition(DELTA)
            if n.isdigit():
                self._restored.setdefault(key, {})[int(n)] = value
            return
        st = WindowState()
        st.set_items(value.get("ev", ()))
        st.last = value.get("last")
        st.moved = False
        self.states[key] = st
        self._deltas[key] = max(self._deltas.get(key, 0), 1)

    def finish_restore(self) -> None:
        """Apply the restored deltas to their snapshots, in order, and trim as the window would."""
        for key, deltas in self._restored.items():
            st = self.states.get(key)
            if st is None:  # deltas without their snapshot (deleted): tombstoned at the next write
                self._deltas[key] = max(deltas) + 1
                self.dirty.add(key)
                continue
            items = st.ev
            for n in sorted(deltas):
                value = deltas[n]
                items.extend(tuple(x) for x in value.get("ev", ()))
                st.last = value.get("last")
            st.set_items(items)
            st.trim(self.retain)
            self._deltas[key] = max(deltas) + 1
        self._restored = {}

    def expired(self, state: WindowState, now: float) -> bool:
        if state.ts and state.ts[-1] >= now - self.retain:
            return False
        return self.suppression_over(state.last, now)


class DistinctCountRule(CountRule):
    """Like count, on the number of distinct values of a field in the window."""

    distinct = True
