"""Kafka over SASL_SSL (SCRAM-SHA-512) with TLS hostname verification, against a real broker.

The module starts its OWN broker (not the shared ``kafka_broker``), on free ports, with a
SASL_SSL listener next to the local PLAINTEXT one the controller uses to see that the broker is up.
The test generates a CA and a broker certificate for ``localhost`` / ``127.0.0.1`` with
``cryptography``; the SCRAM user is created when the storage is formatted (``--add-scram``).

Shown on the SASL_SSL listener: the right password works (kafka-python and aiokafka, the library
Faust uses, with the settings-built options), a wrong password is refused, a plaintext client is
refused, TLS without SASL is refused, a client that does not trust the CA is refused, and a host
name the certificate does not list is refused.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

x509 = pytest.importorskip("cryptography.x509", reason="the test extra (cryptography) is not installed")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from pingan.config import KafkaSettings, Settings, load_settings  # noqa: E402
from pingan.errors import UnavailableError  # noqa: E402
from pingan.kafka_security import aiokafka_options, faust_credentials, probe_broker, ssl_context  # noqa: E402

USER, PASSWORD = "pingan-worker", "right-Passw0rd-for-test"
BROKER_USER, BROKER_PASSWORD = "broker", "broker-secret-for-test"


# -- certificates --------------------------------------------------------------------------------
def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA, a broker key+chain for localhost/127.0.0.1 (PEM), and an unrelated second CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca = _ca("Pingan test CA")
    _, other_ca = _ca("Some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem", "other_ca": folder / "other-ca.pem", "keystore": folder / "broker.pem"}
    paths["ca"].write_bytes(_pem(ca))
    paths["other_ca"].write_bytes(_pem(other_ca))
    # Kafka's PEM key store: an unencrypted PKCS#8 key (Java 17 cannot read PBES2-encrypted ones)
    # followed by the certificate chain. Readable by its owner only.
    paths["keystore"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + _pem(cert) + _pem(ca)
    )
    paths["keystore"].chmod(0o600)
    return paths


# -- the secured broker ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SecureBroker:
    host_port: str  # the SASL_SSL listener, by the name in the certificate
    ip_port: str  # the same listener by IP address (also in the certificate)
    sasl_port: int
    certs: dict[str, Path]

    def kafka(self, **overrides: object) -> KafkaSettings:
        values: dict[str, object] = {
            "bootstrap": self.host_port, "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": USER, "sasl_password": PASSWORD, "ssl_cafile": str(self.certs["ca"]),
        }
        values.update(overrides)
        return KafkaSettings(**values)

    def settings(self, **overrides: object) -> Settings:
        return Settings(kafka=self.kafka(**overrides))


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory):
    from pingan.localkafka import BrokerConfig, LocalKafka, free_port

    folder = tmp_path_factory.mktemp("kafka-sec")
    certs = make_certificates(folder)
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    port, controller_port, sasl_port = sorted(ports)
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{BROKER_USER}" password="{BROKER_PASSWORD}";')
    extra = (
        ("listeners", f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port},"
                      f"CONTROLLER://127.0.0.1:{controller_port}"),
        ("advertised.listeners", f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://localhost:{sasl_port}"),
        ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"),
        ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
        ("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config", jaas),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", str(certs["keystore"])),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", str(certs["ca"])),
        ("ssl.endpoint.identification.algorithm", "https"),
        ("ssl.enabled.protocols", "TLSv1.3,TLSv1.2"),
    )
    scram = ("--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]",
             "--add-scram", f"SCRAM-SHA-512=[name={BROKER_USER},password={BROKER_PASSWORD}]")
    cfg = BrokerConfig(version=load_settings().kafka.version, port=port, controller_port=controller_port,
                       data_dir=folder / "data", heap="384m", extra_properties=extra, format_args=scram)
    controller = LocalKafka(cfg)
    try:
        controller.up(None, timeout_s=180, attach=True)
        yield SecureBroker(f"localhost:{sasl_port}", f"127.0.0.1:{sasl_port}", sasl_port, certs)
    finally:
        controller.down(timeout_s=20)


def _topic() -> str:
    return f"sec-{uuid.uuid4().hex[:10]}"


# -- the right credentials work --------------------------------------------------------------------
def test_right_password_kafka_python_produce_and_consume(secure_broker):
    from kafka.admin import NewTopic

    from pingan.kafka_client import make_admin, make_consumer, make_producer

    settings = secure_broker.settings()
    topic = _topic()
    admin = make_admin(settings)
    try:
        admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        admin.close()
    producer = make_producer(settings)
    for i in range(10):
        producer.send(topic, key=f"k{i}".encode(), value=f"安全消息 {i}".encode())
    producer.flush(timeout=30)
    producer.close()
    consumer = make_consumer(settings, topic, consumer_timeout_ms=15_000)
    try:
        got = sorted(record.value.decode() for _, record in zip(range(10), consumer, strict=False))
    finally:
        consumer.close()
    assert got == sorted(f"安全消息 {i}" for i in range(10))


def test_right_password_aiokafka_by_ip_address(secure_broker):
    """aiokafka (Faust's client) with the options built from settings; the IP is in the certificate."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    kafka = secure_broker.kafka(bootstrap=secure_broker.ip_port)
    topic = _topic()

    async def roundtrip() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, **aiokafka_options(kafka))
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(topic, f"aio {i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
                                    **aiokafka_options(kafka))
        await consumer.start()
        try:
            return [(await asyncio.wait_for(consumer.getone(), 20)).value for _ in range(5)]
        finally:
            await consumer.stop()

    assert sorted(asyncio.run(roundtrip())) == [f"aio {i}".encode() for i in range(5)]
    assert probe_broker(kafka) == secure_broker.ip_port


