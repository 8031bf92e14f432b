"""What the fast decode paths read from one event model, and the orjson tier's generated code.

Everything is read from the pydantic model (the one definition of each schema) into a
:class:`Plan`: ``model_fields`` (types, nullability, ``Literal`` values, string length and pattern
constraints, numeric bounds), its ``before`` field validators and its ``after`` model validators,
which are called as they are. The generated functions (here the orjson tier, in
:mod:`.fastdecode_struct` the msgspec tier) take the raw message bytes and return the finished
record (what ``Decoder.to_record`` makes of the validated model) or ``None``, meaning "ask the next
tier": any doubt falls back, so a fast path may only accept what pydantic accepts, with the same
values.

What the generated code does to be fast (bench B2 measures it against ``orjson.loads``):

- ``ts``: a regex, ``datetime.fromisoformat`` and ``.timestamp()`` cost more than all other checks
  together. :class:`Timestamps` does that for the first string of each minute and offset; the
  others cost two lookups (minute, then seconds and offset).
- ``after`` model validators are pure functions of the fields they read: the model fields their
  code names (attribute names and string constants, e.g. ``getattr(self, "township_code", None)``).
  Each gets an object holding only those (reading anything else raises, and the message goes on).
  When they are all "coded" (literals, booleans, strings with a pattern) its successes are
  remembered under the tuple of values (bounded memo), and when they are all strings, a hit also
  vouches for their own checks: the division check and the three code regexes become one tuple
  lookup, which also yields the county/township/village names.
- Names a validator reads that are not model fields (``getattr(self, "village_code", None)`` on a
  model without that field) could be unknown extra fields, which pydantic hands to the validator:
  when one of them is present the message goes to pydantic.
- The orjson tier completes orjson's dict in place: absent optional fields are added by
  ``setdefault`` while they are read, so afterwards ``len(d)`` equals the number of model fields
  exactly when the message has no unknown extra fields (which then move to ``d["extra"]``). Key
  order is not part of the record format (``==`` is; the tests compare value types too).
"""

from __future__ import annotations

import keyword
import re
import types
import typing
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

import annotated_types
import orjson
from pydantic import AwareDatetime
from pydantic.fields import FieldInfo

#: RFC 3339 with an explicit offset (the only timestamps the fast path accepts; pydantic takes the rest)
TS_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})").fullmatch
#: what ``d.get`` returns for a missing field that has ``before`` validators
MISSING = object()
#: memo sizes: a memo that reaches this many entries starts again empty
MEMO_LIMIT = 4096
_BOUNDS = {annotated_types.Ge: ("ge", ">="), annotated_types.Le: ("le", "<="),
           annotated_types.Gt: ("gt", ">"), annotated_types.Lt: ("lt", "<")}  # constraint -> (attribute, operator)
SECONDS = tuple(f"{s:02d}" for s in range(60))

RecordFn = Callable[[bytes], "dict[str, Any] | None"]


class Unsupported(Exception):
    """The model uses something the fast-path generator does not handle (pydantic does it all)."""


def unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, bool, list[Any]]:
    """(base type, nullable, constraint objects) of a field annotation."""
    nullable = False
    constraints = list(metadata)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise Unsupported(f"union {annotation}")
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        for item in extra:
            if isinstance(item, FieldInfo):
                constraints.extend(item.metadata)
            else:
                constraints.append(item)
        annotation = base
    return annotation, nullable, constraints


def names_read(fn: Callable[..., Any]) -> set[str]:
    """Identifiers ``fn`` may read from ``self``: attribute names and identifier-like string constants."""
    found: set[str] = set()
    stack = [getattr(fn, "__code__", None)]
    if stack[0] is None:
        raise Unsupported(f"validator {fn!r} has no code object")
    while stack:
        code = stack.pop()
        found.update(code.co_names)
        for const in code.co_consts:
            if isinstance(const, str) and const.isidentifier() and not keyword.iskeyword(const):
                found.add(const)
            elif isinstance(const, types.CodeType):
                stack.append(const)
    return found


