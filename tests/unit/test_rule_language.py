"""The condition language and the rule-file loader: semantics and plain-words problems."""

from __future__ import annotations

import pytest
from rulehelp import Events, write_rules

from pingan.errors import RuleError
from pingan.streams.engine import load_ruleset, parse_duration
from pingan.streams.engine.compiler import compile_condition
from pingan.streams.engine.fields import stream_fields
from pingan.streams.engine.language import Scope, parse_condition
from pingan.streams.engine.testing import TEST_PSEUDONYM_KEY

ev = Events()


def cond(text: str, stream: str = "camera", macros=None, lists=None):
    node, problems = parse_condition(text, Scope(stream, stream_fields(stream), macros or {}, lists or {}))
    assert not problems, problems
    return compile_condition(node)


def problems_of(text: str, stream: str = "camera", macros=None, lists=None) -> list[str]:
    node, problems = parse_condition(text, Scope(stream, stream_fields(stream), macros or {}, lists or {}))
    assert node is None
    return [p.message for p in problems]


FACE = dict(stream="camera", kind="face_match", person_id="P1", camera_id="CAM-532301-000001", confidence=0.85)


def test_comparisons_are_inclusive_or_strict_as_written():
    e = ev(0, **FACE)
    assert cond("confidence >= 0.85")(e)
    assert not cond("confidence > 0.85")(e)
    assert cond("0.8 <= confidence < 0.9")(e)
    assert not cond("0.86 <= confidence < 0.9")(e)
    assert cond('kind == "face_match" and not (kind != "face_match")')(e)


def test_inline_lists_and_named_lists():
    e = ev(0, **FACE)
    assert cond('kind in ["stranger", "face_match"]')(e)
    assert not cond('kind not in ["stranger", "face_match"]')(e)
    lists = {"wanted": frozenset({"P1", "P9"})}
    assert cond('person_id in list("wanted")', lists=lists)(e)
    assert not cond('person_id in list("wanted")', lists={"wanted": frozenset({"P2"})})(e)


def test_named_list_files_are_loaded_and_pseudonymised_when_asked(tmp_path):
    directory = write_rules(
        tmp_path,
        """
        rules:
          - id: R1
            title: t
            type: match
            stream: fraud
            when: victim_id_number in list("ids") and case_id in list("cases")
            key: case_id
            alert: {severity: low, title: t}
        """,
        lists={"ids": "# pseudonymize\n532301195001011234\n", "cases": "# a comment\nC1\n\nC2\n"},
    )
    from pingan.streams.engine import Engine

    engine = Engine(load_ruleset(directory, pseudonym_key=TEST_PSEUDONYM_KEY))
    hit = ev(0, stream="fraud", case_id="C1", status="reported", victim_id_number="532301195001011234")
    miss = ev(1, stream="fraud", case_id="C3", status="reported", victim_id_number="532301195001011234")
    assert [a["key"] for a in engine.process(hit)] == ["C1"]
    assert engine.process(miss) == []


def test_null_semantics_comparisons_with_missing_values_are_false():
    e = ev(0, stream="camera", kind="stranger", camera_id="CAM-1")  # no confidence, no person_id
    assert not cond("confidence >= 0.5")(e)
    assert not cond("confidence < 0.5")(e)
    assert not cond('person_id != "P1"')(e)
    assert cond("person_id is null and confidence == null")(e)
    assert not cond("person_id is not null")(e)
    assert cond("not (confidence > 0.5)")(e)
    assert not cond("confidence * 2 > 1 or confidence < 0")(e)
    assert cond("confidence * 2 > 1 or kind == 'stranger'")(e)  # a null comparison does not poison `or`


def test_arithmetic_between_fields():
    e = ev(0, stream="service", record_id="S1", status="completed", elapsed_hours=30, sla_hours=24)
    assert cond("elapsed_hours - sla_hours > 5", "service")(e)
    assert not cond("elapsed_hours > sla_hours * 2", "service")(e)
    assert cond("abs(sla_hours - elapsed_hours) == 6", "service")(e)