def test_faust_credentials_are_scram_over_verified_tls(secure_broker):
    credentials = faust_credentials(secure_broker.kafka())
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == USER
    assert credentials.ssl_context.check_hostname and credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED


# -- everything else is refused --------------------------------------------------------------------
def _aiokafka_start_fails(kafka: KafkaSettings) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    async def start() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, request_timeout_ms=10_000,
                                    **aiokafka_options(kafka))
        try:
            with pytest.raises(KafkaError):
                await asyncio.wait_for(producer.start(), 30)
        finally:
            await producer.stop()

    asyncio.run(start())


def test_wrong_password_is_refused(secure_broker):
    wrong = secure_broker.kafka(sasl_password="not-the-password")
    with pytest.raises(UnavailableError, match=f"refused the credentials of user '{USER}'"):
        probe_broker(wrong)
    _aiokafka_start_fails(wrong)
    from pingan.kafka_client import make_producer

    with pytest.raises(UnavailableError):  # kafka-python cannot bootstrap either
        producer = make_producer(Settings(kafka=wrong), max_block_ms=5_000)
        try:
            producer.send(_topic(), b"must not arrive").get(timeout=10)
        finally:
            producer.close()


def test_unknown_user_is_refused(secure_broker):
    with pytest.raises(UnavailableError, match="refused the credentials of user 'intruder'"):
        probe_broker(secure_broker.kafka(sasl_username="intruder"))


def test_plaintext_client_is_refused(secure_broker):
    plain = KafkaSettings(bootstrap=secure_broker.host_port, security_protocol="PLAINTEXT")
    with pytest.raises(UnavailableError, match="closed the connection during the PLAINTEXT handshake"):
        probe_broker(plain)
    _aiokafka_start_fails(plain)


def test_tls_without_sasl_is_refused(secure_broker):
    tls_only = KafkaSettings(bootstrap=secure_broker.host_port, security_protocol="SSL",
                             ssl_cafile=str(secure_broker.certs["ca"]))
    with pytest.raises(UnavailableError, match="closed the connection"):
        probe_broker(tls_only)


def test_client_that_does_not_trust_the_ca_is_refused(secure_broker):
    other = secure_broker.kafka(ssl_cafile=str(secure_broker.certs["other_ca"]))
    with pytest.raises(UnavailableError, match="is not trusted"):
        probe_broker(other)
    _aiokafka_start_fails(other)
    system_cas = secure_broker.kafka(ssl_cafile=None)
    with pytest.raises(UnavailableError, match="is not trusted"):
        probe_broker(system_cas)