def inexact(value: Any, depth: int = 100) -> bool:
    """Whether pydantic could read this parsed JSON value (extra fields) differently: orjson reads
    integers beyond 64 bits as floats where pydantic keeps them exact, and pydantic refuses
    nesting about 200 deep that orjson takes. (A declared field's own type check settles both.)"""
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if item.__class__ is float:
            if abs(item) >= 2.0**63:
                return True
        elif item.__class__ is dict or item.__class__ is list:
            if level >= depth:
                return True
            stack.extend((x, level + 1) for x in (item.values() if item.__class__ is dict else item))
    return False


def aware_datetime(text: str) -> datetime | None:
    """The datetime of an RFC 3339 string with an offset as pydantic reads it, or None (ask pydantic)."""
    if TS_SHAPE(text) is None or (text[-1] != "Z" and text[-2] > "5"):  # pydantic: offset minutes 0-59
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class Timestamps:
    """Epoch seconds of ``ts`` strings: the full check once per minute and offset, then lookups.

    When a string of the plain shapes ``YYYY-MM-DDTHH:MM:SSZ`` or ``...SS+HH:MM`` passes
    :func:`aware_datetime` (the regex and ``fromisoformat``), every string that differs from it
    only in the seconds is valid too: the date, time and offset of such a string are valid
    independently of each other. So ``minutes`` maps ``"YYYY-MM-DDTHH:MM"`` (checked as part of a
    whole string) to the epoch of that wall-clock minute read as UTC, and ``tails`` maps ``":SS"``
    + offset (every second of each checked offset) to the seconds to add; a string is taken from
    the tables only when both halves hit, and the sum is exactly ``fromisoformat(ts).timestamp()``
    (whole seconds). Fractions of a second and other shapes take :meth:`slow` every time.
    """

    def __init__(self, limit: int = MEMO_LIMIT):
        self.minutes: dict[str, float] = {}
        self.tails: dict[str, int] = {}
        self._limit = limit

    def slow(self, text: str) -> float | None:
        value = aware_datetime(text)
        if value is None:
            return None
        try:
            epoch = value.timestamp()
        except (ValueError, OverflowError):
            return None
        if (len(text) == 20 and text[19] == "Z") or (len(text) == 25 and text[19] in "+-"):
            offset = int(value.utcoffset().total_seconds())
            minutes, tails, suffix = self.minutes, self.tails, text[19:]
            if len(minutes) >= self._limit:
                minutes.clear()
            minutes[text[:16]] = epoch + offset - int(text[17:19])
            if ":00" + suffix not in tails:
                if len(tails) >= self._limit:
                    tails.clear()
                tails.update((f":{digits}{suffix}", second - offset) for second, digits in enumerate(SECONDS))
        return epoch


