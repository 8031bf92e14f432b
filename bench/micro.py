"""In-process benchmarks: B2 (decode + validate) and B3 (rule evaluation)."""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from pingan.bench.core import Result, interleave
from pingan.bench.data import decoded, traffic

FIELDS = ("event_id", "ts", "county_code", "township_code")


def b2_decode(rounds: int, quick: bool) -> Result:
    from pingan.errors import InvalidEvent
    from pingan.schemas.decode import Decoder
    from pingan.schemas.privacy import Pseudonymizer
    from pingan.streams.fastdecode import FastDecoder

    decoder = FastDecoder(Pseudonymizer("bench-key"))  # what the worker uses
    pydantic_only = Decoder(Pseudonymizer("bench-key"))
    valid = []
    for topic, _k, value in traffic(5_000 if quick else 20_000):
        try:
            decoder.decode(topic, value)
            valid.append((topic, value))
        except InvalidEvent:
            pass

    def subject(_r: int) -> float:
        decode = decoder.decode
        started = time.perf_counter()
        for topic, value in valid:
            decode(topic, value)
        return len(valid) / (time.perf_counter() - started)

    def baseline(_r: int) -> float:
        loads = orjson.loads
        started = time.perf_counter()
        for _topic, value in valid:
            d = loads(value)
            d["event_id"], d["ts"], d["county_code"], d.get("township_code")
        return len(valid) / (time.perf_counter() - started)

    decoder.slow = decoder.second = 0
    subs, bases, ratios = interleave(rounds, subject, baseline)
    fallbacks, second = decoder.slow, decoder.second  # valid events past the msgspec tier while measured
    started = time.perf_counter()
    for topic, value in valid:
        pydantic_only.decode(topic, value)
    pydantic_us = (time.perf_counter() - started) / len(valid) * 1e6
    return Result("B2", "decode+validate (fast path, pydantic fallback) ÷ orjson+field access", ">= 0.4", ratios,
                  target_value=0.4, figures={
                      "events": len(valid), "decoder_us_per_event": round(1e6 / max(subs), 2),
                      "pydantic_only_us_per_event": round(pydantic_us, 2), "orjson_tier_measured": second,
                      "pydantic_fallbacks_measured": fallbacks,
                      "orjson_us_per_event": round(1e6 / max(bases), 2)})


def _engine_rate(ruleset: Any, events: list[dict]) -> float:
    """Events per second through ``Engine.run``. Nothing more happens at the end of the input
    (time stops where the input stops, as at the end of a backtest), on this side or the chain's."""
    from pingan.streams.engine import Engine

    engine = Engine(ruleset)
    gc.collect()  # the previous round's garbage is not collected inside this window
    started = time.perf_counter()
    engine.run(events, [])  # the batch call the worker's timeline makes
    elapsed = time.perf_counter() - started
    engine.dirty_state()
    return len(events) / elapsed


def _chain_rate(ruleset: Any, events: list[dict]) -> float:
    """Events per second through the generated if-chain (the same alerts: b3_rules checks it first)."""
    from pingan.bench.rulegen import build_chain

    chain = build_chain(ruleset)  # generated and compiled outside the measured window, like the engine's rules
    out: list = []
    gc.collect()  # the previous round's garbage is not collected inside this window
    started = time.perf_counter()
    chain.run(events, out)
    return len(events) / (time.perf_counter() - started)


def b3_rules(rounds: int, quick: bool) -> list[Result]:
    """Both sides run under the worker's garbage-collector setting (``worker.gc_gen0``)."""
    import gc

    from pingan.config import Settings
    from pingan.streams.worker import tune_gc

    threshold = gc.get_threshold()
    tune_gc(Settings().worker.gc_gen0)
    try:
        return _b3_rules(rounds, quick)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _b3_rules(rounds: int, quick: bool) -> list[Result]:
    from pingan.streams.engine import load_ruleset
    from pingan.bench.rulegen import check_chain, generate_rules

    events = decoded(5_000 if quick else 30_000)
    reference = load_ruleset(Path("rules").resolve() if Path("rules").is_dir() else _repo_rules(), pseudonym_key="bench-key")
    results = []
    alerts = check_chain(reference, events, "the reference rules")  # a baseline must compute the same result
    subs, bases, ratios = interleave(rounds, lambda r: _engine_rate(reference, events), lambda r: _chain_rate(reference, events))
    results.append(Result("B3", f"reference rules ({len(reference.active)}) ÷ if-chain", ">= 0.67", ratios,
                          target_value=0.67, figures={"events": len(events), "alerts": alerts,
                                                      "engine_us_per_event": round(1e6 / max(subs), 2),
                                                      "chain_us_per_event": round(1e6 / max(bases), 2)}))
    n_rules = 100 if quick else 500
    with tempfile.TemporaryDirectory(prefix="pingan-bench-rules-") as tmp:
        generated = load_ruleset(generate_rules(Path(tmp), n_rules), pseudonym_key="bench-key")
    alerts = check_chain(generated, events, f"{n_rules} generated rules")
    subs, bases, ratios = interleave(rounds, lambda r: _engine_rate(generated, events), lambda r: _chain_rate(generated, events))
    us = [1e6 / s for s in subs]
    results.append(Result("B3b", f"{n_rules} generated rules ÷ if-chain", ">= 0.67; <= 10 µs/event", ratios,
                          target_value=0.67, figures={"events": len(events), "rules": n_rules, "alerts": alerts,
                                                      "engine_us_per_event_median": round(sorted(us)[len(us) // 2], 2),
                                                      "engine_us_per_event_best": round(min(us), 2),
                                                      "chain_us_per_event": round(1e6 / max(bases), 2)}))
    return results


def _repo_rules() -> Path:
    return Path(__file__).resolve().parents[1] / "rules"
