"""Load a rule directory: parse, validate and compile every ``*.yaml`` file, report ALL problems.

Each problem names the file, the line, the rule id and what is wrong in plain words, e.g.
``rules/camera.yaml:14: rule CAM-WANTED: unknown name 'confidense': ... did you mean 'confidence'?``
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from pingan.errors import RuleError
from pingan.schemas.privacy import Pseudonymizer
from pingan.schemas.rulefile import RULE_TYPES, Rule
from pingan.streams.engine.base import LOCATION, AlertSpec, RuleSpec, Side
from pingan.streams.engine.compiler import compile_condition
from pingan.streams.engine.fields import CLEAR_PERSONAL, FIGURES, TOPICS, stream_fields
from pingan.streams.engine.language import Scope, parse_condition
from pingan.streams.engine.keys import make_key
from pingan.streams.engine.nodes import Node
from pingan.streams.engine.templates import parse_template
from pingan.streams.engine.yamlsrc import Source, load_source

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION_FIELDS = ("window", "within", "suppress", "grace")
_RULE = TypeAdapter(Rule)
_RULE_KEYS = sorted({name for cls in typing.get_args(typing.get_args(Rule)[0]) for name in cls.model_fields})


def parse_duration(text: str) -> float:
    """``"30m1s"`` -> 1801.0 seconds."""
    return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


@dataclass(frozen=True)
class RuleSet:
    """A validated, compiled rule directory. ``version`` is a digest of every rule's version."""

    directory: Path
    rules: tuple[RuleSpec, ...]
    version: str
    files: tuple[str, ...]

    def rule(self, rule_id: str) -> RuleSpec:
        for spec in self.rules:
            if spec.id == rule_id:
                return spec
        raise KeyError(rule_id)

    @property
    def active(self) -> tuple[RuleSpec, ...]:
        """The rules the engine evaluates (enabled and shadow)."""
        return tuple(r for r in self.rules if r.status != "disabled")


def load_lists(directory: Path, pseudonymize: Pseudonymizer | None, problems: list[str]) -> dict[str, frozenset]:
    """``lists/<name>.txt``: one item a line, ``#`` comments; a first line ``# pseudonymize`` hashes items."""
    lists: dict[str, frozenset] = {}
    folder = directory / "lists"
    if not folder.is_dir():
        return lists
    for path in sorted(folder.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        hashed = bool(lines) and lines[0].strip().lower() == "# pseudonymize"
        items = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        if hashed:
            if pseudonymize is None:
                problems.append(f"{path}:1: list {path.stem!r} asks for pseudonyms but no pseudonym key was given")
                continue
            items = [pseudonymize(item) for item in items]
        lists[path.stem] = frozenset(items)
    return lists


def plain_error(err: dict[str, Any]) -> tuple[tuple, str]:
    """A pydantic error -> (location without the rule-type tag, plain words)."""
    loc = tuple(err["loc"])
    if loc and loc[0] in RULE_TYPES:
        loc = loc[1:]
    where = ".".join(str(x) for x in loc)
    kind = err["type"]
    given = err.get("input")
    if kind == "missing":
        return loc, f"'{where}' is missing"
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), _RULE_KEYS + ["severity", "title", "topics", "labels"], n=1)
        return loc, f"unknown key '{where}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
    if kind == "union_tag_invalid":
        return ("type",), f"type {given.get('type')!r} is not a rule type; use one of: {', '.join(RULE_TYPES)}"
    if kind == "union_tag_not_found":
        return ("type",), f"'type' is missing; use one of: {', '.join(RULE_TYPES)}"
    if kind == "string_pattern_mismatch":
        if loc and loc[-1] in _DURATION_FIELDS:
            return loc, f"{where}: {given!r} is not a duration like 30m, 48h, 90d or 30m1s"
        if loc == ("id",):
            return loc, f"id {given!r}: use letters, digits, - and _, starting with a letter"
        return loc, f"{where}: {given!r} has the wrong form (expected {err['ctx']['pattern']})"
    return loc, f"{where}: {err['msg']}" if where else err["msg"]