class Field:
    """One model field: where its value lives in the generated code and how it is checked."""

    def __init__(self, gen: Gen, name: str, info: FieldInfo, before: list[str]):
        self.name = name
        self.var = f"v{len(gen.fields)}"
        self.required = info.is_required()
        if len(before) > 1:
            raise Unsupported(f"{name}: more than one before validator")
        self.before = before
        base, self.nullable, constraints = unwrap(info.annotation, info.metadata)
        if not self.required and info.default is not None:
            raise Unsupported(f"{name}: default other than None")
        if not self.required and not self.nullable:
            raise Unsupported(f"{name}: non-nullable optional field")
        self.base = base
        self.kind = ""  # str | literal | bool | int | float | decimal | ts | datetime
        checks: list[str] = []
        v = self.var
        strings: dict[str, Any] = {"min_length": None, "max_length": None, "pattern": None}
        self.strings = strings  # (for other front ends: fastdecode_struct)
        self.limits: dict[str, Any] = {}
        bounds: list[str] = []
        for c in constraints:
            if hasattr(c, "pattern") and hasattr(c, "max_length"):  # StringConstraints
                for attr in ("strip_whitespace", "to_upper", "to_lower", "strict", "ascii_only"):
                    if getattr(c, attr) not in (None, False):
                        raise Unsupported(f"{name}: string option {attr}")
                for attr in strings:
                    if getattr(c, attr) is not None:
                        strings[attr] = getattr(c, attr)
            elif type(c) in _BOUNDS:
                attr, op = _BOUNDS[type(c)]
                bounds.append(f"{v} {op} {getattr(c, attr)!r}")
                self.limits[attr] = getattr(c, attr)
            else:
                raise Unsupported(f"{name}: constraint {c!r}")
        if base is not str and any(x is not None for x in strings.values()):
            raise Unsupported(f"{name}: string constraint on {base!r}")
        self.convert: list[str] = []
        self.pattern_check = ""
        self.coded = False  # values from a small set (literals, booleans, codes with a pattern): worth a memo
        if base is str:
            self.kind = "str"
            self.coded = strings["pattern"] is not None
            checks.append(f"{v}.__class__ is str")
            low, high = strings["min_length"], strings["max_length"]
            if low is not None or high is not None:
                checks.append(" <= ".join(x for x in (repr(low) if low is not None else "", f"len({v})",
                                                       repr(high) if high is not None else "") if x))
            if strings["pattern"] is not None:
                pattern = strings["pattern"]
                if not (pattern.startswith("^") and pattern.endswith("$")):
                    raise Unsupported(f"{name}: unanchored pattern")
                self.pattern_check = f"{gen.slot(re.compile(pattern).fullmatch)}({v}) is not None"
                checks.append(self.pattern_check)
        elif typing.get_origin(base) is typing.Literal:
            values = typing.get_args(base)
            if not all(isinstance(x, str) for x in values):
                raise Unsupported(f"{name}: non-string literal")
            self.kind = "str"
            self.coded = True
            checks.append(f"{v}.__class__ is str and {v} in {gen.slot(frozenset(values))}")
        elif base is bool:
            self.kind = "bool"
            self.coded = True
            checks.append(f"{v}.__class__ is bool")
        elif base is int:
            self.kind = "int"
            checks.append(f"{v}.__class__ is int")
        elif base is float:
            self.kind = "float"
            checks.append(f"({v}.__class__ is float or {v}.__class__ is int)")
            self.convert = [f"if {v}.__class__ is int:", "    try:", f"        {v} = float({v})",
                            "    except OverflowError:", "        return None", f"    d[{name!r}] = {v}"]
        elif base is Decimal:
            self.kind = "decimal"
            checks.append(f"{v}.__class__ is {gen.slot(Decimal)}")
        elif base is AwareDatetime and name == "ts":  # to_record turns ``ts`` into epoch seconds
            self.kind = "ts"
        elif base is AwareDatetime:
            self.kind = "datetime"
            checks.append(f"{v}.__class__ is str")
            self.convert = [f"{v} = {gen.slot(aware_datetime)}({v})", f"if {v} is None:", "    return None",
                            f"d[{name!r}] = {v}"]
        else:
            raise Unsupported(f"{name}: type {base!r}")
        if bounds and self.kind not in ("int", "float"):
            raise Unsupported(f"{name}: bounds on {base!r}")
        self.checks = checks
        self.bounds = bounds

    def load_before(self, gen: Gen) -> list[str]:
        """Reads a field that has a ``before`` validator: pydantic runs it on a present value,
        null included, never on a default. (Other fields are read by ``setdefault``, see below.)"""
        v, key = self.var, repr(self.name)
        absent = ["    return None"] if self.required else [f"    {v} = d[{key}] = None"]
        return [f"{v} = d.get({key}, {gen.slot(MISSING)})", f"if {v} is {gen.slot(MISSING)}:"] + absent + [
            "else:", "    try:", f"        {v} = d[{key}] = {self.before[0]}({v})", "    except Exception:", "        return None"]

    def check_lines(self, gen: Gen) -> list[str]:
        """Checks and conversions of the loaded value (``return None`` on any doubt)."""
        v = self.var
        if self.kind == "ts":
            ts = gen.timestamps()
            body = [f"if {v}.__class__ is not str:", "    return None", f"t_ = {gen.slot(ts.minutes)}.get({v}[:16])",
                    f"s_ = {gen.slot(ts.tails)}.get({v}[16:]) if t_ is not None else None",
                    "if s_ is not None:", "    t_ += s_", "else:",
                    f"    t_ = {gen.slot(ts.slow)}({v})", "    if t_ is None:", "        return None",
                    f"d[{self.name!r}] = {v} = t_"]
        else:
            body = [f"if not ({' and '.join(self.checks)}):", "    return None"] + self.convert
            if self.bounds:
                body += [f"if not ({' and '.join(self.bounds)}):", "    return None"]
        if self.required:
            return body  # a null or missing required value fails the class check / the load
        return [f"if {v} is not None:"] + ["    " + line for line in body]


