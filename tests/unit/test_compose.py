"""infra/compose: the production compose file refers to files that exist and to valid settings.

No Docker engine runs on these machines, so the file is checked statically: every bind mount and
build context exists, every PINGAN_* variable of the worker is a real setting, and the Prometheus
target is the worker's port.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pingan.config import Settings

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "infra" / "compose"


def compose() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8"))


def test_services_and_mounts_exist():
    doc = compose()
    assert {"kafka", "clickhouse", "setup", "worker", "prometheus", "grafana"} <= set(doc["services"])
    for name, service in doc["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source} does not exist"
        build = service.get("build")
        if build:
            context = COMPOSE_DIR / build["context"]
            assert (context / build["dockerfile"]).is_file()


def test_worker_environment_is_valid_settings(monkeypatch):
    env = compose()["services"]["worker"]["environment"]
    for key, value in env.items():
        value = re.sub(r"\$\{[^}]+\}", "a-long-secret-value", str(value))
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.kafka.bootstrap == "kafka:9092"
    assert settings.clickhouse.url.startswith("http://clickhouse:8123")
    assert settings.worker.web_bind == "0.0.0.0"
    assert settings.pseudonym_key.get_secret_value() == "a-long-secret-value"


def test_prometheus_scrapes_the_worker_port():
    prom = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"worker:{Settings().worker.web_port}"]


def test_secrets_are_not_in_the_compose_file():
    text = (COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8")
    assert "change-me" not in text
    assert "pingan.env" in (COMPOSE_DIR.parents[1] / ".gitignore").read_text(encoding="utf-8")
