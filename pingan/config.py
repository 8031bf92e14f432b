"""Settings: one file (``pingan.toml``) plus ``PINGAN_*`` environment overrides.

Nested sections use ``__`` in environment names, e.g. ``PINGAN_KAFKA__BOOTSTRAP=host:9092``.
The file is looked up in ``$PINGAN_CONFIG`` or ``./pingan.toml``; every field has a default so
the embedded demo needs no file at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from pingan.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


class Topics(BaseModel):
    camera: str = "camera.alerts"
    grid: str = "grid.reports"
    fraud: str = "fraud.cases"
    service: str = "service.records"
    alerts: str = "alerts"
    deadletter: str = "deadletter"
    input_partitions: int = 6

    def inputs(self) -> dict[str, str]:
        """Stream name -> topic name, for the four input streams."""
        return {"camera": self.camera, "grid": self.grid, "fraud": self.fraud, "service": self.service}


class KafkaSettings(BaseModel):
    bootstrap: str = "127.0.0.1:9092"
    port: int = 9092
    version: str = "3.9.2"
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str | None = None  # SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True


class ClickHouseSettings(BaseModel):
    url: str = "chdb://var/chdb"
    username: str | None = None
    password: SecretStr | None = None
    database: str = "pingan"
    batch_rows: int = 10_000
    flush_interval_s: float = 1.0
    max_backlog_rows: int = 200_000
    personal_ttl_days: int = 180


class WorkerSettings(BaseModel):
    app_id: str = "pingan"
    web_port: int = 6066
    data_dir: str = "var/faust"
    rules_dir: str = "rules"
    grace_s: float = 5.0
    idle_partition_s: float = 10.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PINGAN_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    topics: Topics = Field(default_factory=Topics)
    pseudonym_key: SecretStr = SecretStr("pingan-demo-key-change-me")
    log_format: str = "text"  # text | json
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def _config_path() -> Path | None:
    explicit = os.environ.get("PINGAN_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} (from PINGAN_CONFIG) does not exist")
        return path
    path = Path("pingan.toml")
    return path if path.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read the effective settings; a bad value becomes a one-line :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None


def resolve_path(path: str | Path) -> Path:
    """A relative path in the settings is relative to the current directory."""
    return Path(path).expanduser().resolve()
