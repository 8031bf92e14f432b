"""Pure parts of the local broker controller: rendering, command lines, pid handling, fetch markers."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pingan.config import Topics, load_settings
from pingan.errors import PinganError
from pingan.localkafka import (
    BrokerConfig,
    BrokerError,
    LocalKafka,
    PortInUseError,
    config_from_settings,
    free_port,
    is_broker_cmdline,
    jvm_command,
    new_cluster_id,
    port_in_use,
    process_cmdline,
    read_pid,
    render_server_properties,
)
from pingan.localkafka_fetch import (
    BROKER_JAR,
    KafkaFetchError,
    completion_marker,
    fetch,
    is_fetched,
    pom_digest,
)
from pingan.localkafka_topics import topic_plan


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.fixture
def cfg(tmp_path: Path) -> BrokerConfig:
    return BrokerConfig(version="4.1.2", port=29092, controller_port=29093, data_dir=tmp_path / "kafka",
                        cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------------------- configuration


def test_server_properties_bind_loopback_only(cfg: BrokerConfig) -> None:
    props = _props(render_server_properties(cfg))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(cfg.data_dir / "kraft")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert "$" not in render_server_properties(cfg)
    assert all("0.0.0.0" not in v for v in props.values())


def test_rendering_refuses_an_unknown_placeholder(cfg: BrokerConfig) -> None:
    with pytest.raises(KeyError):
        render_server_properties(cfg, "listeners=PLAINTEXT://127.0.0.1:${port}\nx=${nope}\n")


def test_controller_port_defaults_to_port_plus_one(tmp_path: Path) -> None:
    c = BrokerConfig(version="4.1.2", port=19092, data_dir=tmp_path)
    assert c.controller_port == 19093
    assert c.bootstrap == "127.0.0.1:19092"
    assert c.data_dir.is_absolute()


@pytest.mark.parametrize("kwargs", [{"port": 0}, {"port": 70000}, {"port": 9092, "controller_port": 9092}])
def test_bad_ports_are_errors(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(BrokerError):
        BrokerConfig(version="4.1.2", data_dir=tmp_path, **kwargs)


def test_config_from_settings_flags_override(tmp_path: Path) -> None:
    settings = load_settings()
    c = config_from_settings(settings, port=19999, data_dir=tmp_path, version=None)
    assert c.port == 19999 and c.version == settings.kafka.version and c.data_dir == tmp_path.resolve()
    d = config_from_settings(settings)
    assert d.port == settings.kafka.port and d.data_dir.parts[-2:] == ("var", "kafka")


def test_jvm_command(cfg: BrokerConfig) -> None:
    small = replace(cfg, heap="384m")
    cmd = jvm_command(small, "kafka.Kafka", str(cfg.properties_file))
    assert cmd[0] == "java"
    assert "-Xmx384m" in cmd
    assert cmd[cmd.index("-cp") + 1] == f"{cfg.cache_dir / '4.1.2' / 'libs'}/*"
    assert cmd[-2:] == ["kafka.Kafka", str(cfg.properties_file)]
    assert f"-Dkafka.logs.dir={cfg.data_dir / 'logs'}" in cmd
    assert any(a.startswith("-Dlog4j2.configurationFile=") and Path(a.split("=", 1)[1]).is_file() for a in cmd)


def test_cluster_ids_are_kafka_uuids() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid) and not cid.startswith("-")


def test_topic_plan_uses_the_settings() -> None:
    plan = topic_plan(Topics())
    assert plan == {"camera.alerts": 6, "grid.reports": 6, "fraud.cases": 6, "service.records": 6,
                    "alerts": 3, "deadletter": 3}
    custom = topic_plan(Topics(camera="c", input_partitions=2, output_partitions=1))
    assert custom["c"] == 2 and custom["alerts"] == 1 and len(custom) == 6


# ---------------------------------------------------------------------------- pid handling


@pytest.mark.parametrize("content,expected", [("1234\n", 1234), ("", None), ("abc", None), ("-5", None), ("0", None)])
def test_read_pid(tmp_path: Path, content: str, expected: int | None) -> None:
    path = tmp_path / "kafka.pid"
    path.write_text(content)
    assert read_pid(path) == expected


def test_read_pid_missing_file(tmp_path: Path) -> None:
    assert read_pid(tmp_path / "nope.pid") is None


def test_process_cmdline_of_self_and_of_nothing() -> None:
    argv = process_cmdline(os.getpid())
    assert argv is not None and Path(argv[0]).name.startswith("python")
    assert process_cmdline(4194303) is None  # above the kernel's pid_max


def test_is_broker_cmdline(cfg: BrokerConfig) -> None:
    ours = jvm_command(cfg, "kafka.Kafka", str(cfg.properties_file))
    assert is_broker_cmdline(ours, cfg.properties_file)
    other_dir = BrokerConfig(version="4.1.2", data_dir=cfg.data_dir.parent / "other")
    assert not is_broker_cmdline(ours, other_dir.properties_file)
    assert not is_broker_cmdline([sys.executable, "-m", "pytest"], cfg.properties_file)
    assert not is_broker_cmdline(None, cfg.properties_file)


def test_stale_pid_file_means_not_running(cfg: BrokerConfig) -> None:
    cfg.data_dir.mkdir(parents=True)
    kafka = LocalKafka(cfg)
    cfg.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a broker: never trusted, never killed
    cfg.state_file.write_text(json.dumps({"port": 1, "controller_port": 2, "version": "0"}))
    assert kafka.running_pid() is None
    status = kafka.status()
    assert not status.running and status.pid is None and status.port == 29092
    assert kafka.down() is False
    assert not cfg.pid_file.exists() and not cfg.state_file.exists()


def test_recorded_reads_the_state_file(cfg: BrokerConfig) -> None:
    cfg.data_dir.mkdir(parents=True)
    kafka = LocalKafka(cfg)
    assert kafka.recorded() == cfg
    cfg.state_file.write_text(json.dumps({"port": 19000, "controller_port": 19001, "version": "3.9.2"}))
    rec = kafka.recorded()
    assert (rec.port, rec.controller_port, rec.version) == (19000, 19001, "3.9.2")
    cfg.state_file.write_text("{broken")
    assert kafka.recorded() == cfg


def test_port_in_use_and_busy_port_error(cfg: BrokerConfig) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
        busy = LocalKafka(BrokerConfig(version="4.1.2", port=port, controller_port=free_port(),
                                       data_dir=cfg.data_dir, cache_dir=cfg.cache_dir))
        with pytest.raises(PortInUseError) as err:
            busy.up()
    assert isinstance(err.value, PinganError)
    assert str(err.value).count("\n") == 0 and f"port {port} on 127.0.0.1" in str(err.value)
    assert not port_in_use(port)


# ---------------------------------------------------------------------------- fetch markers


def _fake_fetched(cache: Path, version: str, marker: str) -> None:
    libs = cache / version / "libs"
    libs.mkdir(parents=True)
    (libs / BROKER_JAR.format(version=version)).write_bytes(b"jar")
    (cache / version / ".complete").write_text(marker)


def test_is_fetched_needs_jar_and_current_pom_marker(tmp_path: Path) -> None:
    assert not is_fetched("9.9.9", tmp_path)
    _fake_fetched(tmp_path, "9.9.9", completion_marker("9.9.9", pom_digest()))
    assert is_fetched("9.9.9", tmp_path)
    (tmp_path / "9.9.9" / ".complete").write_text(completion_marker("9.9.9", "0" * 64))  # pom changed since
    assert not is_fetched("9.9.9", tmp_path)


def test_fetch_is_quick_when_done_and_touches_the_make_marker(tmp_path: Path, monkeypatch) -> None:
    _fake_fetched(tmp_path, "9.9.9", completion_marker("9.9.9", pom_digest()))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # would fail if Maven were needed
    assert fetch("9.9.9", tmp_path) == tmp_path / "9.9.9" / "libs"
    assert (tmp_path / ".fetched").is_file()


def test_fetch_without_maven_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(KafkaFetchError, match="Maven"):
        fetch("9.9.9", tmp_path)
    assert not (tmp_path / "9.9.9" / "libs").exists()


# ---------------------------------------------------------------------------- class-data sharing


def test_first_start_dumps_classes_then_later_starts_share_them(cfg: BrokerConfig) -> None:
    from pingan.localkafka_cds import adopt, archive_path, dump_path, jvm_options

    (cfg.cache_dir / cfg.version).mkdir(parents=True)
    first = jvm_options(cfg)
    assert first == [f"-XX:ArchiveClassesAtExit={dump_path(cfg)}"]
    adopt(cfg)  # the broker wrote nothing (killed before exit): nothing adopted
    assert not archive_path(cfg).exists()
    dump_path(cfg).write_bytes(b"classes")  # what the JVM writes when it exits
    assert jvm_options(cfg) == [f"-XX:SharedArchiveFile={archive_path(cfg)}"]
    assert archive_path(cfg).read_bytes() == b"classes" and not dump_path(cfg).exists()
    other = BrokerConfig(version=cfg.version, port=39092, data_dir=cfg.data_dir.parent / "other",
                         cache_dir=cfg.cache_dir)
    assert dump_path(other) != dump_path(cfg)
    dump_path(other).write_bytes(b"newer")
    adopt(other)  # an archive exists already: the extra dump is dropped
    assert archive_path(cfg).read_bytes() == b"classes" and not dump_path(other).exists()
