"""Rule files cannot reach Python: every field someone could smuggle code through is checked.

Each case writes a rule file, loads it, and expects a RuleError whose problem names the file, the
line and the rule id, in plain words. A marker file proves that nothing ran.
"""

from __future__ import annotations

import pytest
from rulehelp import Events, write_rules

from pingan.errors import RuleError
from pingan.streams.engine import Engine, load_ruleset
from pingan.streams.engine.compiler import _audit, compile_condition, generate
from pingan.streams.engine.fields import stream_fields
from pingan.streams.engine.language import Scope, parse_condition

MARKER = "/tmp/pingan-rule-safety-marker"

RULE = """\
macros:
  harmless: 'kind == "stranger"'
rules:
  - id: EVIL-1
    title: t
    type: {type}
    stream: camera
    when: {when}
    key: {key}
    alert:
      severity: high
      title: {title}
{extra}
"""


def load(tmp_path, when='kind == "stranger"', key="camera_id", title="ok", type_="match", extra="", macros=None):
    text = RULE.format(when=when, key=key, title=title, type=type_, extra=extra)
    if macros:
        text = text.replace("  harmless: 'kind == \"stranger\"'", macros)
    directory = write_rules(tmp_path, text, name="evil.yaml")
    with pytest.raises(RuleError) as info:
        load_ruleset(directory, pseudonym_key="k")
    import os

    assert not os.path.exists(MARKER), "rule text was executed"
    return "\n".join(info.value.problems), str(directory / "evil.yaml")


@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("'kind.__class__.__bases__ == 1'", "dunder attribute '__bases__'"),
        ("'camera_id.__len__() > 1'", "method calls (.__len__())"),
        ("'__import__(\"os\").system(\"touch /tmp/pingan-rule-safety-marker\")'", "method calls"),
        ("'__import__(\"os\") is null'", "function '__import__' is not allowed"),
        ("'__builtins__ is null'", "dunder names are not allowed"),
        ("'_secret is null'", "names starting with '_'"),
        ("'import os'", "statements (import) are not allowed"),
        ("'exec(\"import os\") is null'", "function 'exec' is not allowed"),
        ("'eval(\"1\") == 1'", "function 'eval' is not allowed"),
        ("'open(\"/etc/passwd\") is null'", "function 'open' is not allowed"),
        ("'getattr(kind, \"upper\") is null'", "function 'getattr' is not allowed"),
        ("'(lambda: 1)() == 1'", "lambda is not allowed"),
        ("'kind.upper() == \"X\"'", "method calls (.upper())"),
        ("'confidence.real > 1'", "attribute access (x.y) is not allowed"),
        ("'camera_id[0] == \"C\"'", "indexing"),
        ("'[x for x in camera_id] == 1'", "comprehensions are not allowed"),
        ("'(x := 1) == 1'", "assignment (:=) is not allowed"),
        ("'f\"{kind}\" == \"x\"'", "f-strings are not allowed"),
        ("'confidence ** 1000000 > 1'", "power too large"),
        ("'confidence ** confidence > 1'", "exponent of ** must be a constant"),
        ("'(confidence ** 9) ** 9 > 1'", "nested powers"),
        ("'10 ** 10 ** 10 > 1'", "exponent of ** must be a constant"),
        ("'confidence > 1' + ' and confidence > 1' * 400", "too long"),
        ("'1' + '0' * 40 + ' > confidence'", "number too large"),
        ("'matches(camera_id, \"(a)\\\\1\")'", "refused by RE2"),
        ("'matches(camera_id, \"(?=a)b\")'", "refused by RE2"),
        ("'matches(camera_id, \"a{100000}\")'", "refused by RE2"),
        ("'matches(camera_id, camera_id)'", "pattern in quotes"),
        ("'kind if kind else kind'", "conditional expressions"),
        ("'{\"a\": 1} == kind'", "dictionaries are not allowed"),
        ("'not ' * 200 + 'kind == \"x\"'", "nested too deeply"),
    ],
)
def test_conditions_that_reach_for_python_are_rejected(tmp_path, when, words):
    text, path = load(tmp_path, when=eval(when) if when.startswith("'") and "*" in when else when)
    assert words in text, text
    assert f"{path}:8: rule EVIL-1:" in text


def test_deep_parentheses_are_a_problem_not_a_crash(tmp_path):
    text, _ = load(tmp_path, when="'" + "(" * 300 + "kind" + ")" * 300 + " == 1'")
    assert "rule EVIL-1" in text


def test_macros_are_checked_like_conditions(tmp_path):
    macros = "  evil: '__import__(\"os\").system(\"touch /tmp/pingan-rule-safety-marker\")'"
    text, _ = load(tmp_path, when="evil", macros=macros)
    assert "in macro 'evil'" in text and "method calls" in text


