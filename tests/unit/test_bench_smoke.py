"""The benchmark suite runs in its quick mode and produces ratios (their values are never asserted)."""

from __future__ import annotations

import json

import pytest

from pingan.bench.report import BEGIN, END, update_markdown
from pingan.bench.suite import run_suite, write_results


def test_in_process_benchmarks_produce_ratios_and_a_table(tmp_path):
    lines: list[str] = []
    doc = run_suite({"B2", "B3"}, rounds=1, quick=True, out_dir=tmp_path, say=lines.append)
    by_id = {r["id"]: r for r in doc["results"]}
    assert set(by_id) == {"B2", "B3", "B3b"}
    for r in by_id.values():
        assert r["error"] is None
        assert len(r["ratios"]) == 1 and r["ratios"][0] > 0
        assert r["median"] == r["ratios"][0]
    assert by_id["B3b"]["figures"]["rules"] == 100
    assert any(line.startswith("B3 ") and "median" in line for line in lines)
    path = write_results(doc, tmp_path)
    assert json.loads(path.read_text())["results"][0]["id"] == "B2"
    md = tmp_path / "benchmarks.md"
    md.write_text(f"# Benchmarks\n\nprose stays\n\n{BEGIN}\nold\n{END}\n\nmore prose\n", encoding="utf-8")
    update_markdown(doc, md)
    text = md.read_text(encoding="utf-8")
    assert "prose stays" in text and "more prose" in text and "old" not in text
    assert "| B3b |" in text


def test_unknown_benchmark_is_a_one_line_error():
    from pingan.cli.main import main

    assert main(["bench", "--only", "B9"]) != 0


@pytest.mark.parametrize("n", [3, 50])
def test_generated_if_chain_agrees_with_the_engine_on_matches(tmp_path, n):
    """The B3 baseline evaluates the same conditions: on match rules without suppression it finds
    exactly the engine's alerts."""
    from pingan.bench.data import decoded
    from pingan.bench.rulegen import generate_rules, if_chain
    from pingan.streams.engine import Engine, load_ruleset

    text_dir = generate_rules(tmp_path, n, seed=n)
    path = text_dir / "generated.yaml"
    path.write_text(path.read_text().replace("    suppress: 10m\n", ""), encoding="utf-8")
    ruleset = load_ruleset(text_dir, pseudonym_key="bench-key")
    events = decoded(2000)
    engine = Engine(ruleset)
    got = set()
    for e in events:
        for a in engine.process(e):
            got.add((a["rule_id"], a["key"], a["ts"]))
    fns, _ = if_chain(ruleset)
    out: list = []
    seen = set()
    for e in events:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            fn = fns.get(e["topic"])
            if fn:
                fn(e, out)
    match_ids = {s.id for s in ruleset.active if s.type == "match"}
    expected = {x for x in got if x[0] in match_ids}
    assert {x for x in out if x[0] in match_ids} == expected
    if n >= 50:
        assert len(expected) > 10

