"""Kafka connection security from settings.kafka, for Faust and aiokafka clients.

PLAINTEXT needs nothing; SSL uses TLS with the configured CA and hostname verification (on by
default, ``kafka.ssl_check_hostname``); SASL_SSL adds SCRAM (SCRAM-SHA-512 by default) over that
TLS connection; SASL_PLAINTEXT is SCRAM without TLS (a test network only). kafka-python clients
build their options in :mod:`pingan.kafka_client`; both read the same settings fields, so the
worker, the CLI and the tests connect the same way.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pingan.errors import ConfigError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def ssl_context(kafka: Any) -> ssl.SSLContext:
    """A client TLS context: the configured CA (or the system's), hostname checked by default."""
    try:
        if kafka.ssl_cafile:
            context = ssl.create_default_context(cafile=str(Path(kafka.ssl_cafile).expanduser()))
        else:
            context = ssl.create_default_context()
        context.check_hostname = bool(kafka.ssl_check_hostname)
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if kafka.ssl_certfile:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot build the Kafka TLS context from kafka.ssl_* settings: {exc}") from None
    return context


def _protocol(kafka: Any) -> str:
    protocol = (kafka.security_protocol or "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown kafka.security_protocol {kafka.security_protocol!r}: use one of {', '.join(PROTOCOLS)}")
    return protocol


def _sasl(kafka: Any, protocol: str) -> tuple[str, str, str]:
    if not kafka.sasl_username or kafka.sasl_password is None:
        raise ConfigError(f"kafka.security_protocol {protocol} needs kafka.sasl_username and kafka.sasl_password")
    mechanism = (kafka.sasl_mechanism or "SCRAM-SHA-512").upper()
    return mechanism, kafka.sasl_username, kafka.sasl_password.get_secret_value()


def faust_credentials(kafka: Any) -> Any:
    """``broker_credentials`` for :class:`faust.App` (``None`` for PLAINTEXT)."""
    import faust

    protocol = _protocol(kafka)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(kafka))
    mechanism, username, password = _sasl(kafka, protocol)
    return faust.SASLCredentials(
        username=username,
        password=password,
        ssl_context=ssl_context(kafka) if protocol == "SASL_SSL" else None,
        mechanism=mechanism,
    )


def aiokafka_options(kafka: Any) -> dict[str, Any]:
    """Security keyword options for aiokafka's ``AIOKafkaProducer`` / ``AIOKafkaConsumer``."""
    protocol = _protocol(kafka)
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(kafka)
    if protocol.startswith("SASL_"):
        mechanism, username, password = _sasl(kafka, protocol)
        options.update(sasl_mechanism=mechanism, sasl_plain_username=username, sasl_plain_password=password)
    return options
