"""Fixed-seed traffic for the benchmarks (the load generator runs before any measured window)."""

from __future__ import annotations

from functools import lru_cache

from pingan.traffic.simulate import SimulationConfig, simulate

START = 1_795_910_400  # 2026-11-29T00:00:00Z
SEED = 20261129


@lru_cache(maxsize=4)
def traffic(events: int, seed: int = SEED, duration_s: float = 6 * 3600.0) -> tuple[tuple[str, bytes | None, bytes], ...]:
    """``events`` simulated messages as (contract topic, key bytes, value bytes), with the
    simulator's share of invalid messages (1 %) and re-deliveries (0.5 %)."""
    config = SimulationConfig(events=events, start=START, duration_s=duration_s, seed=seed)
    return tuple((m.topic, m.key_bytes(), m.value_bytes()) for m in simulate(config))


def decoded(events: int, seed: int = SEED) -> list[dict]:
    """The valid events of :func:`traffic`, decoded, in event-time order (what rules see)."""
    from pingan.errors import InvalidEvent
    from pingan.schemas.decode import Decoder
    from pingan.schemas.privacy import Pseudonymizer

    decoder = Decoder(Pseudonymizer("bench-key"))
    out = []
    for topic, _key, value in traffic(events, seed):
        try:
            out.append(decoder.decode(topic, value))
        except InvalidEvent:
            continue
    out.sort(key=lambda e: e["ts"])
    return out
