"""Kafka connection security from settings.kafka, for Faust (aiokafka) clients.

PLAINTEXT needs nothing; SSL uses TLS with hostname verification; SASL_SSL adds SCRAM
(SCRAM-SHA-512 by default). kafka-python clients build their options in pingan.kafka_client.
"""

from __future__ import annotations

import ssl
from typing import Any

from pingan.errors import ConfigError


def ssl_context(kafka: Any) -> ssl.SSLContext:
    """A client TLS context: the configured CA (or the system's), hostname checked by default."""
    context = ssl.create_default_context(cafile=kafka.ssl_cafile) if kafka.ssl_cafile else ssl.create_default_context()
    context.check_hostname = bool(kafka.ssl_check_hostname)
    if kafka.ssl_certfile:
        context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
    return context


def faust_credentials(kafka: Any) -> Any:
    import faust

    protocol = kafka.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(kafka))
    if protocol in ("SASL_SSL", "SASL_PLAINTEXT"):
        if not kafka.sasl_username or kafka.sasl_password is None:
            raise ConfigError(f"kafka.security_protocol {protocol} needs kafka.sasl_username and kafka.sasl_password")
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            ssl_context=ssl_context(kafka) if protocol == "SASL_SSL" else None,
            mechanism=kafka.sasl_mechanism or "SCRAM-SHA-512",
        )
    raise ConfigError(f"unknown kafka.security_protocol {kafka.security_protocol!r}")
