"""Runs the selected benchmarks, prints every ratio, writes the JSON results and the markdown table."""

from __future__ import annotations

import json
import platform
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from pingan.bench.core import Result, load_average

ALL = ("B1", "B2", "B3", "B4", "B5", "B6", "MEM")
KAFKA = {"B1", "B5", "B6", "MEM"}


def run_suite(only: set[str] | None = None, rounds: int = 5, quick: bool = False,
              out_dir: Path | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmarks in ``only`` (all by default); returns the results document."""
    selected = [b for b in ALL if not only or b in only]
    results: list[Result] = []
    memory: dict[str, Any] = {}
    started = time.time()
    load_before = load_average()

    def record(res: Result | list[Result]) -> None:
        for r in res if isinstance(res, list) else [res]:
            results.append(r)
            say(r.line())

    def guarded(bid: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - one failing benchmark must not hide the others
            say(f"{bid}: failed: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            results.append(Result(bid, "failed", "", error=f"{type(exc).__name__}: {exc}"))
            return None

    if "B2" in selected:
        from pingan.bench.micro import b2_decode

        guarded("B2", lambda: record(b2_decode(rounds, quick)))
    if "B3" in selected:
        from pingan.bench.micro import b3_rules

        guarded("B3", lambda: record(b3_rules(rounds, quick)))
    if "B4" in selected:
        from pingan.bench.sink import b4_sink

        guarded("B4", lambda: record(b4_sink(rounds, quick)))
    if KAFKA & set(selected):
        from pingan.bench.broker import BenchBroker

        with BenchBroker() as broker:
            say(f"benchmark broker on {broker.bootstrap}")
            b1 = None
            if "B1" in selected:
                from pingan.bench.pipeline import b1_pipeline

                both = guarded("B1", lambda: b1_pipeline(broker, rounds, quick))
                b1 = None
                if both is not None:
                    b1x, b1 = both
                    record([b1, b1x])
            if "B5" in selected:
                from pingan.bench.latency import b5_latency

                max_rate = b1.figures["pipeline_median_per_s"] if b1 is not None else _last_b1_rate(out_dir)
                guarded("B5", lambda: record(b5_latency(broker, rounds, quick, max_rate)))
            if "B6" in selected:
                from pingan.bench.produce import b6_producer

                guarded("B6", lambda: record(b6_producer(broker, rounds, quick)))
            if "MEM" in selected:
                from pingan.bench.memory import open_deadlines, worker_soak

                memory["worker_soak"] = guarded("MEM", lambda: worker_soak(broker, quick))
                say(f"MEM  worker soak: {_brief(memory['worker_soak'])}")
    if "MEM" in selected:
        from pingan.bench.memory import open_deadlines

        memory["open_deadlines"] = guarded("MEM", lambda: open_deadlines(quick))
        say(f"MEM  open deadlines: {_brief(memory['open_deadlines'])}")
    doc = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1), "rounds": rounds, "quick": quick,
        "machine": {"cpus": _cpus(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_before": round(load_before, 2), "load_after": round(load_average(), 2)},
        "results": [r.to_json() for r in results], "memory": memory,
    }
    if doc["machine"]["load_before"] > (doc["machine"]["cpus"] or 1) * 0.75:
        doc["noisy_machine"] = True
        say(f"NOTE: the machine was busy (load {doc['machine']['load_before']} on {doc['machine']['cpus']} cpus): "
            "figures are flagged noisy")
    return doc


def _last_b1_rate(out_dir: Path | None) -> float:
    """B5 without B1 in this run: the last recorded B1 rate (or a conservative default)."""
    path = (out_dir or Path("var/bench")) / "results.json"
    try:
        for r in json.loads(path.read_text())["results"]:
            if r["id"] == "B1" and r.get("figures", {}).get("pipeline_median_per_s"):
                return float(r["figures"]["pipeline_median_per_s"])
    except (OSError, ValueError, KeyError):
        pass
    return 1000.0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _brief(d: Any) -> str:
    if not isinstance(d, dict):
        return str(d)
    return ", ".join(f"{k}={v}" for k, v in d.items() if k != "samples")


def write_results(doc: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    for r in doc["results"]:
        r.setdefault("run", doc["started"])
        r.setdefault("rounds", doc["rounds"])
    if doc["memory"]:
        doc["memory"].setdefault("run", doc["started"])
    # keep the latest figures of benchmarks not run this time (``--only``)
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if old:
        ran = {r["id"] for r in doc["results"]} | ({"MEM"} if doc["memory"] else set())
        doc["results"] = [r for r in old.get("results", []) if r["id"] not in ran] + doc["results"]
        doc["results"].sort(key=lambda r: r["id"])
        if not doc["memory"]:
            doc["memory"] = old.get("memory", {})
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    return path
