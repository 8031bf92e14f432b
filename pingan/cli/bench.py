"""``pingan bench [--only B1,B3] [--rounds 5] [--quick]``: the benchmark suite (docs/benchmarks.md)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run the benchmarks against their baselines and print the ratios",
        description=(
            "Each benchmark runs interleaved with its physical baseline (raw aiokafka, orjson, a generated "
            "if-chain, one bulk INSERT) for several rounds in this process; prints the median ratio and its "
            "min-max, writes var/bench/results.json and the table in docs/benchmarks.md. Kafka benchmarks "
            "start a dedicated broker on free ports. B1..B6 and MEM (memory)."
        ),
    )
    p.add_argument("--only", help="comma-separated subset, e.g. B1,B3 (default: all)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per benchmark (default 5)")
    p.add_argument("--quick", action="store_true", help="small inputs and a 30 s soak (a smoke run)")
    p.add_argument("--out", default="var/bench", help="directory for results.json (default var/bench)")
    p.add_argument("--markdown", default="docs/benchmarks.md", help="markdown file whose results table is updated, "
                   "with the JSON figures beside it (docs/benchmarks.json); '' to leave both alone")
    p.add_argument("--profile", type=int, metavar="N", help="instead of the suite: profile the worker (pyinstrument) "
                   "consuming N preloaded messages; the report goes to <out>/profile.txt")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pingan.bench.suite import ALL, run_suite, write_results
    from pingan.bench.report import update_markdown
    from pingan.errors import ConfigError

    only = None
    if args.only:
        only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
        unknown = only - set(ALL)
        if unknown:
            raise ConfigError(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {', '.join(ALL)}")
    if args.rounds < 1:
        raise ConfigError("--rounds must be >= 1")
    if args.profile:
        from pingan.bench.broker import BenchBroker
        from pingan.bench.profile import profile_worker

        Path(args.out).mkdir(parents=True, exist_ok=True)
        with BenchBroker() as broker:
            info = profile_worker(broker, args.profile, Path(args.out).resolve() / "profile.txt")
        print(f"worker profile: {info['messages']} messages at {info['rate_per_s']}/s under the profiler; "
              f"report {info['report']}")
        return 0
    doc = run_suite(only, rounds=args.rounds, quick=args.quick, out_dir=Path(args.out))
    path = write_results(doc, Path(args.out))
    print(f"results: {path}")
    if args.markdown:
        markdown = Path(args.markdown)
        update_markdown(doc, markdown)
        kept = markdown.with_suffix(".json")  # the figures behind the table, kept in the repo with it
        kept.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        print(f"table: {markdown} (figures: {kept})")
    failed = [r for r in doc["results"] if r.get("error")]
    return 1 if failed else 0