def test_host_name_is_verified(secure_broker):
    """The broker's certificate is valid for localhost and 127.0.0.1 only; another name is refused."""
    context = ssl_context(secure_broker.kafka())

    def handshake(name: str, ctx: ssl.SSLContext) -> None:
        with socket.create_connection(("127.0.0.1", secure_broker.sasl_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=name):
                pass

    handshake("localhost", context)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake("kafka.pingan.example", context)
    # the refusal is the host-name check: without it the same handshake passes
    unchecked = ssl_context(secure_broker.kafka(ssl_check_hostname=False))
    handshake("kafka.pingan.example", unchecked)


# -- the worker itself over SASL_SSL ---------------------------------------------------------------
def test_worker_runs_over_sasl_ssl(secure_broker, tmp_path):
    """A real `pingan worker` (Faust) configured for SASL_SSL consumes, and /health shows it."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from kafka.admin import NewTopic

    from pingan.config import REPO_ROOT, Topics
    from pingan.kafka_client import make_admin, make_producer
    from pingan.localkafka import free_port

    suffix = uuid.uuid4().hex[:8]
    topics = Topics(**{name: f"{getattr(Topics(), name)}.{suffix}"
                       for name in ("camera", "grid", "fraud", "service", "alerts", "deadletter")})
    settings = secure_broker.settings()
    admin = make_admin(settings)
    try:
        admin.create_topics([NewTopic(t, 2, 1) for t in (*topics.inputs().values(), topics.alerts, topics.deadletter)])
    finally:
        admin.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    env.update({
        "PINGAN_KAFKA__BOOTSTRAP": secure_broker.host_port,
        "PINGAN_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "PINGAN_KAFKA__SASL_USERNAME": USER,
        "PINGAN_KAFKA__SASL_PASSWORD": PASSWORD,
        "PINGAN_KAFKA__SSL_CAFILE": str(secure_broker.certs["ca"]),
        "PINGAN_CLICKHOUSE__URL": f"chdb://{tmp_path / 'chdb'}",
        "PINGAN_WORKER__APP_ID": f"sec-{suffix}",
        "PINGAN_WORKER__WEB_PORT": str(port),
        "PINGAN_WORKER__DATA_DIR": str(tmp_path / "faust"),
        "PINGAN_WORKER__RULES_DIR": str(REPO_ROOT / "rules"),
        "PINGAN_TOPICS__INPUT_PARTITIONS": "2",
        "PINGAN_TOPICS__OUTPUT_PARTITIONS": "2",
        **{f"PINGAN_TOPICS__{name.upper()}": getattr(topics, name)
           for name in ("camera", "grid", "fraud", "service", "alerts", "deadletter")},
    })
    log_path = tmp_path / "worker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pingan.cli.main", "worker"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=str(REPO_ROOT))

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=15) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        deadline = time.monotonic() + 120
        health: dict = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                status, body = get("/health")
                health = json.loads(body)
                if status == 200 and health.get("started"):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        assert health.get("ok") and health["kafka"]["security_protocol"] == "SASL_SSL", health
        producer = make_producer(settings)
        for i in range(20):
            event = {"event_id": f"s{i}", "ts": f"2026-11-29T10:{i:02d}:00+08:00", "case_id": f"FC-532301-s-{i:04d}",
                     "status": "reported", "fraud_type": "telecom", "county_code": "532301",
                     "township_code": "532301101", "loss_yuan": 200000.0, "channel": "phone"}
            producer.send(topics.fraud, key=event["event_id"].encode(), value=json.dumps(event).encode())
        producer.flush(timeout=30)
        producer.close()
        consumed = 0.0
        while time.monotonic() < deadline and consumed < 20:
            _, text = get("/metrics")
            consumed = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith("pingan_messages_in_total{"))
            time.sleep(0.5)
        assert consumed == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_worker_with_wrong_password_stops_with_one_line(secure_broker, tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    env.update({"PINGAN_KAFKA__BOOTSTRAP": secure_broker.host_port, "PINGAN_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                "PINGAN_KAFKA__SASL_USERNAME": USER, "PINGAN_KAFKA__SASL_PASSWORD": "wrong-password",
                "PINGAN_KAFKA__SSL_CAFILE": str(secure_broker.certs["ca"]),
                "PINGAN_CLICKHOUSE__URL": f"chdb://{tmp_path / 'chdb'}"})
    proc = subprocess.run([sys.executable, "-m", "pingan.cli.main", "worker"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("pingan: error: ") and f"refused the credentials of user '{USER}'" in lines[0]
    assert "wrong-password" not in proc.stderr + proc.stdout
