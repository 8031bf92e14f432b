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


# -- diagnosis: why a connection fails, in one line -------------------------------------------
async def probe_broker_async(kafka: Any, bootstrap: str | None = None, timeout_s: float = 5.0) -> str:
    """Connect (TLS handshake and SASL authentication included) to the first broker that answers.

    Returns the ``host:port`` that accepted the connection; raises :class:`UnavailableError` (no
    broker, refused credentials, untrusted certificate) or :class:`ConfigError` with the precise
    reason on one line. Kafka clients only say "unable to bootstrap"; this says why.
    """
    import asyncio

    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    from pingan.errors import UnavailableError

    servers = [s.strip() for s in (bootstrap or kafka.bootstrap).split(",") if s.strip()]
    options = aiokafka_options(kafka)
    problems: list[str] = []
    for server in servers:
        host, _, port = server.rpartition(":")
        conn = None
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options), timeout_s
            )
            # one request after the handshake: a SASL listener closes a connection that skipped SASL
            await asyncio.wait_for(conn.send(MetadataRequest([])), timeout_s)
        except Exception as exc:  # noqa: BLE001 - every failure is explained below
            problems.append(explain_connection_error(exc, server, kafka))
            continue
        finally:
            if conn is not None:
                conn.close()
        return server
    raise UnavailableError(problems[0] if len(problems) == 1 else "; ".join(problems))


def probe_broker(kafka: Any, bootstrap: str | None = None, timeout_s: float = 5.0) -> str:
    """Blocking :func:`probe_broker_async` (for the CLI; not from inside an event loop)."""
    import asyncio

    return asyncio.run(probe_broker_async(kafka, bootstrap, timeout_s))


def explain_connection_error(exc: BaseException, server: str, kafka: Any) -> str:
    """A one-line reason for a failed connection to ``server`` with the ``kafka`` settings."""
    import asyncio

    protocol = (kafka.security_protocol or "PLAINTEXT").upper()
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        reason = getattr(exc, "verify_message", None) or text
        if "hostname" in str(reason).lower() or "match" in str(reason).lower():
            return (f"the TLS certificate of the Kafka broker at {server} is not valid for that host name ({reason}); "
                    "connect with a name the certificate lists")
        return (f"the TLS certificate of the Kafka broker at {server} is not trusted ({reason}); "
                "set kafka.ssl_cafile to the CA that signed it")
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with the Kafka broker at {server} failed ({text}); is it a {protocol} listener?"
    if "SaslAuthenticationFailed" in name or "Authentication failed" in text or "SaslAuthentication" in text:
        return (f"the Kafka broker at {server} refused the credentials of user {kafka.sasl_username!r} "
                f"({kafka.sasl_mechanism or 'SCRAM-SHA-512'}); check kafka.sasl_username / kafka.sasl_password")
    if "UnsupportedSaslMechanism" in name or "mechanism" in text.lower() and "sasl" in text.lower():
        return f"the Kafka broker at {server} does not accept SASL mechanism {kafka.sasl_mechanism!r} ({text})"
    if isinstance(exc, ConnectionRefusedError) or "Connection refused" in text or "Errno 111" in text:
        return f"no Kafka broker reachable at {server} (connection refused); start one with `pingan kafka up`"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"the Kafka broker at {server} did not answer in time (kafka.security_protocol is {protocol})"
    if "closed" in text.lower() or isinstance(exc, (ConnectionResetError, EOFError)):
        return (f"the Kafka broker at {server} closed the connection during the {protocol} handshake; "
                "its listener probably expects another kafka.security_protocol (SSL or SASL_SSL?)")
    return f"cannot connect to the Kafka broker at {server}: {name}: {text}"