class _Loader:
    def __init__(self, directory: Path, pseudonym_key: str | bytes | None):
        self.directory = directory
        self.pseudonymize = Pseudonymizer(pseudonym_key) if pseudonym_key else None
        self.problems: list[str] = []
        self.lists = load_lists(directory, self.pseudonymize, self.problems)
        self.macros: dict[str, str] = {}
        self.macro_where: dict[str, str] = {}

    def report(self, src: Source, path: tuple, rule_id: str | None, message: str, line: int | None = None) -> None:
        line = line if line is not None else src.line(path)
        who = f" rule {rule_id}:" if rule_id else ""
        self.problems.append(f"{src.file}:{line}:{who} {message}")

    def read(self, path: Path) -> tuple[Source | None, list[tuple[int, Any]]]:
        """Parse one file; returns its source and the (index, raw rule) items to compile."""
        file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"{file}:1: cannot read the file: {exc}")
            return None, []
        src, yaml_problems = load_source(text, file)
        for p in yaml_problems:
            self.problems.append(f"{file}:{p.line}: {p.message}")
        if src is None:
            return None, []
        data = src.data
        if data is None:
            return src, []
        if not isinstance(data, dict):
            self.report(src, (), None, "a rule file is a mapping with 'rules:' (and optional 'macros:')")
            return src, []
        for key in data:
            if key not in ("rules", "macros"):
                self.report(src, (key,), None, f"unknown top-level key {key!r}; use 'rules' and 'macros'")
        macros = data.get("macros") or {}
        if not isinstance(macros, dict):
            self.report(src, ("macros",), None, "'macros' is a mapping of name: condition")
        else:
            for name, text in macros.items():
                if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]{0,63}$", name):
                    self.report(src, ("macros", name), None, f"macro name {name!r}: use lower-case letters, digits, _")
                elif not isinstance(text, str):
                    self.report(src, ("macros", name), None, f"macro {name!r} must be a condition text")
                elif name in self.macros:
                    self.report(src, ("macros", name), None, f"macro {name!r} is already defined in {self.macro_where[name]}")
                else:
                    self.macros[name] = text
                    self.macro_where[name] = f"{file}:{src.line(('macros', name))}"
        rules = data.get("rules") or []
        if not isinstance(rules, list):
            self.report(src, ("rules",), None, "'rules' is a list of rules (each item starts with '- id: ...')")
            return src, []
        return src, list(enumerate(rules))

    def validate(self, src: Source, index: int, raw: Any):
        base = ("rules", index)
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            return _RULE.validate_python(raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc, message = plain_error(err)
                self.report(src, base + loc, rule_id if isinstance(rule_id, str) else None, message)
            if isinstance(raw, dict):
                self.precheck(src, index, raw, rule_id if isinstance(rule_id, str) else None)
            return None

    def precheck(self, src: Source, index: int, raw: dict, rule_id: str | None) -> None:
        """After a shape error, still check the conditions that can be checked (all problems at once)."""
        parts = [((), raw)] + [((name,), raw.get(name)) for name in ("cancel", "first", "then")]
        for path, part in parts:
            if not isinstance(part, dict):
                continue
            stream = part.get("stream", raw.get("stream"))
            when = part.get("when")
            if stream not in TOPICS or not isinstance(when, str):
                continue
            _, problems = parse_condition(when, Scope(stream, stream_fields(stream), self.macros, self.lists))
            when_path = ("rules", index) + path + ("when",)
            for p in problems:
                self.report(src, when_path, rule_id, p.message, line=src.text_line(when_path) + p.line - 1)

    # -- compile one validated rule ---------------------------------------------------------------
    def compile(self, src: Source, index: int, m: Any) -> RuleSpec | None:
        base = ("rules", index)
        before = len(self.problems)

        def problem(path: tuple, message: str, line: int | None = None) -> None:
            self.report(src, base + path, m.id, message, line)

        durations: dict[str, float] = {}
        for name in _DURATION_FIELDS:
            text = getattr(m, name, None)
            if text is not None:
                seconds = parse_duration(text)
                if seconds <= 0:
                    problem((name,), f"{name} must be longer than 0")
                durations[name] = seconds
        trees: list[Node] = []
        sides: dict[str, Side] = {}

        def side(name: str, stream: str, when: str, key: Any, path: tuple) -> None:
            fields = stream_fields(stream)
            key_fields = (key,) if isinstance(key, str) else tuple(key)
            key_path = path + ("key",) if path else ("key",)
            for f in key_fields:
                if f not in fields:
                    hint = difflib.get_close_matches(f, list(fields), n=1)
                    extra = f"; did you mean {hint[0]!r}?" if hint else ""
                    problem(key_path, f"key field {f!r} is not a field of {stream} events{extra}")
                elif f in CLEAR_PERSONAL and self.pseudonymize is None:
                    problem(key_path, f"key field {f!r} is personal: a pseudonym key is needed to load this rule")
            scope = Scope(stream, fields, self.macros, self.lists)
            tree, cond_problems = parse_condition(when, scope)
            when_path = base + path + ("when",)
            first_line = src.text_line(when_path) if when_path in src.lines else src.line(base + path)
            for p in cond_problems:
                problem(path + ("when",), p.message, line=first_line + p.line - 1)
            if tree is None:
                return
            trees.append(tree)
            sides[name] = Side(
                name, stream, TOPICS[stream], compile_condition(tree, f"{m.id}:{name}"),
                make_key(key_fields, self.pseudonymize), key_fields,
            )

        if m.type == "sequence":
            side("first", m.first.stream, m.first.when, m.first.key or m.key, ("first",))
            side("then", m.then.stream, m.then.when, m.then.key or m.key, ("then",))
            source_stream = m.then.stream
        else:
            side("main", m.stream, m.when, m.key, ())
            source_stream = m.stream
            if m.type == "deadline":
                side("cancel", m.cancel.stream or m.stream, m.cancel.when, m.cancel.key or m.key, ("cancel",))
        fields = stream_fields(source_stream)
        params: dict[str, Any] = {}
        if m.type in ("count", "distinct_count"):
            params.update(window=durations["window"], threshold=m.threshold, op=m.op)
        if m.type == "distinct_count":
            if m.distinct not in fields:
                problem(("distinct",), f"{m.distinct!r} is not a field of {source_stream} events")
            params["distinct"] = m.distinct
        if m.type in ("deadline", "sequence"):
            params["within"] = durations["within"]
        if m.type == "spike":
            try:
                ZoneInfo(m.timezone)
            except Exception:
                problem(("timezone",), f"unknown time zone {m.timezone!r}")
            params.update(bucket=m.bucket, baseline=m.baseline, factor=m.factor, min_count=m.min_count,
                          timezone=m.timezone)
        a = m.alert
        for f in a.figures:
            if f not in fields:
                problem(("alert", "figures"), f"figure {f!r} is not a field of {source_stream} events")
        allowed = set(fields) | set(FIGURES[m.type]) | set(a.figures) | {"key"}
        title, title_problems = parse_template(a.title, allowed)
        for text in title_problems:
            problem(("alert", "title"), f"title: {text}")
        labels = {}
        for name, text in a.labels.items():
            tpl, label_problems = parse_template(text, allowed)
            for p in label_problems:
                problem(("alert", "labels", name), f"label {name}: {p}")
            labels[name] = tpl
        if len(self.problems) > before:
            return None
        used = set(title.names) | {n for t in labels.values() for n in t.names}
        context = tuple(dict.fromkeys(LOCATION + tuple(sorted(used & set(fields))) + tuple(a.figures)))
        version_text = json.dumps(m.model_dump(mode="json", exclude={"status"}), sort_keys=True, ensure_ascii=False)
        version_text += "\n" + "\n".join(repr(t) for t in trees)
        version = hashlib.sha256(version_text.encode("utf-8")).hexdigest()[:12]
        alert = AlertSpec(
            severity=a.severity, title=title, labels=labels, topics=tuple(a.topics),
            domain=a.domain or source_stream, figure_fields=tuple(a.figures), evidence_max=a.evidence_max,
        )
        return RuleSpec(
            id=m.id, version=version, status=m.status, type=m.type, file=src.file, line=src.line(base),
            sides=sides, alert=alert, suppress=durations.get("suppress"), grace=durations.get("grace"),
            params=params, context_fields=context,
        )


def load_ruleset(directory: Path | str, pseudonym_key: str | bytes | None = None) -> RuleSet:
    """Parse, validate and compile every ``*.yaml`` in ``directory`` (not its subfolders).

    Raises :class:`pingan.errors.RuleError` whose ``problems`` lists every problem found.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RuleError(f"rule directory {directory} does not exist")
    loader = _Loader(directory, pseudonym_key)
    files = sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    sources = [loader.read(path) for path in files]
    specs: list[RuleSpec] = []
    seen: dict[str, str] = {}
    for src, items in sources:
        for index, raw in items:
            m = loader.validate(src, index, raw)
            if m is None:
                continue
            if m.id in seen:
                loader.report(src, ("rules", index, "id"), m.id, f"duplicate rule id (first in {seen[m.id]})")
                continue
            seen[m.id] = f"{src.file}:{src.line(('rules', index))}"
            spec = loader.compile(src, index, m)
            if spec is not None:
                specs.append(spec)
    if loader.problems:
        count = len(loader.problems)
        raise RuleError(f"{count} problem{'s' if count > 1 else ''} in rules {directory}", loader.problems)
    digest = hashlib.sha256("\n".join(f"{s.id}:{s.version}:{s.status}" for s in specs).encode()).hexdigest()[:12]
    return RuleSet(directory, tuple(specs), digest, tuple(str(p) for p in files))
