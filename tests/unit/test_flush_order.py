"""The flush order that keeps alerts from being lost on a crash (streams.runtime.Runtime.flush).

Alerts are published only after the sink has written their rows (nothing published is missing
from ClickHouse), and the engine's state reaches the changelog only after the sink has written the
rows that state covers: a worker killed in between then replays its unacknowledged messages from
the older state and derives the same rows again. Here the sink, producer and consumer are small recording fakes
(the order of calls is what is tested; the real broker runs in tests/integration).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from pingan.config import Settings
from pingan.streams.runtime import Runtime


class Recorder:
    def __init__(self, fail_sink: bool = False):
        self.calls: list[str] = []
        self.fail_sink = fail_sink
        self.sink_gate = asyncio.Event()

    # sink
    async def flush(self) -> int:
        self.calls.append("sink.cut")
        await self.sink_gate.wait()
        if self.fail_sink:
            raise OSError("ClickHouse unreachable")
        self.calls.append("sink.written")
        return 0

    # producer
    async def send(self, topic, key, value, partition, timestamp, headers):
        self.calls.append(f"send:{topic}")
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def producer_flush(self) -> None:
        self.calls.append("producer.flush")

    def ack(self, message) -> None:
        self.calls.append(f"ack:{message}")


def make_runtime(rec: Recorder) -> tuple[Runtime, dict]:
    state = {"dirty": {"w:RULE:key": {"n": 3}}, "pending": 2}

    def dirty_state():
        out, state["dirty"] = state["dirty"], {}
        rec.calls.append("state.snapshot")
        return out

    processor = SimpleNamespace(
        engine=SimpleNamespace(dirty_state=dirty_state),
        pending_count=lambda: state["pending"],
        mark_flushed=lambda n: rec.calls.append(f"mark_flushed:{n}"),
        ackable=lambda: ["m1", "m2"],
    )
    app = SimpleNamespace(producer=SimpleNamespace(send=rec.send, flush=rec.producer_flush),
                          consumer=SimpleNamespace(ack=rec.ack))
    table = SimpleNamespace(partitions=3, changelog_topic=SimpleNamespace(get_topic_name=lambda: "state-changelog"))
    return Runtime(app, processor, SimpleNamespace(flush=rec.flush), table, Settings()), state


def test_state_goes_to_the_changelog_after_the_sink_wrote_and_acks_come_last():
    async def run():
        rec = Recorder()
        runtime, _ = make_runtime(rec)
        runtime._outbox = [{"alert_id": "a1", "key": "k", "ts": 1.0, "topics": ["alerts"], "status": "enabled"}]
        task = asyncio.ensure_future(runtime.flush())
        await asyncio.sleep(0.01)
        # the sink is still writing: no changelog record may be out yet
        assert rec.calls == ["state.snapshot", "sink.cut"]
        rec.sink_gate.set()
        await task
        return rec.calls

    calls = asyncio.run(run())
    # the alert is published only once its row is stored, the state after both
    assert calls == ["state.snapshot", "sink.cut", "sink.written", "send:alerts", "send:state-changelog",
                     "producer.flush", "mark_flushed:2", "ack:m1", "ack:m2"]


def test_a_failed_sink_write_sends_no_state_and_acknowledges_nothing():
    async def run():
        rec = Recorder(fail_sink=True)
        runtime, _ = make_runtime(rec)
        runtime._outbox = [{"alert_id": "a1", "key": "k", "ts": 1.0, "topics": ["alerts"], "status": "enabled"}]
        rec.sink_gate.set()
        with pytest.raises(OSError):
            await runtime.flush()
        return rec.calls

    calls = asyncio.run(run())
    assert calls == ["state.snapshot", "sink.cut"]
