"""Generates the straight-line fast decode function of one event model (see :mod:`.fastdecode`).

Everything is read from the pydantic model (the one definition of each schema): ``model_fields``
(types, nullability, ``Literal`` values, string length and pattern constraints, numeric bounds),
its ``before`` field validators and its ``after`` model validators, which are called as they are.
The generated function takes the raw message bytes and returns the finished record (what
``Decoder.to_record`` makes of the validated model) or ``None``, meaning "ask pydantic": any doubt
falls back, so the fast path may only accept what pydantic accepts, with the same values.

Where the time goes and what the generated code does about it:

- ``ts``: checking an RFC 3339 string with a regex, ``datetime.fromisoformat`` and ``.timestamp()``
  cost more than everything else together. The first string of each (date, hour, offset) goes that
  way; the epoch of the start of that hour is remembered under ``ts[:13] + ts[19:]``, and the
  following strings of the same hour only look up ``ts[13:19]`` (``":MM:SS"``) in a table of the
  3600 valid minute/second pairs. Both lookups must hit, so a string is only accepted when it has
  exactly the shape of one that was fully checked, with a valid ``:MM:SS`` in between (same value
  as ``fromisoformat(ts).timestamp()``, which is exact for whole seconds).
- ``after`` model validators are pure functions of the fields they read. The fields a validator
  reads are the model fields its code names (attribute names and string constants, e.g.
  ``getattr(self, "township_code", None)``); it gets a namespace holding only those (reading any
  other attribute raises, and the message goes to pydantic). Its successes are remembered under
  the tuple of those values (bounded memo) when they are all strings, booleans, integers or floats
  (never ``Decimal`` or datetimes, whose equal values can differ). The division check (county,
  township, village) then costs one tuple lookup instead of a call and three dictionary probes.
- A memoized validator that reads only plain string fields also vouches for those fields' own
  checks (patterns, lengths, literals): a remembered tuple was built from values that passed them,
  so on a hit the three division-code regexes are skipped too.
- Names a validator reads that are not model fields (``getattr(self, "village_code", None)`` on a
  model without that field) could be unknown extra fields of the message, which pydantic would
  hand to the validator: when one of them is present the message goes to pydantic.
- No intermediate dicts: the record is one dict display in ``to_record``'s key order; unknown extra
  fields are only looked for when the message has more keys than fields found.
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


class Timestamps:
    """Epoch seconds of ``ts`` strings: a full check for the first of each minute, then two lookups.

    ``minutes`` maps ``"YYYY-MM-DDTHH:MM"`` (validated as part of a whole string) to the epoch of
    that wall-clock minute read as UTC; ``tails`` maps ``":SS"`` + offset (``"Z"`` or ``"+HH:MM"``,
    each validated once) to the seconds to add. A string is taken from the tables only when both
    halves hit, i.e. it is a checked minute followed by a valid second and a checked offset: the
    date, time and offset of an RFC 3339 string are valid independently of each other, and the sum
    is exactly ``fromisoformat(ts).timestamp()`` (whole seconds). Fractions of a second, other
    shapes and the first string of a minute take :meth:`slow` (the regex and ``fromisoformat``).
    """

    def __init__(self, limit: int = MEMO_LIMIT):
        self.minutes: dict[str, float] = {}
        self.tails: dict[str, int] = {}
        self._limit = limit
        self._fromisoformat = datetime.fromisoformat

    def slow(self, text: str) -> float | None:
        if TS_SHAPE(text) is None or (text[-1] != "Z" and text[-2] > "5"):  # pydantic: offset minutes 0-59
            return None
        try:
            value = self._fromisoformat(text)
            epoch = value.timestamp()
        except (ValueError, OverflowError):
            return None
        if (len(text) == 20 and text[19] == "Z") or (len(text) == 25 and text[19] in "+-"):
            offset = int(value.utcoffset().total_seconds())
            second = int(text[17:19])
            minutes, tails, suffix = self.minutes, self.tails, text[19:]
            if len(minutes) >= self._limit:
                minutes.clear()
            minutes[text[:16]] = epoch + offset - second
            if ":00" + suffix not in tails:
                if len(tails) >= self._limit:
                    tails.clear()
                tails.update((f":{s:02d}{suffix}", s - offset) for s in range(60))
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
        bounds: list[str] = []
        for c in constraints:
            if hasattr(c, "pattern") and hasattr(c, "max_length"):  # StringConstraints
                for attr in ("strip_whitespace", "to_upper", "to_lower", "strict", "ascii_only"):
                    if getattr(c, attr) not in (None, False):
                        raise Unsupported(f"{name}: string option {attr}")
                for attr in strings:
                    if getattr(c, attr) is not None:
                        strings[attr] = getattr(c, attr)
            elif isinstance(c, annotated_types.Ge):
                bounds.append(f"{v} >= {c.ge!r}")
            elif isinstance(c, annotated_types.Le):
                bounds.append(f"{v} <= {c.le!r}")
            elif isinstance(c, annotated_types.Gt):
                bounds.append(f"{v} > {c.gt!r}")
            elif isinstance(c, annotated_types.Lt):
                bounds.append(f"{v} < {c.lt!r}")
            else:
                raise Unsupported(f"{name}: constraint {c!r}")
        if base is not str and any(x is not None for x in strings.values()):
            raise Unsupported(f"{name}: string constraint on {base!r}")
        self.convert: list[str] = []
        if base is str:
            self.kind = "str"
            checks.append(f"{v}.__class__ is str")
            low, high = strings["min_length"], strings["max_length"]
            if low is not None or high is not None:
                checks.append(" <= ".join(x for x in (repr(low) if low is not None else "", f"len({v})",
                                                       repr(high) if high is not None else "") if x))
            if strings["pattern"] is not None:
                pattern = strings["pattern"]
                if not (pattern.startswith("^") and pattern.endswith("$")):
                    raise Unsupported(f"{name}: unanchored pattern")
                checks.append(f"{gen.slot(re.compile(pattern).fullmatch)}({v}) is not None")
        elif typing.get_origin(base) is typing.Literal:
            values = typing.get_args(base)
            if not all(isinstance(x, str) for x in values):
                raise Unsupported(f"{name}: non-string literal")
            self.kind = "str"
            checks.append(f"{v}.__class__ is str and {v} in {gen.slot(frozenset(values))}")
        elif base is bool:
            self.kind = "bool"
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
            checks.append(f"{v}.__class__ is str and {gen.slot(TS_SHAPE)}({v}) is not None")
            self.convert = ["try:", f"    {v} = {gen.slot(datetime.fromisoformat)}({v})",
                            "except (ValueError, OverflowError):", "    return None", f"d[{name!r}] = {v}"]
        else:
            raise Unsupported(f"{name}: type {base!r}")
        if bounds and self.kind not in ("int", "float"):
            raise Unsupported(f"{name}: bounds on {base!r}")
        self.checks = checks
        self.bounds = bounds

    def load(self, gen: Gen) -> str:
        if self.required:
            return f"{self.var} = d[{self.name!r}]"
        if self.before:  # a missing field gets its default without running the validators
            return f"{self.var} = d.get({self.name!r}, {gen.slot(MISSING)})"
        return f"{self.var} = d.get({self.name!r})"

    def check_lines(self, gen: Gen, count: bool = True) -> list[str]:
        """Checks and conversions of the loaded value (``return None`` on any doubt); counts ``n_``
        (fields present in the message) and stores converted values back into ``d``."""
        v = self.var
        lines: list[str] = []
        if self.before:  # pydantic runs "before" validators on the raw JSON value, null included
            present = ["try:", f"    {v} = {self.before[0]}({v})",
                       "except Exception:", "    return None"]
            present += ["n_ += 1"] if count and not self.required else []
            if self.required:
                lines += present
            else:
                lines += [f"if {v} is {gen.slot(MISSING)}:", f"    {v} = None", "else:"] + ["    " + x for x in present]
            count = False
        if self.kind == "ts":
            ts = gen.timestamps()
            body = [f"if {v}.__class__ is not str:", "    return None",
                    f"b_ = {gen.slot(ts.minutes)}.get({v}[:16])",
                    f"t_ = {gen.slot(ts.tails)}.get({v}[16:]) if b_ is not None else None",
                    "if t_ is not None:", f"    {v} = b_ + t_", "else:", f"    {v} = {gen.slot(ts.slow)}({v})",
                    f"    if {v} is None:", "        return None"]
        else:
            body = [f"if not ({' and '.join(self.checks)}):", "    return None"] + self.convert
            if self.bounds:
                body += [f"if not ({' and '.join(self.bounds)}):", "    return None"]
        if self.required:
            return lines + body  # a null or missing required value fails the class check / the load
        return lines + [f"if {v} is not None:"] + ["    " + line for line in body] + (["    n_ += 1"] if count else [])

    def store_lines(self, gen: Gen, pseudonymize: str | None) -> list[str]:
        """Writes the final value into ``d`` where it differs from the parsed one (after the extra-field check)."""
        v, key = self.var, repr(self.name)
        if self.kind == "ts" or self.before:
            lines = [f"d[{key}] = {v}"]
        elif self.required:
            lines = []
        else:
            lines = [f"if {v} is None:", f"    d[{key}] = None"]
        if pseudonymize and lines[-1:] == [f"    d[{key}] = None"]:
            lines += ["else:", f"    d[{key}] = {pseudonymize}({v})"]
        elif pseudonymize:
            lines += [f"if {v} is not None:", f"    d[{key}] = {pseudonymize}({v})"]
        return lines


class Gen:
    def __init__(self) -> None:
        self.slots: dict[str, Any] = {}
        self.fields: dict[str, Field] = {}
        self._ts: Timestamps | None = None
        self._ids: dict[int, str] = {}

    def slot(self, value: Any) -> str:
        """A global name for ``value`` in the generated code (one per object)."""
        name = self._ids.get(id(value))
        if name is None:
            name = self._ids[id(value)] = f"_s{len(self.slots)}"
            self.slots[name] = value
        return name

    def timestamps(self) -> Timestamps:
        if self._ts is None:
            self._ts = Timestamps()
        return self._ts


class Enrichment(typing.NamedTuple):
    """What ``Decoder.to_record`` adds to the fields (passed by the decoder that owns the names)."""

    topic: str
    stream: str
    county_names: dict[str, str]
    township_names: dict[str, str]
    village_names: dict[str, str]
    pseudonymize: Callable[[str], str]
    personal_fields: tuple[str, ...]


class Validator(typing.NamedTuple):
    fn: str  # slot of the function
    reads: list[str]  # the model fields it reads
    memo: str | None  # slot of its memo of successes (None: called every time)
    guards: bool  # its memo vouches for the checks of the (plain string) fields it reads


def _validators(model: type, gen: Gen) -> tuple[list[Validator], set[str], set[str]]:
    """The ``after`` model validators, the fields whose checks their memos vouch for, and the
    non-field names they read."""
    fields = gen.fields
    validators: list[Validator] = []
    outside: set[str] = set()
    vouchers: dict[str, int] = {}
    for dec in model.__pydantic_decorators__.model_validators.values():
        if dec.info.mode != "after":
            raise Unsupported(f"model validator mode {dec.info.mode}")
        names = names_read(dec.func)
        reads = [n for n in fields if n in names]
        if any(fields[n].kind in ("ts", "datetime") for n in reads):
            raise Unsupported("a model validator reads a datetime")
        outside |= {n for n in names if n not in fields and not n.startswith("__")}
        memo, guards = None, False
        if reads and all(fields[n].kind in ("str", "bool", "int", "float") for n in reads):
            memo = gen.slot(set())
            guards = all(fields[n].kind == "str" and not fields[n].before for n in reads)
            for n in reads if guards else ():
                vouchers[n] = vouchers.get(n, 0) + 1
        validators.append(Validator(gen.slot(dec.func), reads, memo, guards))
    # a field read by two vouching memos is checked normally (and those memos vouch for nothing)
    shared = {n for n, count in vouchers.items() if count > 1}
    validators = [v._replace(guards=False) if v.guards and shared.intersection(v.reads) else v for v in validators]
    guarded = {n for v in validators if v.guards for n in v.reads}
    return validators, guarded, outside


def compile_record_fn(model: type, enrich: Enrichment) -> RecordFn:
    """``record(raw bytes) -> record | None`` for ``model`` (raises :class:`Unsupported`)."""
    config = model.model_config
    if not config.get("strict") or config.get("extra") != "allow":
        raise Unsupported("only strict models that allow extra fields")
    decorators = model.__pydantic_decorators__
    if decorators.validators or decorators.root_validators:
        raise Unsupported("legacy validators")
    gen = Gen()
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
    validators, guarded, outside = _validators(model, gen)

    required = [f for f in fields.values() if f.required]
    lines = ["try:", f"    d = {gen.slot(orjson.loads)}(raw)", "except Exception:", "    return None",
             "if d.__class__ is not dict:", "    return None"]
    lines += ["try:"] + [f"    {f.load(gen)}" for f in required] + ["except KeyError:", "    return None"]
    lines += [f.load(gen) for f in fields.values() if not f.required]
    lines.append(f"n_ = {len(required)}")
    for f in fields.values():
        if f.name not in guarded:
            lines += f.check_lines(gen)
    for i, val in enumerate(validators):
        if not val.guards:
            continue
        lines += [f"k{i}_ = ({''.join(fields[n].var + ', ' for n in val.reads)})", "try:",
                  f"    h{i}_ = k{i}_ in {val.memo}", "except TypeError:  # an unhashable JSON value", f"    h{i}_ = False",
                  f"if not h{i}_:"]
        lines += ["    " + x for n in val.reads for x in fields[n].check_lines(gen, count=False)]
        lines += [x for n in val.reads if not fields[n].required
                  for x in (f"if {fields[n].var} is not None:", "    n_ += 1")]
    # unknown extra fields leave d for d["extra"]; one a validator could read goes to pydantic
    lines += ["if n_ == len(d):", "    extra = {}", "else:",
              f"    extra = {{k: x for k, x in d.items() if k not in {gen.slot(frozenset(fields))}}}",
              "    if extra:", f"        if not {gen.slot(frozenset(outside))}.isdisjoint(extra):", "            return None",
              "        for k in extra:", "            del d[k]"]
    calls: list[str] = []
    for i, val in enumerate(validators):
        call = f"{val.fn}({gen.slot(types.SimpleNamespace)}({', '.join(f'{n}={fields[n].var}' for n in val.reads)}))"
        if val.memo is None:
            calls.append(call)
            continue
        if not val.guards:
            calls += [f"k{i}_ = ({''.join(fields[n].var + ', ' for n in val.reads)})", f"h{i}_ = k{i}_ in {val.memo}"]
        calls += [f"if not h{i}_:", f"    {call}", f"    if len({val.memo}) >= {MEMO_LIMIT}:",
                  f"        {val.memo}.clear()", f"    {val.memo}.add(k{i}_)"]
    if calls:
        lines += ["try:"] + ["    " + x for x in calls] + ["except Exception:", "    return None"]
    pseudonymize = gen.slot(enrich.pseudonymize)
    for name, f in fields.items():
        lines += f.store_lines(gen, pseudonymize if name in enrich.personal_fields else None)
    lines += ["d['extra'] = extra", f"d['topic'] = {enrich.topic!r}", f"d['stream'] = {enrich.stream!r}",
              f"d['county_name'] = {gen.slot(enrich.county_names)}[{fields['county_code'].var}]"]
    for key, code, names in (("township_name", "township_code", enrich.township_names),
                             ("village_name", "village_code", enrich.village_names)):
        f = fields.get(code)
        lines.append(f"d[{key!r}] = {gen.slot(names)}.get({f.var}) if {f.var} else None" if f else f"d[{key!r}] = None")
    lines.append("return d")
    source = "def record(raw):\n" + "".join(f"    {line}\n" for line in lines)
    builtins = {"len": len, "float": float, "dict": dict, "str": str, "int": int, "bool": bool, "Exception": Exception, "KeyError": KeyError, "TypeError": TypeError,
                "OverflowError": OverflowError, "ValueError": ValueError}
    scope: dict[str, Any] = {"__builtins__": builtins, **gen.slots}
    exec(compile(source, f"<fast decode {model.__name__}>", "exec"), scope)  # noqa: S102 - generated from the model
    fn = scope["record"]
    fn.source = source
    return fn
