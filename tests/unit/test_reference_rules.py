"""Every YAML rule test in rules/tests/ runs as a pytest case: the suite fails if any fails."""

from __future__ import annotations

import pytest
from rulehelp import REPO, reference_ruleset

from pingan.streams.engine.testing import collect_tests, run_case

CASES, PROBLEMS = collect_tests(REPO / "rules" / "tests")
REFERENCE_IDS = {
    "CAM-WATCH-MULTI", "CAM-WANTED", "CAM-NIGHT-STRANGER", "CAM-OFFLINE", "GRID-OVERDUE-YELLOW",
    "GRID-OVERDUE-RED", "GRID-HOUSEHOLD", "GRID-RISK-HIGH", "FRAUD-ELDERLY", "FRAUD-MAJOR", "FRAUD-CLUSTER",
    "FRAUD-REPEAT-VICTIM", "SVC-ONE-VISIT", "SVC-SLA", "FUSION-RISK-INTRUSION",
}


@pytest.fixture(scope="module")
def ruleset():
    return reference_ruleset()


def test_the_15_reference_rules_are_there_and_enabled(ruleset):
    assert REFERENCE_IDS <= {r.id for r in ruleset.rules}
    assert all(r.status == "enabled" for r in ruleset.rules if r.id in REFERENCE_IDS)


def test_the_test_files_are_valid_and_cover_every_rule():
    assert PROBLEMS == []
    assert len(CASES) >= 50
    covered = {rule for case in CASES for rule in (case.test.rules or [])}
    fired = {e.rule for case in CASES for e in case.test.expect}
    every_rule = {r.id for r in reference_ruleset().rules}
    assert covered == every_rule >= REFERENCE_IDS
    assert fired == every_rule  # every rule has at least one positive example


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_yaml_rule_test(ruleset, case):
    result = run_case(ruleset, case)
    assert result.passed, f"{case.file}:{case.line}: {case.test.name}\n" + "\n".join(result.problems)
