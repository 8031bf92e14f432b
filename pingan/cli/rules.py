"""``pingan rules validate|test [DIR]``: check a rule directory; run its YAML tests."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rules", help="validate rule files and run their YAML tests")
    commands = p.add_subparsers(dest="rules_command", metavar="ACTION")
    commands.required = True

    validate = commands.add_parser(
        "validate", help="check every rule file; list ALL problems (file:line, rule id, what is wrong)"
    )
    validate.add_argument("directory", nargs="?", help="rule directory (default: settings worker.rules_dir)")
    validate.set_defaults(handler=cmd_validate)

    test = commands.add_parser("test", help="run the example-based YAML tests (DIR/tests/*.yaml)")
    test.add_argument("directory", nargs="?", help="rule directory (default: settings worker.rules_dir)")
    test.add_argument("--tests", help="test directory (default: DIR/tests)")
    test.add_argument("-k", dest="match", help="run only tests whose name contains this text")
    test.add_argument("-v", "--verbose", action="store_true", help="list every test, not only failures")
    test.set_defaults(handler=cmd_test)


def _directory(args: argparse.Namespace):
    from pathlib import Path

    from pingan.config import load_settings

    return Path(args.directory or load_settings().worker.rules_dir)


def _print_problems(exc) -> None:
    print(f"pingan: error: {exc}", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    from pingan.config import load_settings
    from pingan.errors import RuleError
    from pingan.streams.engine import load_ruleset

    directory = _directory(args)
    try:
        ruleset = load_ruleset(directory, pseudonym_key=load_settings().pseudonym_key.get_secret_value())
    except RuleError as exc:
        _print_problems(exc)
        return 1
    by_status: dict[str, int] = {}
    for spec in ruleset.rules:
        by_status[spec.status] = by_status.get(spec.status, 0) + 1
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
    print(f"{directory}: {len(ruleset.rules)} rules OK ({statuses}) in {len(ruleset.files)} files; "
          f"version {ruleset.version}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pingan.errors import RuleError
    from pingan.streams.engine import load_ruleset
    from pingan.streams.engine.testing import TEST_PSEUDONYM_KEY, collect_tests, run_case

    directory = _directory(args)
    try:
        ruleset = load_ruleset(directory, pseudonym_key=TEST_PSEUDONYM_KEY)
    except RuleError as exc:
        _print_problems(exc)
        return 1
    cases, problems = collect_tests(Path(args.tests) if args.tests else directory / "tests")
    for problem in problems:
        print(f"ERROR {problem}")
    if args.match:
        cases = [c for c in cases if args.match in c.test.name]
    failed = 0
    for case in cases:
        result = run_case(ruleset, case)
        if result.passed:
            if args.verbose:
                print(f"PASS  {case.file}:{case.line}: {case.test.name}")
            continue
        failed += 1
        print(f"FAIL  {case.file}:{case.line}: {case.test.name}")
        for problem in result.problems:
            print(f"      {problem}")
    passed = len(cases) - failed
    print(f"{passed} passed, {failed} failed" + (f", {len(problems)} file problems" if problems else ""))
    return 1 if failed or problems or not cases else 0
