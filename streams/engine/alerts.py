"""One generated function per rule that builds its alerts.

An alert is a plain dict with the fields of :class:`pingan.schemas.alert.Alert` (ts as epoch
seconds). Everything constant about a rule's alerts (ids, severity, domain, topics, the literal
parts of its title and labels) is written into the function once, at load; a firing only reads
the event's fields, renders the placeholders and hashes the alert id. The source is generated from
the validated rule (names and literals only through ``repr``) and compiled with empty builtins.

Values of placeholders: the rule type's figures (``count``, ``within_s``...) first, then the event's
(or, for a deadline, the start event's) fields, and ``key``; a missing value renders as ``-``;
clear personal identifiers are masked (see :mod:`pingan.streams.engine.templates`).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any, Callable

from pingan.streams.engine.compiler import audit_source
from pingan.streams.engine.fields import CLEAR_PERSONAL as _PERSONAL
from pingan.streams.engine.fields import FIGURES
from pingan.streams.engine.templates import Template, render_value

AlertFn = Callable[[float, str, dict[str, Any], list, dict[str, Any]], dict[str, Any]]
_LOCATION = ("county_code", "county_name", "township_code", "township_name", "village_code", "village_name")


def _value(name: str, figures: frozenset[str]) -> str:
    """Where a placeholder's value comes from, decided at load: the key, the rule type's figures
    (a name the figures dict may hold), else the event."""
    if name == "key":
        return "key"
    if name in figures:
        return f"(x if (x := figures.get({name!r}, _NO)) is not _NO else g({name!r}))"
    return f"g({name!r})"


def _render(template: Template, figures: frozenset[str]) -> str:
    pieces = []
    for literal, name, spec in template.parts:
        if literal:
            pieces.append(repr(literal))
        if name is None:
            continue
        value = _value(name, figures)
        if not spec and name not in _PERSONAL:  # str as it is, int through str(), the rest the plain way
            pieces.append(f"(y if (y := {value}).__class__ is str else "
                          f"(str(y) if y.__class__ is int else _rv({name!r}, y, '')))")
        elif name not in _PERSONAL and not spec.endswith("d"):  # a float formats as render_value would
            pieces.append(f"(format(y, {spec!r}) if (y := {value}).__class__ is float else _rv({name!r}, y, {spec!r}))")
        else:
            pieces.append(f"_rv({name!r}, {value}, {spec!r})")
    if not pieces:
        return "''"
    if len(pieces) == 1 and pieces[0].startswith("'"):
        return pieces[0]
    return "''.join((" + ", ".join(pieces) + ",))"


def build_alert(spec: Any, status: str) -> AlertFn:
    """``alert(ts, key, source, evidence, figures) -> dict`` for the rule ``spec`` (a RuleSpec)."""
    a = spec.alert
    slots: dict[str, Any] = {
        "_sha": hashlib.sha256, "_round": round, "_Decimal": Decimal, "_rv": render_value, "_NO": object(),
        "_PFX": f"{spec.id}\x1f", "_DOM": a.domain,
        "_TOPICS": tuple(a.topics), "_SEP": "\x1f", "float": float, "list": list, "str": str, "int": int, "len": len, "format": format,
    }
    lines = ["def alert(ts, key, source, evidence, figures):", "    g = source.get"]
    for name in a.figure_fields:
        lines += [f"    v = g({name!r})", "    if v is not None:",
                  f"        figures[{name!r}] = float(v) if v.__class__ is _Decimal else v"]
    known = frozenset(FIGURES.get(spec.type, ())) | frozenset(a.figure_fields)
    labels = ['"county": g("county_code") or ""', '"domain": _DOM']
    labels += [f"{name!r}: {_render(template, known)}" for name, template in a.labels.items()]
    evidence_max = int(a.evidence_max)
    # the constants are in a template dict (in field order); a firing copies it and sets the rest,
    # cheaper than building a 19-key dict from a literal
    slots["_BASE"] = {"alert_id": None, "rule_id": spec.id, "rule_version": spec.version, "severity": a.severity,
                      "key": None, "ts": None, **dict.fromkeys(_LOCATION), "title": None, "evidence": None,
                      "figures": None, "labels": None, "domain": a.domain, "status": status, "topics": None}
    sets = [
        # = pingan.schemas.alert.alert_id_for(rule_id, key, ts), with the rule's part joined once
        '"alert_id"] = _sha(f"{_PFX}{key}{_SEP}{_round(ts * 1000)}".encode()).hexdigest()[:24]',
        '"key"] = key', '"ts"] = ts',
        *(f"{name!r}] = g({name!r})" for name in _LOCATION),
        f'"title"] = {_render(a.title, known)}',
        f'"evidence"] = evidence if len(evidence) <= {evidence_max!r} else evidence[-{evidence_max!r}:]',
        '"figures"] = figures',
        '"labels"] = {' + ", ".join(labels) + "}",
        '"topics"] = list(_TOPICS)',
    ]
    lines.append("    a = _BASE.copy()")
    lines += [f"    a[{field}" for field in sets]
    lines.append("    return a")
    source = "\n".join(lines) + "\n"
    audit_source(source, {"ts", "key", "source", "evidence", "figures", "a", "g", "v", "x", "y", *slots},
                 {"get", "encode", "hexdigest", "join", "copy", "__class__"}, "alert code")
    namespace: dict[str, Any] = {"__builtins__": {}, **slots}
    exec(compile(source, f"<alert {spec.id}>", "exec"), namespace)  # noqa: S102 - from the validated rule
    fn = namespace["alert"]
    fn.source = source
    return fn