class Gen:
    def __init__(self, timestamps: Timestamps) -> None:
        self.slots: dict[str, Any] = {}
        self.fields: dict[str, Field] = {}
        self._ts = timestamps
        self._ids: dict[int, str] = {}

    def slot(self, value: Any) -> str:
        """A global name for ``value`` in the generated code (one per object)."""
        name = self._ids.get(id(value))
        if name is None:
            name = self._ids[id(value)] = f"_s{len(self.slots)}"
            self.slots[name] = value
        return name

    def timestamps(self) -> Timestamps:
        return self._ts

    def tuple_of(self, names: list[str]) -> str:
        return "(" + "".join(f"{self.fields[n].var}, " for n in names) + ")"


class Enrichment(typing.NamedTuple):
    """What ``Decoder.to_record`` adds to the fields (passed by the decoder that owns the names)."""

    topic: str
    stream: str
    county_names: dict[str, str]
    township_names: dict[str, str]
    village_names: dict[str, str]
    pseudonymize: Callable[[str], str]
    personal_fields: tuple[str, ...]

    def lookups(self, gen: Gen) -> list[tuple[str, str]]:
        """(record key, expression) of the division names, as to_record looks them up."""
        fields = gen.fields
        out = [("county_name", f"{gen.slot(self.county_names)}[{fields['county_code'].var}]")]
        for key, code, names in (("township_name", "township_code", self.township_names),
                                 ("village_name", "village_code", self.village_names)):
            f = fields.get(code)
            out.append((key, f"{gen.slot(names)}.get({f.var}) if {f.var} else None" if f else "None"))
        return out


class Validator(typing.NamedTuple):
    fn: str  # slot of the function
    reads: list[str]  # the model fields it reads
    memo: str | None  # slot of its memo of successes (None: called every time)
    guards: bool  # its memo vouches for the checks of the (plain string) fields it reads
    namespace: list[str]  # code filling the ``self`` it gets from the field variables (then ``self_`` is it)
    names: bool  # its memo maps the division codes to their names (to_record's lookups)


DIVISION_CODES = ("county_code", "township_code", "village_code")


def _namespace(gen: Gen, reads: list[str]) -> list[str]:
    """The ``self`` a validator gets: one object per validator with a slot for each field it reads
    (any other attribute raises), refilled for every message - a decoder belongs to one thread."""
    holder = type("Fields", (), {"__slots__": tuple(reads)})()
    name = gen.slot(holder)
    return [f"{name}.{n} = {gen.fields[n].var}" for n in reads] + [f"self_ = {name}"]


