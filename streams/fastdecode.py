"""A fast path for decoding valid events, generated from the pydantic models (the one definition).

:class:`FastDecoder` is the :class:`~pingan.schemas.decode.Decoder` with a front door: ``orjson``
parses the bytes and a function generated once per model (from its ``model_fields``: types,
nullability, ``Literal`` values, string length and pattern constraints, numeric bounds; and its own
``before`` field validators and ``after`` model validators, called as they are) checks and converts
the fields. When every check passes, the record is built exactly as ``Decoder.to_record`` builds it
from a validated model. When any check fails - or the model uses a type or constraint the generator
does not know - the message goes through pydantic as before, which either accepts it (the fast
path was only more conservative) or produces the error message for the dead letter.

So the fast path may only accept what pydantic accepts, with the same values; the unit test
``tests/unit/test_fastdecode.py`` checks this on simulated traffic, its broken variants and edge
cases.
"""

from __future__ import annotations

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

from pingan.schemas.decode import PERSONAL_FIELDS, Decoder
from pingan.schemas.events import EVENT_MODELS, STREAMS

#: RFC 3339 with an explicit offset (the only timestamps the fast path accepts; pydantic takes the rest)
_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})").fullmatch

Checker = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class Unsupported(Exception):
    """The model uses something the fast-path generator does not handle (pydantic does it all)."""


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, bool, list[Any]]:
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


def _field_source(name: str, annotation: Any, metadata: list[Any], required: bool, before: list[str],
                  gen: _Gen) -> list[str]:
    base, nullable, constraints = _unwrap(annotation, metadata)
    v = gen.var(name)
    lines = [f"{v} = d.get({name!r})"]
    for fn in before:  # pydantic runs "before" validators on the raw JSON value
        lines += ["try:", f"    {v} = {fn}({v})", "except Exception:", "    return None"]
    checks: list[str] = []
    convert: str | None = None
    strings = {"min_length": None, "max_length": None, "pattern": None}
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
    if base is str:
        checks.append(f"{v}.__class__ is str")
        if strings["min_length"] is not None:
            checks.append(f"len({v}) >= {strings['min_length']!r}")
        if strings["max_length"] is not None:
            checks.append(f"len({v}) <= {strings['max_length']!r}")
        if strings["pattern"] is not None:
            pattern = strings["pattern"]
            if not (pattern.startswith("^") and pattern.endswith("$")):
                raise Unsupported(f"{name}: unanchored pattern")
            checks.append(f"{gen.slot(re.compile(pattern).fullmatch)}({v}) is not None")
    elif typing.get_origin(base) is typing.Literal:
        values = typing.get_args(base)
        if not all(isinstance(x, str) for x in values):
            raise Unsupported(f"{name}: non-string literal")
        checks.append(f"{v}.__class__ is str and {v} in {gen.slot(frozenset(values))}")
    elif base is bool:
        checks.append(f"{v}.__class__ is bool")
    elif base is int:
        checks.append(f"{v}.__class__ is int")
    elif base is float:
        checks.append(f"({v}.__class__ is float or {v}.__class__ is int)")
        convert = f"float({v})"
    elif base is Decimal:
        checks.append(f"{v}.__class__ is {gen.slot(Decimal)}")
    elif base is AwareDatetime:
        checks.append(f"{v}.__class__ is str and {gen.slot(_TS)}({v}) is not None")
        convert = f"{gen.slot(datetime.fromisoformat)}({v})"
    else:
        raise Unsupported(f"{name}: type {base!r}")
    if base is not str and any(x is not None for x in strings.values()):
        raise Unsupported(f"{name}: string constraint on {base!r}")
    test = " and ".join(checks)
    body = [f"if not ({test}):", "    return None"]
    if convert:
        body += ["try:", f"    {v} = {convert}", "except (ValueError, OverflowError):", "    return None"]
    if bounds:
        body += [f"if not ({' and '.join(bounds)}):", "    return None"]
    if required or not nullable:
        if not required:
            raise Unsupported(f"{name}: non-nullable optional field")
        lines += [f"if {v} is None:", "    return None"] + body
    else:
        lines += [f"if {v} is not None:"] + ["    " + line for line in body]
    return lines


