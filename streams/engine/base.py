"""What every compiled rule has: its spec (from the loader) and the runtime base class.

A *spec* is the immutable, compiled form of one rule (conditions compiled to functions, durations in
seconds, templates split). A *runtime* is one engine's instance of a spec: it owns the rule's state
(per key) and exposes handlers, one per input topic it listens to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from pingan.streams.engine.alerts import build_alert
from pingan.streams.engine.shrink import shrink
from pingan.streams.engine.templates import Template

Handler = Callable[[dict[str, Any]], "dict[str, Any] | None"]
KeyFn = Callable[[dict[str, Any]], "str | None"]
#: event fields every alert carries (the location of the event that made the rule fire).
LOCATION = ("county_code", "county_name", "township_code", "township_name", "village_code", "village_name")


@dataclass(frozen=True)
class Side:
    """One stream a rule listens to: its topic, compiled condition and key extractor."""

    name: str  # "main", "cancel", "first", "then"
    stream: str
    topic: str
    cond: Callable[[dict[str, Any]], Any]
    key: KeyFn
    key_fields: tuple[str, ...]


@dataclass(frozen=True)
class AlertSpec:
    severity: str
    title: Template
    labels: dict[str, Template]
    topics: tuple[str, ...]
    domain: str
    figure_fields: tuple[str, ...]
    evidence_max: int


@dataclass(frozen=True)
class RuleSpec:
    id: str
    version: str
    status: str  # enabled | shadow | disabled
    type: str
    file: str
    line: int
    sides: dict[str, Side]
    alert: AlertSpec
    suppress: float | None
    grace: float | None
    params: dict[str, Any] = field(default_factory=dict)
    #: event fields kept with a deadline clock, to render the alert when the deadline passes.
    context_fields: tuple[str, ...] = ()


class EngineContext:
    """What runtimes share with their engine: event time and the deadline scheduler."""

    __slots__ = ("clock", "schedule", "late_s", "heap")

    def __init__(self, schedule: Callable[[float, "RuleRuntime", str], None], late_s: float = 6 * 3600.0):
        self.clock = [float("-inf")]  # a one-item list: handlers read clock[0] without a method call
        self.schedule = schedule
        #: the deadline heap, (deadline, rule index, key, runtime); generated code pushes to it
        self.heap: list[tuple[float, int, str, Any]] = []
        #: how late an event may still arrive and be judged right (rules without a grace period)
        self.late_s = late_s


def plain(value: Any) -> Any:
    """A JSON-able copy of an event value (Decimal -> float)."""
    if isinstance(value, Decimal):
        return float(value)
    return value


class RuleRuntime:
    """Base of the rule types. Subclasses implement ``handlers``, ``dump``, ``load``, ``expired``,
    and may implement ``emit`` (their per-event code, inlined into the engine's per-topic function).

    ``states`` and ``dirty`` (the keys changed since the engine last collected them) are created
    once and only ever mutated: generated code holds references to them.
    """

    horizon_s = 0.0  # how long an event can still matter to this rule (dedup retention)
    #: side names in the order the rule sees an event that matches several of its sides
    ORDER: tuple[str, ...] = ("main",)

    def __init__(self, spec: RuleSpec, ctx: EngineContext, index: int):
        self.spec = spec
        self.ctx = ctx
        self.index = index
        self.states: dict[str, Any] = {}
        self.dirty: set[str] = set()
        self.next_sweep = float("-inf")  # event time of the next sweep (the engine's to set)
        self.removed = False  # set when a reload removed the rule (its state keys still to delete)
        self.prefix = f"r:{spec.id}:{spec.version}:"
        self.use_spec(spec, index)
        # a key's last firing is kept past its suppression for the events that may still arrive
        # late with a ts inside it (the rule's grace, else the engine's lateness allowance)
        late = spec.grace if spec.grace is not None else ctx.late_s
        self.suppress_keep_s = spec.suppress + late if spec.suppress else 0.0

    def use_spec(self, spec: RuleSpec, index: int) -> None:
        """(Re)bind the spec: a reloaded rule with the same version keeps its state, and takes the
        new position and status. ``alert(ts, key, source, evidence, figures)`` builds an alert dict
        (see :mod:`pingan.streams.engine.alerts`). Rule code does not call it: it returns (or
        appends to ``out``) a *firing*, ``(alert, ts, key, source, evidence, figures)``, and the
        engine renders the firings of a batch at its end (see ``Engine.run``)."""
        self.spec, self.index = spec, index
        self._status = "shadow" if spec.status == "shadow" else "enabled"
        self.alert = build_alert(spec, self._status)

    # -- to implement ----------------------------------------------------------------------------
    def handlers(self) -> list[tuple[str, Handler]]:
        raise NotImplementedError

    def dump(self, key: str, state: Any) -> Any:
        raise NotImplementedError

    def load(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def expired(self, state: Any, now: float) -> bool:
        raise NotImplementedError

    def horizon_for(self, topic: str) -> float:
        """How long an event of ``topic`` can still matter to this rule (dedup retention)."""
        return self.horizon_s

    def schedules_on(self) -> tuple[str, ...]:
        """Topics whose events can make this rule schedule a deadline (the engine checks for one
        already due after those only)."""
        return ()

    def fire(self, key: str, deadline: float) -> Any:
        """Called by the engine when a scheduled deadline has passed."""
        return None

    def scheduled(self, key: str, deadline: float) -> bool:
        """Whether a deadline scheduled for ``key`` at ``deadline`` is still wanted."""
        return not self.removed

    def emit(self, side: str, slot: str) -> tuple[list[str], dict[str, Any]] | None:
        """The code run for an event that meets ``side``'s condition, or None (then the handler is
        called). See :mod:`pingan.streams.engine.inline` for the names the code may use; every
        name of its own starts with ``slot``."""
        return None

    def finish_restore(self) -> None:
        """Called once every restored record was given to :meth:`load`."""

    def __lt__(self, other: "RuleRuntime") -> bool:
        """Heap entries (deadline, index, key, runtime) tie on the first three only across a
        reload (a removed runtime and its successor at the same index): any fixed order will do."""
        return id(self) < id(other)

    # -- shared ----------------------------------------------------------------------------------
    def write_changes(self, out: dict[str, Any]) -> None:
        """The changelog records of the keys changed since the last call (value None: delete)."""
        removed = self.removed
        prefix, snapshot = self.prefix, self.snapshot
        for key in self.dirty:
            out[prefix + key] = None if removed else snapshot(key)
        self.dirty.clear()

    def snapshot(self, key: str) -> Any:
        """The JSON-able state of ``key`` (None: deleted)."""
        st = self.states.get(key)
        return None if st is None else self.dump(key, st)

    def forget_all(self) -> None:
        """Drop every key's state (the rule was removed or changed); the keys become dirty."""
        self.dirty.update(self.states)
        self.states.clear()

    def sweep(self, now: float) -> None:
        """Forget the keys whose state can no longer change any result."""
        dead = [k for k, st in self.states.items() if self.expired(st, now)]
        for k in dead:
            del self.states[k]
            self.dirty.add(k)
        shrink(self.states)

    def suppression_over(self, last: float | None, now: float) -> bool:
        """True when a key whose last firing was at ``last`` no longer needs it remembered."""
        return last is None or now >= last + self.suppress_keep_s

    def suppressed(self, last: float | None, ts: float) -> bool:
        s = self.spec.suppress
        return s is not None and last is not None and ts < last + s
