"""kafka-python clients built from the settings, with connection failures as one-line errors.

Every command that talks to Kafka through kafka-python (``simulate``, ``produce``, tests, tools)
builds its clients here, so security options are mapped in one place:

- ``security_protocol`` PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL;
- ``sasl_mechanism`` (SCRAM-SHA-512 by default) with ``sasl_username``/``sasl_password``;
- ``ssl_cafile``/``ssl_certfile``/``ssl_keyfile``/``ssl_check_hostname`` as one TLS context
  (built by :mod:`pingan.kafka_security`, shared with the Faust worker).

``make_producer(settings)``, ``make_consumer(settings, *topics)`` and ``make_admin(settings)``
take ``bootstrap=`` to override ``kafka.bootstrap`` and any kafka-python option as keywords.

A broker that cannot be reached becomes :class:`~pingan.errors.UnavailableError` with a message
naming the bootstrap servers, never a kafka-python traceback. Use :func:`kafka_errors` around
later calls (``send``, ``flush``, ``poll``) to get the same translation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pingan.errors import ConfigError, UnavailableError

if TYPE_CHECKING:  # pragma: no cover
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    from pingan.config import KafkaSettings, Settings

#: How long a client waits for the first broker answer before giving up (ms).
DEFAULT_BOOTSTRAP_TIMEOUT_MS = 10_000


def client_options(kafka: KafkaSettings, bootstrap: str | None = None) -> dict[str, Any]:
    """kafka-python keyword options (connection and security) for ``kafka`` settings.

    Security comes from :func:`pingan.kafka_security.aiokafka_options` (kafka-python takes the same
    option names), so the worker, the CLI and the tests connect the same way.
    """
    from pingan.kafka_security import aiokafka_options

    servers = [s.strip() for s in (bootstrap or kafka.bootstrap).split(",") if s.strip()]
    if not servers:
        raise ConfigError("kafka.bootstrap is empty")
    return {"bootstrap_servers": servers, **aiokafka_options(kafka)}


def quiet_kafka_logs() -> None:
    """Silence kafka-python's own connection chatter; its failures surface as UnavailableError."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def _where(options: dict[str, Any]) -> str:
    return ",".join(options["bootstrap_servers"])


def unavailable(exc: BaseException, bootstrap: str) -> UnavailableError:
    """The one-line error for a kafka-python failure while talking to ``bootstrap``."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UnavailableError(
        f"Kafka broker at {bootstrap} is not reachable ({detail}); start one with `pingan kafka up` "
        "or set kafka.bootstrap / PINGAN_KAFKA__BOOTSTRAP"
    )


@contextlib.contextmanager
def kafka_errors(bootstrap: str) -> Iterator[None]:
    """Translate kafka-python errors raised inside the block into :class:`UnavailableError`."""
    from kafka.errors import KafkaError

    try:
        yield
    except KafkaError as exc:
        raise unavailable(exc, bootstrap) from None
    except OSError as exc:  # a socket error that escaped the client
        raise unavailable(exc, bootstrap) from None


def _build(cls: Any, settings: Settings, bootstrap: str | None, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    options = client_options(settings.kafka, bootstrap)
    defaults = getattr(cls, "DEFAULT_CONFIG", {})
    if "bootstrap_timeout_ms" in defaults:
        options["bootstrap_timeout_ms"] = DEFAULT_BOOTSTRAP_TIMEOUT_MS
    options.update(kw)
    with kafka_errors(_where(options)):
        return cls(*args, **options)


def make_producer(settings: Settings, *, bootstrap: str | None = None, **kw: Any) -> KafkaProducer:
    """A started :class:`kafka.KafkaProducer`; ``kw`` overrides any option (``linger_ms``, ``acks`` …).

    Defaults favour throughput with durability: ``acks="all"``, ``linger_ms=5``, 256 KiB batches,
    ``max_block_ms`` 15 s (a missing topic fails instead of hanging for a minute).
    """
    from kafka import KafkaProducer

    options: dict[str, Any] = {"acks": "all", "linger_ms": 5, "batch_size": 256 * 1024, "max_block_ms": 15_000}
    options.update(kw)
    return _build(KafkaProducer, settings, bootstrap, (), options)


def make_consumer(settings: Settings, *topics: str, bootstrap: str | None = None, **kw: Any) -> KafkaConsumer:
    """A :class:`kafka.KafkaConsumer` subscribed to ``topics`` (none: assign or subscribe later)."""
    from kafka import KafkaConsumer

    options: dict[str, Any] = {"enable_auto_commit": False, "auto_offset_reset": "earliest"}
    options.update(kw)
    return _build(KafkaConsumer, settings, bootstrap, topics, options)


def make_admin(settings: Settings, *, bootstrap: str | None = None, **kw: Any) -> KafkaAdminClient:
    """A :class:`kafka.KafkaAdminClient` connected to the broker."""
    from kafka import KafkaAdminClient

    return _build(KafkaAdminClient, settings, bootstrap, (), dict(kw))