def test_regex_is_re2_and_null_safe():
    e = ev(0, **FACE)
    assert cond('matches(camera_id, "^CAM-532301-")')(e)
    assert not cond('matches(camera_id, "^CAM-532302-")')(e)
    assert not cond('matches(image_ref, ".*")')(e)  # image_ref is null
    # a catastrophic pattern for backtracking engines runs in linear time in RE2
    adversarial = ev(1, **{**FACE, "camera_id": "a" * 5000 + "!"})
    assert not cond('matches(camera_id, "^(a+)+$")')(adversarial)


def test_text_functions():
    e = ev(0, stream="service", record_id="S1", department="市场监管局", item_code="AbC-1")
    assert cond('lower(item_code) == "abc-1" and upper(item_code) == "ABC-1"', "service")(e)
    assert cond('startswith(item_code, "AbC") and endswith(item_code, "-1") and len(item_code) == 5', "service")(e)
    assert cond('"监管" in department', "service")(e)


@pytest.mark.parametrize(
    ("local", "night"),
    [("21:59:59", False), ("22:00:00", True), ("23:59:59", True), ("00:00:00", True), ("04:59:59", True),
     ("05:00:00", False), ("12:00:00", False)],
)
def test_time_of_day_in_asia_shanghai(local, night):
    check = cond('time_in("22:00", "05:00", "Asia/Shanghai")')
    e = ev(0, **{**FACE, "ts": f"2026-11-29T{local}+08:00"})
    assert bool(check(e)) is night


def test_time_of_day_converts_utc_timestamps():
    check = cond('time_in("22:00", "05:00")')
    assert check(ev(0, **{**FACE, "ts": "2026-11-29T14:00:00Z"}))  # 22:00 local
    assert not check(ev(0, **{**FACE, "ts": "2026-11-29T21:00:00Z"}))  # 05:00 local
    assert cond('time_in("09:00", "17:00", "UTC")')(ev(0, **{**FACE, "ts": "2026-11-29T09:00:00Z"}))


def test_macros_expand_and_nest():
    macros = {"night": 'time_in("22:00", "05:00")', "night_stranger": 'kind == "stranger" and night'}
    check = cond("night_stranger", macros=macros)
    assert check(ev(0, stream="camera", kind="stranger", ts="2026-11-29T23:00:00+08:00"))
    assert not check(ev(0, stream="camera", kind="stranger", ts="2026-11-29T12:00:00+08:00"))


def test_macro_cycles_and_bad_macros_are_reported():
    assert any("macro cycle" in p for p in problems_of("a", macros={"a": "b", "b": "a"}))
    assert any("in macro 'm'" in p for p in problems_of("m", macros={"m": "confidense > 1"}))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('kind == "face_mach"', "did you mean 'face_match'"),
        ("confidense > 0.5", "did you mean 'confidence'"),
        ('confidence > "high"', "cannot compare a number with a text"),
        ("kind", "must be true or false"),
        ("confidence and kind", "and/or/not need true/false"),
        ('kind is "stranger"', "'is' only tests for null"),
        ('kind in [camera_id]', "only constants"),
        ('person_id in list("nope")', "unknown list 'nope'"),
        ('list("wanted")', "may only follow `in`"),
        ('time_in("22:00")', "time_in() takes"),
        ('time_in("25:00", "05:00")', "not a time of day"),
        ('time_in("22:00", "05:00", "Mars/Base")', "unknown time zone"),
        ("confidence >", "syntax error"),
        ("", "empty"),
        ('"abc" * 3 == "x"', "needs a number"),
    ],
)
def test_problems_are_plain_words(text, words):
    found = problems_of(text)
    assert any(words in p for p in found), found


def test_parse_duration():
    assert parse_duration("30m") == 1800
    assert parse_duration("30m1s") == 1801
    assert parse_duration("47h59m") == 47 * 3600 + 59 * 60
    assert parse_duration("90d") == 90 * 86400
    assert parse_duration("1.5h") == 5400


BAD_FILE = """\
macros:
  night: time_in("22:00", "05:00")
rules:
  - id: OK-1
    title: fine
    type: match
    stream: camera
    when: kind == "stranger" and night
    key: village_code
    alert: {severity: low, title: "ok {village_name}"}
  - id: BAD-1
    title: bad
    type: count
    stream: camera
    when: |
      kind == "stranger"
      and confidense > 0.5
    key: village_code
    window: 30 min
    threshold: 3
    alert: {severity: high, title: "x"}
  - id: BAD-2
    title: bad
    type: matchh
  - id: BAD-3
    title: bad
    type: match
    stream: grid
    when: status == "reported"
    key: villag_code
    colour: red
    alert: {severity: urgent, title: "{nope}"}
  - id: OK-1
    title: duplicate
    type: match
    stream: camera
    key: camera_id
    alert: {severity: low, title: t}
"""