def _validators(model: type, gen: Gen) -> tuple[list[Validator], set[str]]:
    """The ``after`` model validators, and the non-field names they read."""
    fields = gen.fields
    validators: list[Validator] = []
    outside: set[str] = set()
    vouchers: dict[str, int] = {}
    codes = [n for n in DIVISION_CODES if n in fields]
    for dec in model.__pydantic_decorators__.model_validators.values():
        if dec.info.mode != "after":
            raise Unsupported(f"model validator mode {dec.info.mode}")
        names = names_read(dec.func)
        reads = [n for n in fields if n in names]
        if any(fields[n].kind in ("ts", "datetime") for n in reads):
            raise Unsupported("a model validator reads a datetime")
        outside |= {n for n in names if n not in fields and not n.startswith("__")}
        memo, guards = None, False
        if reads and all(fields[n].coded for n in reads):
            guards = all(fields[n].kind == "str" and not fields[n].before for n in reads)
            memo = gen.slot({} if guards and reads == codes else set())
            for n in reads if guards else ():
                vouchers[n] = vouchers.get(n, 0) + 1
        validators.append(Validator(gen.slot(dec.func), reads, memo, guards, _namespace(gen, reads),
                                    guards and reads == codes))
    # a field read by two vouching memos is checked normally (and those memos vouch for nothing)
    shared = {n for n, count in vouchers.items() if count > 1}
    validators = [v._replace(guards=False, names=False, memo=gen.slot(set())) if v.guards and shared.intersection(v.reads)
                  else v for v in validators]
    if sum(v.names for v in validators) > 1:
        raise Unsupported("two validators read exactly the division codes")
    return validators, outside


class Plan:
    """What was read from one model (fields, validators, memos), shared by the generated functions
    of its topic; the decoders of one worker share ``timestamps`` (all topics carry the same clock)."""

    def __init__(self, model: type, enrich: Enrichment, timestamps: Timestamps | None = None):
        self.name = model.__name__
        self.enrich = enrich
        self.gen, self.validators, self.outside = _analyse(model, timestamps)
        self.fields = self.gen.fields
        self.guarded = {n for v in self.validators if v.guards for n in v.reads}


def _analyse(model: type, timestamps: Timestamps | None) -> tuple[Gen, list[Validator], set[str]]:
    config = model.model_config
    if not config.get("strict") or config.get("extra") != "allow":
        raise Unsupported("only strict models that allow extra fields")
    decorators = model.__pydantic_decorators__
    if decorators.validators or decorators.root_validators:
        raise Unsupported("legacy validators")
    gen = Gen(timestamps if timestamps is not None else Timestamps())
    before: dict[str, list[str]] = {}
    for dec in decorators.field_validators.values():
        if dec.info.mode != "before":
            raise Unsupported(f"field validator mode {dec.info.mode}")
        for name in dec.info.fields:
            before.setdefault(name, []).append(gen.slot(dec.func))
    for name, info in model.model_fields.items():
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise Unsupported(f"{name}: alias")
        gen.fields[name] = Field(gen, name, info, before.get(name, []))
    fields = gen.fields
    if "county_code" not in fields or "ts" not in fields or fields["ts"].kind != "ts":
        raise Unsupported("to_record needs county_code and ts")
    validators, outside = _validators(model, gen)
    return gen, validators, outside


def or_refuse(body: list[str]) -> list[str]:
    """``body`` in a try whose exception makes this tier give up (``return None``: the next decides)."""
    return ["try:", *("    " + x for x in body), "except Exception:", "    return None"]


def validator_calls(gen: Any, enrich: Any, validators: list, call_of: Any) -> tuple[list[str], str | None]:
    """The lines calling the model's validators (``call_of(val)``: the lines of one call), each
    behind its memo when it has one; and the name of the variable holding the division names, if a
    memoised validator provides them."""
    calls: list[str] = []
    names_var = None
    for i, val in enumerate(validators):
        call = call_of(val)
        if val.memo is None:
            calls += call
            continue
        if not val.guards:
            calls += [f"k{i}_ = {gen.tuple_of(val.reads)}", f"h{i}_ = k{i}_ in {val.memo}"]
        calls += [f"if not h{i}_:"] + ["    " + x for x in call]
        calls += [f"    if len({val.memo}) >= {MEMO_LIMIT}:", f"        {val.memo}.clear()"]
        if val.names:
            names_var = f"h{i}_"
            calls += [f"    h{i}_ = {val.memo}[k{i}_] = ({', '.join(x for _, x in enrich.lookups(gen))},)"]
        else:
            calls += [f"    {val.memo}.add(k{i}_)"]
    return calls, names_var


