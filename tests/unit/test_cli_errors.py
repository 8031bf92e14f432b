"""What a user gets wrong gives one line on stderr and a non-zero exit, never a traceback.

Each case runs the real ``pingan`` command in a subprocess (the console entry point's module),
from an empty working directory and without PINGAN_* variables except the ones under test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


def closed_port() -> int:
    """A local port nothing listens on (bound and released; connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_pingan(args: list[str], cwd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "pingan.cli.main", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=60)


def assert_one_line_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pingan: error: ")
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# -- a missing broker -------------------------------------------------------------------------------
def test_alerts_tail_without_broker(tmp_path):
    port = closed_port()
    proc = run_pingan(["alerts", "tail", "--bootstrap", f"127.0.0.1:{port}", "--max", "1"], tmp_path)
    assert_one_line_error(proc, f"127.0.0.1:{port}", "connection refused", "pingan kafka up")


def test_worker_without_broker(tmp_path):
    port = closed_port()
    proc = run_pingan(["worker", "--bootstrap", f"127.0.0.1:{port}"], tmp_path)
    assert_one_line_error(proc, f"127.0.0.1:{port}", "pingan kafka up")


def test_alerts_tail_with_broker_from_environment(tmp_path):
    port = closed_port()
    proc = run_pingan(["alerts", "tail"], tmp_path, {"PINGAN_KAFKA__BOOTSTRAP": f"127.0.0.1:{port}"})
    assert_one_line_error(proc, f"127.0.0.1:{port}")


# -- a bad ClickHouse URL ----------------------------------------------------------------------------
def test_worker_with_bad_clickhouse_url(tmp_path):
    proc = run_pingan(["worker", "--clickhouse", "ftp://ch.example.cn"], tmp_path)
    assert_one_line_error(proc, "clickhouse.url", "ftp://ch.example.cn")


def test_bad_clickhouse_url_in_environment(tmp_path):
    proc = run_pingan(["config", "show"], tmp_path, {"PINGAN_CLICKHOUSE__URL": "https//ch.example.cn:8443"})
    assert_one_line_error(proc, "invalid setting clickhouse.url")


def test_unreachable_clickhouse_server(tmp_path):
    port = closed_port()
    proc = run_pingan(["db", "--clickhouse", f"https://pingan:s3cret-pw@127.0.0.1:{port}", "status"], tmp_path)
    line = assert_one_line_error(proc, f"127.0.0.1:{port}")
    assert "s3cret-pw" not in line + proc.stdout


# -- an unknown county ---------------------------------------------------------------------------------
@pytest.mark.parametrize("county", ["北京市", "999999"])
def test_alerts_tail_unknown_county(tmp_path, county):
    proc = run_pingan(["alerts", "tail", "--county", county], tmp_path)
    assert_one_line_error(proc, f"unknown county '{county}'")


def test_alerts_tail_unknown_severity(tmp_path):
    proc = run_pingan(["alerts", "tail", "--severity", "urgent"], tmp_path)
    assert_one_line_error(proc, "unknown severity 'urgent'")


# -- an invalid configuration value ---------------------------------------------------------------------
def test_invalid_port_in_environment(tmp_path):
    proc = run_pingan(["config", "show"], tmp_path, {"PINGAN_WORKER__WEB_PORT": "sixty"})
    assert_one_line_error(proc, "invalid setting worker.web_port")


def test_invalid_value_in_config_file(tmp_path):
    (tmp_path / "pingan.toml").write_text('[kafka]\nsecurity_protocol = "TLS"\n', encoding="utf-8")
    proc = run_pingan(["alerts", "tail"], tmp_path)
    assert_one_line_error(proc, "invalid setting kafka.security_protocol", "pingan.toml")


def test_unknown_key_in_config_file(tmp_path):
    (tmp_path / "pingan.toml").write_text('[worker]\nweb_prot = 7000\n', encoding="utf-8")
    proc = run_pingan(["config", "show"], tmp_path)
    assert_one_line_error(proc, "worker.web_prot", "unknown setting")


def test_missing_config_file(tmp_path):
    proc = run_pingan(["config", "show"], tmp_path, {"PINGAN_CONFIG": str(tmp_path / "missing.toml")})
    assert_one_line_error(proc, "missing.toml", "does not exist")


def test_sasl_without_password(tmp_path):
    proc = run_pingan(["config", "show"], tmp_path, {"PINGAN_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                                                     "PINGAN_KAFKA__SASL_USERNAME": "pingan"})
    assert_one_line_error(proc, "needs sasl_username and sasl_password")


def test_invalid_command_line_value(tmp_path):
    proc = run_pingan(["worker", "--web-port", "70000"], tmp_path)
    assert_one_line_error(proc, "invalid setting worker.web_port")
