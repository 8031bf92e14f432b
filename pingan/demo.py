"""The embedded demo: Kafka up, worker running, a few hours of simulated traffic, a county summary.

It drives the same `pingan` subcommands a user would type, each in its own process, so the demo
also proves that they work together: the worker owns the embedded chDB while it runs, and the
report reads through the worker's web port.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pingan.errors import PinganError, UnavailableError

STEPS = 6


def _say(step: int, text: str) -> None:
    print(f"[{step}/{STEPS}] {text}", flush=True)


def _pingan(*args: str, check: bool = True, capture: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pingan.cli.main", *args]
    result = subprocess.run(cmd, text=True, capture_output=capture, env=env)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] if capture else []
        raise PinganError(f"`pingan {' '.join(args)}` failed (exit {result.returncode}) {' '.join(detail)}")
    return result


def query_worker(port: int, sql: str, timeout: float = 10.0) -> list[dict]:
    body = json.dumps({"sql": sql}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/query", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    if "error" in payload:
        raise PinganError(payload["error"])
    return payload["rows"]


def wait_for_worker(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UnavailableError(f"the worker exited with code {proc.returncode}; see var/demo/worker.log")
        try:
            query_worker(port, "SELECT 1 AS one", timeout=2.0)
            return
        except (OSError, urllib.error.URLError, PinganError, ValueError):
            time.sleep(0.5)
    raise UnavailableError(f"the worker did not answer on port {port} within {timeout:.0f} s")


STORED_SQL = (
    "SELECT (SELECT uniqExact(event_id) FROM events_camera) + (SELECT uniqExact(event_id) FROM events_grid)"
    " + (SELECT uniqExact(event_id) FROM events_fraud) + (SELECT uniqExact(event_id) FROM events_service) AS events,"
    " (SELECT count() FROM deadletters) AS invalid"
)


def wait_until_consumed(port: int, expected_valid: int, expected_invalid: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        try:
            last = query_worker(port, STORED_SQL)[0]
        except (OSError, urllib.error.URLError, PinganError):
            pass
        if last and int(last["events"]) >= expected_valid and int(last["invalid"]) >= expected_invalid:
            return last
        time.sleep(1.0)
    return last


def reset_state(settings, workdir: Path) -> None:
    """Start from a clean slate: the local broker's data, the embedded chDB, Faust's state.

    The rule engine's event time never goes back, so traffic simulated for "the last few days"
    on top of a previous run's state would be judged late. Only git-ignored directories under
    the repository's var/ (the embedded defaults) are removed.
    """
    from pingan.config import resolve_path

    _pingan("kafka", "down", check=False, capture=True)
    var = resolve_path("var")
    chdb_url = settings.clickhouse.url
    targets = [resolve_path("var/kafka"), resolve_path(settings.worker.data_dir), workdir.resolve()]
    if chdb_url.startswith("chdb://"):
        targets.append(resolve_path(chdb_url.removeprefix("chdb://")))
    for path in targets:
        if path.exists() and var in path.parents:
            shutil.rmtree(path)


def wait_for_quiet_alerts(port: int, quiet_s: float, timeout: float = 60.0) -> int:
    """The alert count once it has not changed for ``quiet_s`` (idle partitions release the tail)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        try:
            count = int(query_worker(port, "SELECT count() AS n FROM alerts FINAL")[0]["n"])
        except (OSError, urllib.error.URLError, PinganError):
            count = last
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.5)
    return last


def run_demo(events: int, duration: str, seed: int, workdir: Path, keep_state: bool = False) -> int:
    from pingan.config import load_settings

    settings = load_settings()
    port = settings.worker.web_port
    started = time.monotonic()
    if not keep_state:
        reset_state(settings, workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    _say(1, f"Kafka {settings.kafka.version} on {settings.kafka.bootstrap}"
            + ("" if keep_state else " (clean state: var/kafka, var/chdb and var/faust were reset)"))
    _pingan("kafka", "up")

    _say(2, "starting the worker (Faust) with the rules in rules/ and ClickHouse at " + settings.clickhouse.url)
    log = open(workdir / "worker.log", "w")  # noqa: SIM115 - lives as long as the worker
    worker = subprocess.Popen([sys.executable, "-m", "pingan.cli.main", "worker", "--loglevel", "warning"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_worker(port, worker)
        traffic = workdir / "traffic.jsonl"
        _say(3, f"simulating {events} events over {duration} of event time (seed {seed}) -> {traffic}")
        _pingan("simulate", "--events", str(events), "--duration", duration, "--seed", str(seed), "--out", str(traffic))
        lines = [json.loads(line) for line in traffic.read_text(encoding="utf-8").splitlines() if line.strip()]
        expected_invalid = sum(1 for line in lines if not isinstance(line.get("value"), dict))
        valid_ids = {(line["topic"], line["value"].get("event_id")) for line in lines if isinstance(line.get("value"), dict)}

        _say(4, f"producing {len(lines)} messages to Kafka")
        _pingan("produce", str(traffic))
        stored = wait_until_consumed(port, len(valid_ids), expected_invalid, timeout=300)
        print(f"    stored {stored.get('events')} distinct events (expected {len(valid_ids)}), "
              f"{stored.get('invalid')} dead letters (expected {expected_invalid})", flush=True)
        alerts = wait_for_quiet_alerts(port, settings.worker.idle_partition_s + 3)
        print(f"    {alerts} alerts once every partition went idle and the reorder buffer was released", flush=True)

        _say(5, "per-county summary from ClickHouse (through the running worker)")
        _pingan("report", "--format", "table")
        _pingan("alerts", "tail", "--from-beginning", "--max", "8", "--timeout", "5", check=False)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()

    _say(6, "dashboard preview (same SQL as the Grafana panels)")
    result = _pingan("dashboards", "preview", "--out", str(workdir / "preview" / "index.html"), check=False)
    if result.returncode == 0:
        print(f"    open {workdir / 'preview' / 'index.html'} in a browser")
    print(f"demo finished in {time.monotonic() - started:.0f} s", flush=True)
    return 0