def test_cancel_and_sequence_conditions_are_checked(tmp_path):
    extra = "    within: 1h\n    cancel:\n      when: 'kind.__class__ is null'\n"
    text, _ = load(tmp_path, type_="deadline", extra=extra)
    assert "dunder attribute '__class__'" in text
    seq = """\
rules:
  - id: EVIL-2
    title: t
    type: sequence
    key: village_code
    first: {stream: grid, when: 'open("x") is null'}
    then: {stream: camera, when: 'kind.__dict__ is null'}
    within: 1h
    alert: {severity: low, title: t}
"""
    directory = write_rules(tmp_path, seq, name="evil.yaml")
    with pytest.raises(RuleError) as info:
        load_ruleset(directory, pseudonym_key="k")
    text = "\n".join(info.value.problems)
    assert ":6: rule EVIL-2: function 'open' is not allowed" in text
    assert ":7: rule EVIL-2: dunder attribute '__dict__'" in text


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("'{kind.__class__}'", "not a plain field name"),
        ("'{kind[0]}'", "not a plain field name"),
        ("'{kind!r}'", "conversions (!r, !s) are not allowed"),
        ("'{confidence:>1000000000}'", "only formats like"),
        ("'{__class__}'", "not a plain field name"),
        ("'{secret}'", "unknown placeholder {secret}"),
        ("'{'", "literal braces"),
    ],
)
def test_title_templates_cannot_reach_attributes(tmp_path, title, words):
    text, _ = load(tmp_path, title=title)
    assert words in text, text


def test_labels_are_templates_too(tmp_path):
    text, _ = load(tmp_path, extra="      labels: {x: '{kind.__class__}'}")
    assert "label x" in text and "not a plain field name" in text


@pytest.mark.parametrize(
    ("key", "words"),
    [("__class__", "id"), ("kind.__class__", "key"), ("no_such_field", "key field 'no_such_field'")],
)
def test_key_fields_must_be_plain_event_fields(tmp_path, key, words):
    text, _ = load(tmp_path, key=key)
    assert "rule EVIL-1" in text and words in text, text


def test_unknown_rule_keys_and_list_names_are_rejected(tmp_path):
    text, _ = load(tmp_path, extra="    python: 'import os'")
    assert "unknown key 'python'" in text
    text, _ = load(tmp_path, when="'camera_id in list(\"../../etc/passwd\")'")
    assert "unknown list '../../etc/passwd'" in text


def test_generated_code_is_audited_and_runs_without_builtins():
    node, problems = parse_condition(
        'kind in ["stranger"] and matches(camera_id, "^C") and time_in("22:00", "05:00") and len(kind) > 1',
        Scope("camera", stream_fields("camera")),
    )
    assert not problems
    source, slots = generate(node)
    _audit(source, slots)  # does not raise
    with pytest.raises(AssertionError):
        _audit(source.replace("len(", "open("), slots)
    with pytest.raises(AssertionError):
        _audit(source + "\nx = e.__class__\n", slots)
    fn = compile_condition(node)
    assert fn.__globals__["__builtins__"] == {}


def test_regex_that_backtracks_elsewhere_is_accepted_and_linear_in_re2(tmp_path):
    directory = write_rules(
        tmp_path,
        RULE.format(type="match", when="'matches(camera_id, \"^(a+)+$\")'", key="camera_id", title="t", extra="")
        .replace("  harmless: 'kind == \"stranger\"'", "  harmless: 'true'"),
    )
    engine = Engine(load_ruleset(directory, pseudonym_key="k"))
    ev = Events()
    # 30 'a' then '!' would take ~2**30 steps in a backtracking engine; RE2 answers at once
    assert engine.process(ev(0, stream="camera", kind="stranger", camera_id="a" * 30 + "!")) == []
    assert len(engine.process(ev(1, stream="camera", kind="stranger", camera_id="a" * 30))) == 1


def test_accepted_template_text_stays_text_in_the_generated_alert_code(tmp_path):
    """Literal parts of titles and labels are written into the alert builder's source (as repr):
    quotes, backslashes, newlines, braces and code-looking text must come out verbatim, never run."""
    import os

    import yaml

    from pingan.streams.engine import Engine, alerts

    evil = "\"); __import__('os').system('touch " + MARKER + "'); (\"\\ '''\n{{x}}"
    rule = {"id": "EVIL-1", "title": "t", "type": "match", "stream": "camera", "when": 'kind == "stranger"',
            "key": "camera_id", "alert": {"severity": "high", "title": "{camera_id}" + evil, "labels": {"x": evil}}}
    directory = write_rules(tmp_path, yaml.safe_dump({"rules": [rule]}, allow_unicode=True), name="evil.yaml")
    rt = Engine(load_ruleset(directory, pseudonym_key="k")).rules[0]
    alert = rt.alert(1.0, "k", {"camera_id": "CAM-1"}, [], {})
    literal = evil.replace("{{", "{").replace("}}", "}")
    assert alert["title"] == "CAM-1" + literal and alert["labels"]["x"] == literal
    assert not os.path.exists(MARKER), "template text was executed"
    assert rt.alert.__globals__["__builtins__"] == {}
    original = alerts._render
    try:  # the builder's own audit refuses code it did not mean to write
        alerts._render = lambda template, figures=frozenset(): "__import__('os')"
        with pytest.raises(AssertionError):
            alerts.build_alert(rt.spec, "enabled")
    finally:
        alerts._render = original
