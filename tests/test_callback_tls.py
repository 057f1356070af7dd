"""An https callback is pinned to the checked address yet still speaks to its host by name: SNI carries the
name, and the certificate must be valid for the name, not for the address connected to."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.callback_receiver import CallbackReceiver
from worker.orders.callbacks import REFUSED, CallbackFailed, CallbackSender
from worker.orders.destinations import CallbackDestinations

NAME = "hooks.shop.example"  # known only to the test's resolver, which answers 127.0.0.1


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A certificate for `name` and its key, as PEM files; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def https_receiver(tmp_path: Path, certificate_name: str, names_seen: list[str]) -> CallbackReceiver:
    cert_path, key_path = self_signed(tmp_path, certificate_name)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    server_tls.sni_callback = lambda _socket, name, _context: names_seen.append(name)
    return CallbackReceiver(tls=server_tls)


def sender_trusting(tmp_path: Path, certificate_name: str) -> CallbackSender:
    """A sender trusting the test's certificate, whose resolver pins NAME to 127.0.0.1 (allowed)."""
    client_tls = ssl.create_default_context(cafile=str(tmp_path / f"{certificate_name}.pem"))
    destinations = CallbackDestinations(allow_networks=[ipaddress.ip_network("127.0.0.1/32")],
                                        resolve=lambda host, port: ["127.0.0.1"])  # fmt: skip
    return CallbackSender(timeout_s=5, destinations=destinations, tls_context=client_tls)


@pytest.fixture
def names_seen() -> list[str]:
    return []


@pytest.fixture
def receiver(request: pytest.FixtureRequest, tmp_path: Path, names_seen: list[str]) -> Iterator[CallbackReceiver]:
    server = https_receiver(tmp_path, request.param, names_seen).start()
    yield server
    server.stop()


@pytest.mark.parametrize("receiver", [NAME], indirect=True)
def test_an_https_callback_to_the_checked_address_sends_the_name_as_sni_and_verifies_it(
    receiver: CallbackReceiver, names_seen: list[str], tmp_path: Path
) -> None:
    url = f"https://{NAME}:{receiver.port}/giftq-callback"
    sender_trusting(tmp_path, NAME).post(url, b"{}", secret="s" * 16, timestamp=1)
    assert names_seen == [NAME]
    assert [r.headers["Host"] for r in receiver.received] == [f"{NAME}:{receiver.port}"]


@pytest.mark.parametrize("receiver", ["other.shop.example"], indirect=True)
def test_an_https_callback_whose_certificate_is_for_another_name_is_refused(
    receiver: CallbackReceiver, tmp_path: Path
) -> None:
    url = f"https://{NAME}:{receiver.port}/giftq-callback"
    with pytest.raises(CallbackFailed) as failed:
        sender_trusting(tmp_path, "other.shop.example").post(url, b"{}", secret="s" * 16, timestamp=1)
    assert failed.value.kind == REFUSED
    assert receiver.received == []