class _Gen:
    def __init__(self) -> None:
        self.slots: dict[str, Any] = {}
        self.names: dict[str, str] = {}

    def slot(self, value: Any) -> str:
        name = f"_s{len(self.slots)}"
        self.slots[name] = value
        return name

    def var(self, field: str) -> str:
        return self.names.setdefault(field, f"v{len(self.names)}")


def compile_checker(model: type) -> Checker:
    """``check(parsed_json) -> field values | None`` for ``model`` (raises :class:`Unsupported`)."""
    config = model.model_config
    if not config.get("strict") or config.get("extra") != "allow":
        raise Unsupported("only strict models that allow extra fields")
    decorators = model.__pydantic_decorators__
    before: dict[str, list[str]] = {}
    gen = _Gen()
    for dec in decorators.field_validators.values():
        if dec.info.mode != "before":
            raise Unsupported(f"field validator mode {dec.info.mode}")
        fn = gen.slot(dec.func)
        for field in dec.info.fields:
            before.setdefault(field, []).append(fn)
    if decorators.validators or decorators.root_validators:
        raise Unsupported("legacy validators")
    after = []
    for dec in decorators.model_validators.values():
        if dec.info.mode != "after":
            raise Unsupported(f"model validator mode {dec.info.mode}")
        after.append(gen.slot(dec.func))
    lines = ["def check(d):", "    if d.__class__ is not dict:", "        return None"]
    fields = model.model_fields
    for name, info in fields.items():
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise Unsupported(f"{name}: alias")
        if not info.is_required() and info.default is not None:
            raise Unsupported(f"{name}: default other than None")
        lines += ["    " + line for line in _field_source(name, info.annotation, info.metadata, info.is_required(),
                                                              before.get(name, []), gen)]
    values = "{" + ", ".join(f"{name!r}: {gen.var(name)}" for name in fields) + "}"
    lines.append(f"    values = {values}")
    if after:
        lines.append(f"    ns = {gen.slot(types.SimpleNamespace)}(**values)")
        lines.append("    try:")
        lines += [f"        {fn}(ns)" for fn in after]
        lines += ["    except Exception:", "        return None"]
    lines.append("    return values")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {"__builtins__": {"len": len, "float": float, "dict": dict, "str": str, "int": int,
                                                "bool": bool, "Exception": Exception,
                                                "ValueError": ValueError, "OverflowError": OverflowError},
                                **gen.slots}
    exec(compile(source, f"<fast check {model.__name__}>", "exec"), namespace)  # noqa: S102 - generated from the model
    check = namespace["check"]
    check.source = source
    return check


class FastDecoder(Decoder):
    """:class:`Decoder` with the generated fast path in front (see the module docstring)."""

    def __init__(self, pseudonymize: Any):
        super().__init__(pseudonymize)
        self._checks: dict[str, tuple[Checker, frozenset[str]]] = {}
        for topic, model in EVENT_MODELS.items():
            try:
                self._checks[topic] = (compile_checker(model), frozenset(model.model_fields))
            except Unsupported:
                continue  # pydantic validates every message of this topic
        self.fast = 0
        self.slow = 0

    def decode(self, topic: str, raw: bytes) -> dict[str, Any]:
        entry = self._checks.get(topic)
        if entry is not None:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
            values = entry[0](parsed) if parsed is not None else None
            if values is not None:
                self.fast += 1
                return self._record(topic, values, parsed, entry[1])
        self.slow += 1
        return super().decode(topic, raw)

    def _record(self, topic: str, record: dict[str, Any], parsed: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
        """Exactly what ``Decoder.to_record`` makes of the validated model."""
        record["extra"] = {k: v for k, v in parsed.items() if k not in fields} if not parsed.keys() <= fields else {}
        record["ts"] = record["ts"].timestamp()
        record["topic"] = topic
        record["stream"] = STREAMS[topic]
        record["county_name"] = self._county_names[record["county_code"]]
        township = record.get("township_code")
        record["township_name"] = self._township_names.get(township) if township else None
        village = record.get("village_code")
        record["village_name"] = self._village_names.get(village) if village else None
        for name in PERSONAL_FIELDS:
            value = record.get(name)
            if value is not None:
                record[name] = self._pseudonymize(value)
        return record
