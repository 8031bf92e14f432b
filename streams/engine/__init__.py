"""The rule engine: the YAML rule language, its compiler, the rule types and event time.

Public interface::

    from pingan.streams.engine import load_ruleset, Engine, Timeline
    ruleset = load_ruleset(Path("rules"), pseudonym_key=...)   # raises RuleError listing every problem
    engine = Engine(ruleset)
    alerts = engine.process(event)        # decoded event dict, in event-time order
    engine.run(events, alerts)            # many, appended to alerts (what the timeline calls)
    alerts = engine.advance_to(ts)        # fire deadlines strictly before ts
    engine.swap_rules(new_ruleset)        # hot reload; unchanged rules keep their state
    engine.dirty_state() / engine.restore_state(items)

Modules: ``language`` (condition text -> validated tree), ``compiler`` (tree -> function),
``loader`` (rule files -> RuleSet), ``windows``/``timers``/``joins``/``spike`` (rule types),
``inline`` (the code rule types emit), ``dispatch`` (one generated function per topic and value of
its index field), ``alerts`` (one generated alert builder per rule), ``dedup`` (seen event ids),
``engine`` (the engine), ``timeline`` (watermark, reorder buffer), ``testing`` (YAML rule tests).
"""

from pingan.streams.engine.engine import Engine
from pingan.streams.engine.loader import RuleSet, load_ruleset, parse_duration
from pingan.streams.engine.timeline import ReorderBuffer, Timeline, Watermark

__all__ = ["Engine", "ReorderBuffer", "RuleSet", "Timeline", "Watermark", "load_ruleset", "parse_duration"]