def compile_record_fn(plan: Plan) -> RecordFn:
    """``record(raw bytes) -> record | None`` from orjson's dict, completed in place; it handles
    unknown extra fields (the msgspec tier refuses them)."""
    gen, fields, validators, outside, guarded, enrich = (plan.gen, plan.fields, plan.validators, plan.outside,
                                                          plan.guarded, plan.enrich)
    lines = [*or_refuse([f"d = {gen.slot(orjson.loads)}(raw)"]), "if d.__class__ is not dict:", "    return None"]
    lines += [x for f in fields.values() if f.before for x in f.load_before(gen)]
    # every other field in one C loop; an absent one is added as None (a required one then fails its check)
    plain = [f for f in fields.values() if not f.before]
    lines += ["try:"] + [f"    {f.var} = d[{f.name!r}]" for f in plain if f.required] + ["except KeyError:", "    return None"]
    lines += [f"{f.var} = d.setdefault({f.name!r})" for f in plain if not f.required]
    lines += [x for f in fields.values() if f.name not in guarded for x in f.check_lines(gen)]
    for i, val in enumerate(validators):
        if val.guards:  # look up first: a hit vouches for the fields' checks
            lookup = f"{val.memo}.get(k{i}_)" if val.names else f"k{i}_ in {val.memo}"
            lines += [f"k{i}_ = {gen.tuple_of(val.reads)}", "try:", f"    h{i}_ = {lookup}",
                      "except TypeError:  # an unhashable JSON value", f"    h{i}_ = None", f"if not h{i}_:"]
            lines += ["    " + x for n in val.reads for x in fields[n].check_lines(gen)]
    # unknown extra fields leave d for d["extra"]; one a validator could read goes to pydantic
    lines += [f"if len(d) == {len(fields)}:", "    extra = {}", "else:",
              f"    extra = {{k: x for k, x in d.items() if k not in {gen.slot(frozenset(fields))}}}",
              f"    if not {gen.slot(frozenset(outside))}.isdisjoint(extra) or {gen.slot(inexact)}(extra):",
              "        return None",
              "    for k in extra:", "        del d[k]"]
    calls, names_var = validator_calls(gen, enrich, validators, lambda val: val.namespace + [f"{val.fn}(self_)"])
    if calls:
        lines += or_refuse(calls)
    for name in enrich.personal_fields:
        if name in fields:
            v = fields[name].var
            lines += [f"if {v} is not None:", f"    d[{name!r}] = {gen.slot(enrich.pseudonymize)}({v})"]
    lines.append("d['extra'] = extra")
    if names_var:  # topic, stream and the division names, remembered with the division check
        lines += [f"d['topic'] = {enrich.topic!r}", f"d['stream'] = {enrich.stream!r}"]
        lines.append(", ".join(f"d[{key!r}]" for key, _ in enrich.lookups(gen)) + f" = {names_var}")
    else:
        lines += [f"d['topic'] = {enrich.topic!r}", f"d['stream'] = {enrich.stream!r}"]
        lines += [f"d[{key!r}] = {x}" for key, x in enrich.lookups(gen)]
    lines.append("return d")
    source = "def record(raw):\n" + "".join(f"    {line}\n" for line in lines)
    builtins = {"len": len, "map": map, "float": float, "dict": dict, "str": str, "int": int, "bool": bool,
                "Exception": Exception,
                "KeyError": KeyError, "TypeError": TypeError, "OverflowError": OverflowError}
    scope: dict[str, Any] = {"__builtins__": builtins, **gen.slots}
    exec(compile(source, f"<fast decode {plan.name}>", "exec"), scope)  # noqa: S102 - generated from the model
    fn = scope["record"]
    fn.source = source
    return fn
