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
from operator import itemgetter
from decimal import Decimal
from typing import Any

from pingan.streams.engine.base import Handler, RuleRuntime, plain
from pingan.streams.engine.inline import block, with_key, within_grace
from pingan.streams.engine.shrink import shrink


class DeadlineRule(RuleRuntime):
    """State per key in three dicts (no object per key: a start is one dict store):
    ``states`` the running clocks, key -> (start_ts, deadline, start_event_id, context values);
    ``cancels`` key -> sorted ts of recent cancels that met no clock; ``lasts`` key -> last firing."""

    ORDER = ("cancel", "main")  # an event that both cancels and starts leaves a fresh clock running

    def __init__(self, spec, ctx, index):
        super().__init__(spec, ctx, index)
        self.horizon_s = max(spec.params["within"], self.suppress_keep_s)
        self.cancels: dict[str, list[float]] = {}
        self.lasts: dict[str, float] = {}
        fields = spec.context_fields
        # the start event's context in one C call (a decoded event has every field; a hand-made
        # one may not: then field by field, a missing one None)
        self.context_of = itemgetter(*fields) if len(fields) > 1 else None

    def context(self, e: dict[str, Any]) -> tuple:
        fields = self.spec.context_fields
        if self.context_of is not None:
            try:
                return self.context_of(e)
            except KeyError:
                pass
        return tuple([e.get(name) for name in fields])

    def handlers(self) -> list[tuple[str, Handler]]:
        spec = self.spec
        start, cancel = spec.sides["main"], spec.sides["cancel"]
        within, grace = spec.params["within"], spec.grace
        clocks, cancels, dirty, clock, schedule = self.states, self.cancels, self.dirty, self.ctx.clock, self.ctx.schedule
        context = self.context

        def on_start(e: dict[str, Any]) -> None:
            if not start.cond(e):
                return None
            k = start.key(e)
            if k is None:
                return None
            ts = e["ts"]
            if grace is not None and ts < clock[0] - grace:
                return None
            if k in clocks:
                return None
            deadline = ts + within
            cs = cancels.get(k)
            if cs:
                # a cancel already seen (it arrived before this late start) may stop the clock at once
                i = bisect_left(cs, ts)
                if i < len(cs) and cs[i] <= deadline:
                    return None
            clocks[k] = (ts, deadline, e["event_id"], context(e))
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
            cl = clocks.get(k)
            if cl is not None:
                if cl[0] <= ts <= cl[1]:
                    del clocks[k]
                    dirty.add(k)
                return None
            # no clock: remember the cancel for a start that may still arrive late (or at the same ts)
            cs = cancels.get(k)
            if cs is None:
                cancels[k] = cs = [ts]
            elif cs[-1] <= ts:
                cs.append(ts)
            else:
                insort(cs, ts)
            if cs[0] < cs[-1] - within:
                del cs[: bisect_left(cs, cs[-1] - within)]
            dirty.add(k)
            return None

        # cancel first: an event that both cancels and starts leaves a fresh clock running
        return [(cancel.topic, on_cancel), (start.topic, on_start)]

    def schedules_on(self) -> tuple[str, ...]:
        return (self.spec.sides["main"].topic,)

    def scheduled(self, key: str, deadline: float) -> bool:
        cl = self.states.get(key)
        return cl is not None and cl[1] == deadline and not self.removed

    def fire(self, key: str, deadline: float) -> Any:
        cl = self.states.get(key)
        if cl is None or cl[1] != deadline:
            return None  # cancelled, or superseded: a stale schedule entry
        del self.states[key]
        self.dirty.add(key)
        spec = self.spec
        if spec.suppress is not None:  # the last firing matters only to suppression
            last = self.lasts.get(key)
            if last is not None and deadline < last + spec.suppress:
                return None
            self.lasts[key] = deadline
        fields = spec.context_fields
        source = dict(zip(fields, cl[3])) if len(fields) > 1 else {fields[0]: cl[3][0]} if fields else {}
        return (self.alert, deadline, key, source, [cl[2]], {"within_s": spec.params["within"], "started_ts": cl[0]})

    def emit(self, side: str, slot: str) -> tuple[list[str], dict[str, Any]]:
        spec = self.spec
        within = float(spec.params["within"])
        slots: dict[str, Any] = {f"{slot}S": self.states, f"{slot}X": self.cancels, f"{slot}D": self.dirty,
                                 f"{slot}bl": bisect_left, f"{slot}ins": insort, f"{slot}R": self,
                                 f"{slot}hp": heappush, f"{slot}heap": self.ctx.heap}
        if side == "main":
            if self.context_of is not None:
                slots[f"{slot}cx"] = self.context_of
                slots[f"{slot}cxs"] = self.context
                context = ["try:", f"    v = {slot}cx(e)", "except KeyError:", f"    v = {slot}cxs(e)"]
            else:
                slots[f"{slot}cxs"] = self.context
                context = [f"v = {slot}cxs(e)"]
            body = block(f"if k not in {slot}S:", [
                f"d = ts + {within!r}",
                f"cs = {slot}X.get(k)",
                # a cancel already seen (before this late start) may stop the clock at once
                *block(f"if cs is None or (i := {slot}bl(cs, ts)) >= len(cs) or cs[i] > d:", [
                    *context,
                    f"{slot}S[k] = (ts, d, e['event_id'], v)",
                    f"{slot}D.add(k)",
                    f"{slot}hp({slot}heap, (d, {self.index!r}, k, {slot}R))"  # dispatch is rebuilt when the index changes,
                ]),
            ])
            return with_key(spec.sides[side], slot, slots, within_grace(spec.grace, body)), slots
        body = [
            f"cl = {slot}S.get(k)",
            *block("if cl is not None:", [
                *block("if cl[0] <= ts <= cl[1]:", [f"del {slot}S[k]", f"{slot}D.add(k)"]),
            ]),
            # no clock: remember the cancel for a start that may still arrive late (or at the same ts)
            *block("else:", [
                f"cs = {slot}X.get(k)",
                "if cs is None:",
                f"    {slot}X[k] = cs = [ts]",
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

    # -- state: three dicts, one changelog record per key ----------------------------------------
    def snapshot(self, key: str) -> Any:
        clock, cancels, last = self.states.get(key), self.cancels.get(key), self.lasts.get(key)
        if clock is None and not cancels and last is None:
            return None
        if clock is not None:
            context = dict(zip(self.spec.context_fields, clock[3]))
            for name, v in context.items():
                if v.__class__ is Decimal:
                    context[name] = plain(v)
            clock = [clock[0], clock[1], clock[2], context]
        return {"clock": clock, "last": last, "cancels": list(cancels or ())}

    def forget_all(self) -> None:
        self.dirty.update(self.states, self.cancels, self.lasts)
        self.states.clear()
        self.cancels.clear()
        self.lasts.clear()

    def load(self, key: str, value: Any) -> None:
        clock = value.get("clock")
        if clock is not None:
            context = clock[3] or {}
            self.states[key] = clock = (clock[0], clock[1], clock[2],
                                        tuple([context.get(name) for name in self.spec.context_fields]))
            self.ctx.schedule(clock[1], self, key)
        if value.get("last") is not None:
            self.lasts[key] = value["last"]
        if value.get("cancels"):
            self.cancels[key] = list(value["cancels"])

    def sweep(self, now: float) -> None:
        """Cancels older than ``within`` and last firings past their suppression are forgotten
        (a running clock is never: it fires)."""
        within = self.spec.params["within"]
        dead = [k for k, cs in self.cancels.items() if cs[-1] < now - within]
        for k in dead:
            del self.cancels[k]
        over = self.suppression_over
        gone = [k for k, last in self.lasts.items() if over(last, now)]
        for k in gone:
            del self.lasts[k]
        self.dirty.update(dead, gone)
        for table in (self.states, self.cancels, self.lasts):  # fired clocks are deleted one by one
            shrink(table)
