"""Settings: one file (``pingan.toml``) plus ``PINGAN_*`` environment overrides.

Nested sections use ``__`` in environment names, e.g. ``PINGAN_KAFKA__BOOTSTRAP=host:9092``.
The file is looked up in ``$PINGAN_CONFIG`` or ``./pingan.toml``; every field has a default so
the embedded demo needs no file at all. Precedence: explicit overrides > environment > file >
defaults. ``pingan.example.toml`` at the repository root documents every field.

Every section is validated (unknown keys are refused, so a typo does not pass silently); secrets
(passwords, the pseudonym key) are :class:`~pydantic.SecretStr` and never printed:
:func:`display_settings` is what ``pingan config show`` prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from pingan.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

SECRET_MASK = "********"
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
CLICKHOUSE_SCHEMES = ("chdb", "http", "https", "worker")


class Section(BaseModel):
    """A settings section: unknown keys are errors; values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Topics(Section):
    camera: str = Field("camera.alerts", min_length=1)
    grid: str = Field("grid.reports", min_length=1)
    fraud: str = Field("fraud.cases", min_length=1)
    service: str = Field("service.records", min_length=1)
    alerts: str = Field("alerts", min_length=1)
    deadletter: str = Field("deadletter", min_length=1)
    input_partitions: int = Field(6, ge=1, le=1000)
    output_partitions: int = Field(3, ge=1, le=1000, description="partitions of alerts and deadletter")

    def inputs(self) -> dict[str, str]:
        """Stream name -> topic name, for the four input streams."""
        return {"camera": self.camera, "grid": self.grid, "fraud": self.fraud, "service": self.service}


class KafkaSettings(Section):
    bootstrap: str = "127.0.0.1:9092"
    port: int = Field(9092, ge=1, le=65535, description="port of the local broker `pingan kafka up` starts")
    version: str = "4.1.2"  # the local broker `pingan kafka fetch` downloads; see docs/kafka.md
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None  # SCRAM-SHA-512 when a SASL protocol is chosen
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None  # the CA that signed the broker's certificate (system CAs if unset)
    ssl_certfile: str | None = None  # client certificate (mutual TLS), optional
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            raise ValueError("needs at least one host:port")
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return ",".join(servers)

    @model_validator(mode="after")
    def _security(self) -> KafkaSettings:
        protocol = self.security_protocol
        if protocol.startswith("SASL_"):
            if self.sasl_mechanism is None:
                object.__setattr__(self, "sasl_mechanism", "SCRAM-SHA-512")
            if not self.sasl_username or self.sasl_password is None:
                raise ValueError(f"security_protocol {protocol} needs sasl_username and sasl_password")
        if protocol in ("SSL", "SASL_SSL"):
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                path = getattr(self, name)
                if path and not Path(path).expanduser().is_file():
                    raise ValueError(f"{name} {path} is not a file")
            if self.ssl_keyfile and not self.ssl_certfile:
                raise ValueError("ssl_keyfile needs ssl_certfile")
        return self


