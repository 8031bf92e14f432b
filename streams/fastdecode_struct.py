"""The first tier of the fast path: ``msgspec`` decodes and type-checks a message in C.

From a :class:`~pingan.streams.fastdecode_gen.Plan` (what was read from the pydantic model) this
module derives a ``msgspec`` Struct type - the model's field types, literals, string lengths and
numeric bounds, required fields required, unknown fields forbidden - and a generated function that
finishes what msgspec does not do, with the plan's code and memos: ``before`` validators, string
patterns, ``ts`` to epoch seconds, the ``after`` model validators (called with the Struct itself as
``self`` when they read only plain fields), pseudonyms, and the record in ``to_record``'s key
order. Anything msgspec refuses (an unknown extra field, a type it cannot map, invalid JSON) makes
the function return None: the caller then tries the orjson tier, which handles extra fields, and
pydantic after it. msgspec is as strict as pydantic's strict mode where it accepts (no string to
number, no bool as number, integers widened to floats, literal values exact, lengths in code
points); ``tests/unit/test_fastdecode_fuzz.py`` compares the outcomes.
"""

from __future__ import annotations

import typing
from typing import Any, Optional

import msgspec

from pingan.streams.fastdecode_gen import Plan, RecordFn, Unsupported, or_refuse, validator_calls


def _struct_type(plan: Plan) -> type:
    fields = []
    for f in plan.fields.values():
        if f.before:
            kind: Any = Any if f.required else (Any | msgspec.UnsetType)
        elif f.kind in ("ts",) or (f.kind == "str" and typing.get_origin(f.base) is not typing.Literal):
            meta = {k: v for k, v in f.strings.items() if k != "pattern" and v is not None}
            kind = typing.Annotated[str, msgspec.Meta(**meta)] if meta else str
        elif f.kind == "str":  # a Literal
            kind = f.base
        elif f.kind in ("bool", "int", "float"):
            base = {"bool": bool, "int": int, "float": float}[f.kind]
            kind = typing.Annotated[base, msgspec.Meta(**f.limits)] if f.limits else base
        else:
            raise Unsupported(f"{f.name}: no msgspec type for {f.kind}")
        if f.required:
            fields.append((f.name, kind))
        elif f.before:
            fields.append((f.name, kind, msgspec.UNSET))
        else:
            fields.append((f.name, Optional[kind], None))
    fields.sort(key=lambda x: len(x) == 3)  # msgspec: required fields first
    return msgspec.defstruct(f"{plan.name}Fast", fields, forbid_unknown_fields=True)


def compile_struct_fn(plan: Plan) -> RecordFn:
    """``record(raw bytes) -> record | None`` (raises :class:`Unsupported`)."""
    gen, fields, enrich = plan.gen, plan.fields, plan.enrich
    decoder = msgspec.json.Decoder(_struct_type(plan))
    lines = or_refuse([f"m_ = {gen.slot(decoder.decode)}(raw)"])
    lines += [f"{f.var} = m_.{f.name}" for f in fields.values()]
    for f in fields.values():
        v = f.var
        if f.before:
            unset = [f"if {v} is {gen.slot(msgspec.UNSET)}:", f"    {v} = None", "else:"]
            run = or_refuse([f"{v} = {f.before[0]}({v})"])
            lines += (unset + ["    " + x for x in run]) if not f.required else run
            lines += f.check_lines(gen)
        elif f.kind == "ts":
            lines += [x if not x.startswith("d[") else f"{v} = t_" for x in f.check_lines(gen)]
        elif f.pattern_check and f.name not in plan.guarded:
            lines += [f"if {v} is not None and not ({f.pattern_check}):", "    return None"]
    for i, val in enumerate(plan.validators):
        if val.guards:  # a hit vouches for the patterns (msgspec checked types and lengths)
            lookup = f"{val.memo}.get(k{i}_)" if val.names else f"k{i}_ in {val.memo}"
            lines += [f"k{i}_ = {gen.tuple_of(val.reads)}", f"h{i}_ = {lookup}", f"if not h{i}_:"]
            lines += ["    " + x for n in val.reads if fields[n].pattern_check
                      for x in (f"if {fields[n].var} is not None and not ({fields[n].pattern_check}):", "    return None")]
            lines += ["    pass"]
    def call_of(val: Any) -> list[str]:
        if not any(fields[n].before for n in val.reads):
            return [f"{val.fn}(m_)"]
        return val.namespace + [f"{val.fn}(self_)"]

    calls, names_var = validator_calls(gen, enrich, plan.validators, call_of)
    if calls:
        lines += or_refuse(calls)
    for name in enrich.personal_fields:
        if name in fields:
            v = fields[name].var
            lines += [f"if {v} is not None:", f"    {v} = {gen.slot(enrich.pseudonymize)}({v})"]
    # the record: a copy of a template in to_record's key order (cheaper than a dict display), filled in
    names = [key for key, _ in enrich.lookups(gen)]
    template = dict.fromkeys([*fields, "extra", "topic", "stream", *names])
    template.update(topic=enrich.topic, stream=enrich.stream)
    lines.append(f"r_ = {gen.slot(template)}.copy()")
    lines += [f"r_[{name!r}] = {f.var}" for name, f in fields.items()]
    lines.append("r_['extra'] = {}")
    if names_var:
        lines.append(", ".join(f"r_[{key!r}]" for key in names) + f" = {names_var}")
    else:
        lines += [f"r_[{key!r}] = {x}" for key, x in enrich.lookups(gen)]
    lines.append("return r_")
    source = "def record(raw):\n" + "".join(f"    {line}\n" for line in lines)
    builtins = {"len": len, "float": float, "str": str, "int": int, "bool": bool, "Exception": Exception,
                "OverflowError": OverflowError}
    scope: dict[str, Any] = {"__builtins__": builtins, **gen.slots}
    exec(compile(source, f"<fast decode {plan.name} msgspec>", "exec"), scope)  # noqa: S102 - generated from the model
    fn = scope["record"]
    fn.source = source
    return fn
