"""Settings: file + environment override + validation; secrets never printed."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pingan.cli.config import to_toml
from pingan.config import REPO_ROOT, SECRET_MASK, display_settings, load_settings, mask_url, set_setting
from pingan.errors import ConfigError

CONFIG = """
pseudonym_key = "file-secret-key-123"
log_format = "json"

[kafka]
bootstrap = "10.0.0.5:9093,10.0.0.6:9093"
security_protocol = "SASL_SSL"
sasl_username = "pingan-worker"
sasl_password = "file-kafka-pass"

[clickhouse]
url = "https://ch.example.cn:8443"
username = "pingan"
password = "file-ch-pass"

[worker]
web_port = 7070
"""


@pytest.fixture()
def env(monkeypatch, tmp_path):
    """A clean environment: no PINGAN_* variables, working directory without a pingan.toml."""
    import os

    for name in list(os.environ):
        if name.startswith("PINGAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def write_config(env, tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "pingan-test.toml"
    path.write_text(text, encoding="utf-8")
    env.setenv("PINGAN_CONFIG", str(path))
    return path


def test_defaults_without_file(env):
    s = load_settings()
    assert s.kafka.bootstrap == "127.0.0.1:9092"
    assert s.kafka.security_protocol == "PLAINTEXT"
    assert s.clickhouse.url.startswith("chdb://")
    assert s.worker.web_port == 6066


def test_file_then_environment_override(env, tmp_path):
    write_config(env, tmp_path)
    s = load_settings()
    assert s.kafka.bootstrap == "10.0.0.5:9093,10.0.0.6:9093"
    assert s.kafka.sasl_mechanism == "SCRAM-SHA-512"  # the default for SASL protocols
    assert s.kafka.sasl_password.get_secret_value() == "file-kafka-pass"
    assert s.worker.web_port == 7070 and s.log_format == "json"
    env.setenv("PINGAN_WORKER__WEB_PORT", "7171")
    env.setenv("PINGAN_KAFKA__SASL_PASSWORD", "env-kafka-pass")
    env.setenv("PINGAN_LOG_LEVEL", "debug")
    s = load_settings()
    assert s.worker.web_port == 7171
    assert s.kafka.sasl_password.get_secret_value() == "env-kafka-pass"
    assert s.kafka.sasl_username == "pingan-worker"  # the rest of the section still comes from the file
    assert s.log_level == "DEBUG"
    assert s.clickhouse.password.get_secret_value() == "file-ch-pass"


@pytest.mark.parametrize(("name", "value", "where"), [
    ("PINGAN_WORKER__WEB_PORT", "70000", "worker.web_port"),
    ("PINGAN_KAFKA__BOOTSTRAP", "localhost", "kafka.bootstrap"),
    ("PINGAN_KAFKA__SECURITY_PROTOCOL", "TLS", "kafka.security_protocol"),
    ("PINGAN_CLICKHOUSE__URL", "ftp://ch.example.cn", "clickhouse.url"),
    ("PINGAN_CLICKHOUSE__URL", "https://:8443", "clickhouse.url"),
    ("PINGAN_LOG_FORMAT", "xml", "log_format"),
    ("PINGAN_PSEUDONYM_KEY", "short", "pseudonym_key"),
])
def test_invalid_values_are_one_line_config_errors(env, name, value, where):
    env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"invalid setting {where}:")
    assert "\n" not in message


def test_sasl_without_password_and_missing_ca_are_refused(env, tmp_path):
    env.setenv("PINGAN_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    env.setenv("PINGAN_KAFKA__SASL_USERNAME", "u")
    with pytest.raises(ConfigError, match="needs sasl_username and sasl_password"):
        load_settings()
    env.setenv("PINGAN_KAFKA__SASL_PASSWORD", "p")
    env.setenv("PINGAN_KAFKA__SSL_CAFILE", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(ConfigError, match="ssl_cafile .* is not a file"):
        load_settings()


def test_unknown_key_in_file_is_refused(env, tmp_path):
    write_config(env, tmp_path, "[kafka]\nbootstrapp = '127.0.0.1:9092'\n")
    with pytest.raises(ConfigError, match=r"kafka.bootstrapp: unknown setting"):
        load_settings()


def test_missing_or_malformed_file(env, tmp_path):
    env.setenv("PINGAN_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()
    write_config(env, tmp_path, "[kafka\nbootstrap = 1\n")
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_settings()


def test_assignment_is_validated(env):
    s = load_settings()
    set_setting(s, "clickhouse.url", "https://ch.example.cn:8443")
    assert s.clickhouse.secure
    with pytest.raises(ConfigError, match=r"^invalid setting clickhouse.url:"):
        set_setting(s, "clickhouse.url", "nope://x")
    assert s.clickhouse.url == "https://ch.example.cn:8443"


def test_display_masks_every_secret(env, tmp_path):
    write_config(env, tmp_path)
    env.setenv("PINGAN_CLICKHOUSE__URL", "https://pingan:url-secret@ch.example.cn:8443")
    shown = display_settings(load_settings())
    text = json.dumps(shown, ensure_ascii=False) + to_toml(shown)
    for secret in ("file-secret-key-123", "file-kafka-pass", "file-ch-pass", "url-secret"):
        assert secret not in text
    assert shown["kafka"]["sasl_password"] == SECRET_MASK
    assert shown["grafana"]["password"] == SECRET_MASK and shown["pseudonym_key"] == SECRET_MASK
    assert shown["clickhouse"]["url"] == f"https://pingan:{SECRET_MASK}@ch.example.cn:8443"
    assert shown["kafka"]["sasl_username"] == "pingan-worker"  # not a secret
    assert tomllib.loads(to_toml(shown))["worker"]["web_port"] == 7070


def test_mask_url_leaves_plain_urls():
    assert mask_url("http://127.0.0.1:8123") == "http://127.0.0.1:8123"
    assert mask_url("https://u:p@h:1/db") == f"https://u:{SECRET_MASK}@h:1/db"


def test_example_file_is_valid_and_complete(env):
    env.setenv("PINGAN_CONFIG", str(REPO_ROOT / "pingan.example.toml"))
    s = load_settings()
    assert s.worker.web_port == 6066
    example = tomllib.loads((REPO_ROOT / "pingan.example.toml").read_text(encoding="utf-8"))
    # every section of the settings is documented in the example
    for section, fields in display_settings(s).items():
        if isinstance(fields, dict):
            assert section in example, section


def test_config_show_command_never_prints_secrets(env, tmp_path):
    path = write_config(env, tmp_path)
    for fmt in ("toml", "json"):
        proc = subprocess.run([sys.executable, "-m", "pingan.cli.main", "config", "show", "--format", fmt],
                              capture_output=True, text=True, timeout=60, env={"PINGAN_CONFIG": str(path),
                                                                                "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        assert "file-kafka-pass" not in proc.stdout and "file-ch-pass" not in proc.stdout
        assert "file-secret-key-123" not in proc.stdout
        data = json.loads(proc.stdout) if fmt == "json" else tomllib.loads(proc.stdout)
        assert data["kafka"]["bootstrap"] == "10.0.0.5:9093,10.0.0.6:9093"
        assert data["clickhouse"]["password"] == SECRET_MASK


def test_clickhouse_https_settings_flow_to_the_sink(env, tmp_path):
    """User, password, certificate checks and timeout reach the HTTP sink (no server needed)."""
    from pingan.sinks import open_sink

    ca = tmp_path / "ch-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    env.setenv("PINGAN_CLICKHOUSE__URL", "https://ch.example.cn:8443/pingan_prod")
    env.setenv("PINGAN_CLICKHOUSE__USERNAME", "pingan")
    env.setenv("PINGAN_CLICKHOUSE__PASSWORD", "ch-secret")
    env.setenv("PINGAN_CLICKHOUSE__CA_FILE", str(ca))
    env.setenv("PINGAN_CLICKHOUSE__CONNECT_TIMEOUT_S", "3.5")
    sink = open_sink(load_settings().clickhouse)
    assert (sink.host, sink.port, sink.secure, sink.database) == ("ch.example.cn", 8443, True, "pingan_prod")
    assert (sink.username, sink._password) == ("pingan", "ch-secret")
    assert sink._tls_options() == {"verify": True, "ca_cert": str(ca)}
    assert sink.connect_timeout_s == 3.5
    assert "ch-secret" not in sink.describe()
    env.setenv("PINGAN_CLICKHOUSE__VERIFY", "false")
    assert open_sink(load_settings().clickhouse)._tls_options()["verify"] is False
    env.setenv("PINGAN_CLICKHOUSE__CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="clickhouse: ca_file .* is not a file"):
        load_settings()