def test_every_problem_is_reported_with_file_line_and_rule_id(tmp_path):
    directory = write_rules(tmp_path, BAD_FILE, name="camera.yaml")
    with pytest.raises(RuleError) as info:
        load_ruleset(directory, pseudonym_key="k")
    problems = info.value.problems
    text = "\n".join(problems)
    path = str(directory / "camera.yaml")
    assert f"{path}:19: rule BAD-1: window: '30 min' is not a duration" in text
    assert f"{path}:17: rule BAD-1: unknown name 'confidense'" in text  # line inside the block scalar
    assert f"{path}:24: rule BAD-2: type 'matchh' is not a rule type" in text
    assert f"{path}:31: rule BAD-3: unknown key 'colour'" in text
    assert "rule BAD-3: alert.severity" in text
    assert f"{path}:33: rule OK-1: duplicate rule id" in text
    assert len(problems) >= 6
    assert str(info.value).startswith(f"{len(problems)} problems")


def test_semantic_problems_of_valid_shapes_are_all_reported(tmp_path):
    directory = write_rules(
        tmp_path,
        """
        rules:
          - id: R1
            title: t
            type: distinct_count
            stream: grid
            when: status == "reportd"
            key: villag_code
            distinct: camera_id
            window: 0s
            threshold: 2
            alert: {severity: low, title: "{x.__class__} {unknown}", figures: [confidence]}
        """,
    )
    with pytest.raises(RuleError) as info:
        load_ruleset(directory, pseudonym_key="k")
    text = "\n".join(info.value.problems)
    for words in ("'reportd' is never a value of status", "key field 'villag_code' is not a field of grid",
                  "'camera_id' is not a field of grid", "window must be longer than 0",
                  "figure 'confidence' is not a field", "not a plain field name", "unknown placeholder {unknown}"):
        assert words in text, text


def test_yaml_syntax_and_duplicate_keys_are_reported_with_lines(tmp_path):
    directory = write_rules(tmp_path, "rules:\n  - id: A\n    id: B\n    title: t\n", name="a.yaml")
    (directory / "b.yaml").write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(RuleError) as info:
        load_ruleset(directory, pseudonym_key="k")
    text = "\n".join(info.value.problems)
    assert f"{directory / 'a.yaml'}:3: duplicate key 'id'" in text
    assert f"{directory / 'b.yaml'}:" in text and "not valid YAML" in text


def test_rule_version_changes_with_the_text_and_with_macros(tmp_path):
    rule = """
    macros:
      m: 'kind == "stranger"'
    rules:
      - id: R1
        title: t
        type: match
        stream: camera
        when: m
        key: village_code
        alert: {severity: low, title: t}
    """
    v1 = load_ruleset(write_rules(tmp_path, rule), pseudonym_key="k").rule("R1").version
    v_same = load_ruleset(write_rules(tmp_path, rule), pseudonym_key="k").rule("R1").version
    v_macro = load_ruleset(write_rules(tmp_path, rule.replace('"stranger"', '"intrusion"')), pseudonym_key="k")
    v_status = load_ruleset(write_rules(tmp_path, rule.replace("type: match", "type: match\n        status: shadow")),
                            pseudonym_key="k")
    assert v1 == v_same
    assert v_macro.rule("R1").version != v1
    assert v_status.rule("R1").version == v1  # promoting shadow -> enabled keeps the state
    assert v_status.rule("R1").status == "shadow"


def test_time_of_day_outside_the_fixed_offset_range_uses_the_zone_rules():
    # Shanghai had daylight saving in 1986-1991: 1990-07-01T14:30:00Z was 23:30 local (UTC+9)
    check = cond('time_in("23:15", "23:45")')
    assert check(ev(0, **{**FACE, "ts": "1990-07-01T14:30:00Z"}))
    assert not check(ev(0, **{**FACE, "ts": "2026-07-01T14:30:00Z"}))  # 22:30 local today
