"""The results table of docs/benchmarks.md, regenerated between markers from results.json."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"


def table(doc: dict[str, Any]) -> str:
    runs = sorted({f"{r.get('run', doc['started'])} ({r.get('rounds', doc['rounds'])} rounds)" for r in doc["results"]})
    if (doc.get("memory") or {}).get("run"):
        runs.append(f"{doc['memory']['run']} (memory)")
    lines = [f"Runs: {', '.join(runs) or doc['started']}{' (quick)' if doc['quick'] else ''}; latest on "
             f"{doc['machine']['cpus']} CPUs, load {doc['machine']['load_before']} → {doc['machine']['load_after']}"
             f"{'; NOISY MACHINE' if doc.get('noisy_machine') else ''}.", "",
             "| # | what | median ratio | min – max | target | met | key figures |",
             "|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        if r.get("error"):
            error = " ".join(str(r["error"]).split())[:240].replace("|", "/")
            lines.append(f"| {r['id']} | {r['what']} | error | | {r['target']} | | {error} |")
            continue
        lo, hi = r["spread"]
        met = {True: "yes", False: "**no**", None: "report"}[r["met"]]
        if r["noisy"]:
            met += " (noisy)"
        figures = "; ".join(f"{k} {v}" for k, v in r["figures"].items() if not isinstance(v, (list, dict)))
        lines.append(f"| {r['id']} | {r['what']} | {r['median']:.3f} | {lo:.3f} – {hi:.3f} | {r['target']} | {met} "
                     f"| {figures} |")
    if any(r.get("noisy") for r in doc["results"]):
        lines += ["", "(noisy): the per-round ratios spread by more than 25 % of the median; every round is in "
                      "docs/benchmarks.json."]
    mem = doc.get("memory") or {}
    soak = mem.get("worker_soak")
    if isinstance(soak, dict):
        lines += ["", f"Worker soak: {soak['rate_per_s']:.0f} events/s offered for {soak['seconds']:.0f} s, "
                      f"{soak['consumed_per_s']} events/s consumed; RSS {soak['rss_mb_first']} MB first sample, "
                      f"{soak['rss_mb_max']} MB max, {soak['rss_mb_last']} MB last; growth over the second half "
                      f"{soak['rss_growth_mb_per_min_second_half']} MB/min; slowest /stats answer "
                      f"{soak.get('stats_answer_s_max', 'n/a')} s."]
    dl = mem.get("open_deadlines")
    if isinstance(dl, dict):
        lines += ["", f"Engine with {dl['open_deadlines']:,} open deadlines: RSS {dl['rss_mb_before']} → "
                      f"{dl['rss_mb_with_state']} MB ({dl['bytes_per_deadline']} bytes each), "
                      f"{dl['changelog_records_for_them']:,} changelog records; after they fired "
                      f"({dl['alerts_fired']:,} alerts) and the sweep: {dl['rss_mb_after_sweep']} MB, "
                      f"{dl['rule_states_after_sweep']} rule states, {dl['dedup_ids_after_sweep']} dedup ids left."]
    return "\n".join(lines)


def update_markdown(doc: dict[str, Any], path: Path) -> None:
    block = f"{BEGIN}\n{table(doc)}\n{END}"
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    path.write_text(text, encoding="utf-8")