class ClickHouseSettings(Section):
    # chdb://<dir> (embedded) | http(s)://host:port (a server) | worker://host:port (a worker's /query)
    url: str = "chdb://var/chdb"
    username: str | None = None
    password: SecretStr | None = None
    database: str = Field("pingan", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    verify: bool = True  # HTTPS: verify the server certificate and host name
    ca_file: str | None = None  # HTTPS: the CA that signed the server's certificate (system CAs if unset)
    connect_timeout_s: float = Field(10.0, gt=0)
    batch_rows: int = Field(10_000, ge=1)
    flush_interval_s: float = Field(1.0, gt=0)
    max_backlog_rows: int = Field(200_000, ge=1)
    personal_ttl_days: int = Field(180, ge=1)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in CLICKHOUSE_SCHEMES:
            raise ValueError(f"{mask_url(value)!r} must start with chdb://, http://, https:// or worker://")
        if parts.scheme in ("http", "https", "worker"):
            if not parts.hostname:
                raise ValueError(f"{mask_url(value)!r} has no host")
            try:
                parts.port  # noqa: B018 - raises ValueError for a bad port
            except ValueError:
                raise ValueError(f"{mask_url(value)!r} has an invalid port") from None
        elif not (parts.netloc or parts.path):
            raise ValueError(f"{value!r} names no directory (chdb://var/chdb or chdb:///abs/path)")
        return value.strip()

    @model_validator(mode="after")
    def _files(self) -> ClickHouseSettings:
        if self.ca_file and not Path(self.ca_file).expanduser().is_file():
            raise ValueError(f"ca_file {self.ca_file} is not a file")
        return self

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")


class WorkerSettings(Section):
    app_id: str = Field("pingan", min_length=1)
    web_port: int = Field(6066, ge=1, le=65535)
    web_bind: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape /metrics
    data_dir: str = "var/faust"
    rules_dir: str = "rules"
    grace_s: float = Field(5.0, ge=0)
    idle_partition_s: float = Field(10.0, gt=0)
    # event ids kept per input topic to drop re-delivered events (about 140 bytes each with the id itself; the oldest
    # go first; see docs/architecture.md "De-duplication")
    dedup_max_ids: int = Field(1_000_000, ge=1)
    # Python's young-generation GC threshold in the worker (allocations between collections). The
    # engine keeps much long-lived state; the default 700 makes the collector run every few
    # hundred events. Start-up objects are frozen out of collection (gc.freeze). 0 keeps Python's.
    gc_gen0: int = Field(50_000, ge=0)


class GrafanaSettings(Section):
    url: str = "http://127.0.0.1:3000"
    username: str = "admin"
    password: SecretStr = SecretStr("admin")
    token: SecretStr | None = None  # a service-account token, used instead of username/password
    folder: str = "平安楚雄"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{mask_url(value)!r} is not an http(s):// URL")
        return value.rstrip("/")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PINGAN_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    topics: Topics = Field(default_factory=Topics)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    pseudonym_key: SecretStr = SecretStr("pingan-demo-key-change-me")
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _case(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @field_validator("pseudonym_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def config_path() -> Path | None:
    """The configuration file in use: ``$PINGAN_CONFIG``, else ``./pingan.toml`` if present."""
    explicit = os.environ.get("PINGAN_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} (from PINGAN_CONFIG) does not exist")
        return path
    path = Path("pingan.toml")
    return path if path.is_file() else None


_config_path = config_path  # the name earlier code used

#: pydantic model title -> settings section, to name ``clickhouse.url`` when an assignment fails
_SECTION_OF_MODEL = {"KafkaSettings": "kafka", "ClickHouseSettings": "clickhouse", "WorkerSettings": "worker",
                     "Topics": "topics", "GrafanaSettings": "grafana"}


def validation_message(exc: ValidationError) -> str:
    """The first problem of a pydantic error on one line: ``invalid setting kafka.bootstrap: …``."""
    first = exc.errors(include_url=False)[0]
    section = _SECTION_OF_MODEL.get(exc.title)
    where = ".".join([section] * bool(section) + [str(p) for p in first["loc"]])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown setting (check the spelling)"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"invalid setting {where}: {msg}{suffix}" if where else f"invalid settings: {msg}{suffix}"


def load_settings(**overrides: Any) -> Settings:
    """Read the effective settings; a bad value becomes a one-line :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        source = config_path()
        where = f" (file {source} or PINGAN_* environment)" if source else ""
        raise ConfigError(validation_message(exc) + where) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed TOML file
        raise ConfigError(f"cannot read the configuration file {config_path()}: {_one_line(exc)}") from None


def set_setting(settings: Settings | BaseModel, dotted: str, value: Any) -> None:
    """Assign one setting (``clickhouse.url``) with validation; a bad value is a :class:`ConfigError`."""
    *sections, name = dotted.split(".")
    target: Any = settings
    for section in sections:
        target = getattr(target, section)
    try:
        setattr(target, name, value)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc)) from None


def resolve_path(path: str | Path) -> Path:
    """A relative path in the settings is relative to the current directory."""
    return Path(path).expanduser().resolve()


# -- display: what `pingan config show` prints -------------------------------------------------
def mask_url(url: str) -> str:
    """``https://user:secret@host`` -> ``https://user:********@host`` (credentials in URLs are secrets)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:{SECRET_MASK}@{netloc[1]}"))


def display_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, every secret masked (SecretStr values and URL passwords)."""

    def walk(model: BaseModel) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                out[name] = walk(value)
            elif isinstance(value, SecretStr):
                out[name] = SECRET_MASK
            elif isinstance(value, str) and name.endswith("url"):
                out[name] = mask_url(value)
            else:
                out[name] = value
        return out

    return walk(settings)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
