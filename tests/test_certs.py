"""``edigate.certs``: the development CA, signing and TLS files (docs/receipts.md, certs/README.md).

Real keys in tmp_path; certificates are checked with cryptography's x509 API, its RFC 5280 path
validation (``x509.verification``), the ``openssl`` command and a TLS handshake through ``ssl``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, Store

from edigate.certs import (
    DOCUMENT_SIGNING,
    CertError,
    CertPaths,
    add_cli,
    cert_paths,
    certificate_fingerprint,
    init_certs,
    issue_client_certificate,
    missing,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl command")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


E = TypeVar("E", bound=x509.ExtensionType)


def ext(cert: x509.Certificate, cls: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(cls)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return init_certs(tmp_path_factory.mktemp("pki") / "certs")


def test_init_creates_every_file_with_private_modes(pki: CertPaths) -> None:
    assert set(pki.created) == set(pki.files)
    assert [p.name for p in pki.files] == [
        "ca.pem", "ca.key", "gateway-signing.key", "gateway-signing.pem", "tls.key", "tls.pem",
    ]  # fmt: skip
    assert mode(pki.directory) == 0o700
    for p in (pki.ca_key, pki.signing_key, pki.tls_key):
        assert mode(p) == 0o600
        assert p.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    for p in (pki.ca_cert, pki.signing_cert, pki.tls_cert):
        assert mode(p) == 0o644
    # no temporary files left behind
    assert sorted(p.name for p in pki.directory.iterdir()) == sorted(p.name for p in pki.files)
    assert missing(pki) == []


def test_ca_certificate(pki: CertPaths) -> None:
    ca = load(pki.ca_cert)
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    bc = ext(ca, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext(ca, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = ext(ca, x509.SubjectKeyIdentifier).value
    assert ext(ca, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    years = (ca.not_valid_after_utc - ca.not_valid_before_utc).days / 365.25
    assert 9.9 < years < 10.1
    assert ca.not_valid_before_utc <= datetime.now(UTC)
    assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "edigate development"
    )


def _check_leaf(cert: x509.Certificate, ca: x509.Certificate) -> None:
    cert.verify_directly_issued_by(ca)
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ca_ski = ext(ca, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    assert ext(cert, x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(key)
    )
    assert cert.not_valid_after_utc <= ca.not_valid_after_utc


def test_signing_certificate(pki: CertPaths) -> None:
    ca, cert = load(pki.ca_cert), load(pki.signing_cert)
    _check_leaf(cert, ca)
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign and not ku.value.key_encipherment
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [DOCUMENT_SIGNING]
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25
    assert 1.9 < years < 2.1


def test_tls_certificate(pki: CertPaths) -> None:
    ca, cert = load(pki.ca_cert), load(pki.tls_cert)
    _check_leaf(cert, ca)
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ku = ext(cert, x509.KeyUsage).value
    assert ku.digital_signature and not ku.content_commitment
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"


def test_tls_certificate_passes_rfc5280_server_validation(pki: CertPaths) -> None:
    store = Store([load(pki.ca_cert)])
    cert = load(pki.tls_cert)
    for subject in (DNSName("localhost"), IPAddress(ipaddress.ip_address("127.0.0.1"))):
        chain = PolicyBuilder().store(store).build_server_verifier(subject).verify(cert, [])
        assert chain[-1] == load(pki.ca_cert)
    with pytest.raises(x509.verification.VerificationError):
        PolicyBuilder().store(store).build_server_verifier(DNSName("example.org")).verify(cert, [])


@needs_openssl
def test_openssl_verifies_the_leaves(pki: CertPaths) -> None:
    ca = str(pki.ca_cert)
    for purpose, cert in (("sslserver", pki.tls_cert), ("any", pki.signing_cert)):
        out = subprocess.run([OPENSSL, "verify", "-purpose", purpose, "-CAfile", ca, str(cert)],
                             capture_output=True, text=True)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().endswith(": OK")
    # the signing certificate is no TLS server certificate
    out = subprocess.run([OPENSSL, "verify", "-purpose", "sslserver", "-CAfile", ca,
                          str(pki.signing_cert)], capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0


def test_hostnames(tmp_path: Path) -> None:
    names = ["gw.example.org", "*.edi.example.org", "10.0.0.7", "::1", "LocalHost."]
    p = init_certs(tmp_path / "c", hostnames=names, organisation="ACME Customs Ltd")
    cert = load(p.tls_cert)
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "gw.example.org", "*.edi.example.org", "localhost",
    ]  # fmt: skip
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.7"), ipaddress.ip_address("::1"),
    ]  # fmt: skip
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gw.example.org"
    assert "O=ACME Customs Ltd" in load(p.ca_cert).subject.rfc4514_string()
    store = Store([load(p.ca_cert)])
    PolicyBuilder().store(store).build_server_verifier(DNSName("a.edi.example.org")).verify(
        cert, []
    )


@pytest.mark.parametrize("bad", [[], ["bad host"], ["ex_ample.org"], ["bücher.example"], ["-a"]])
def test_bad_hostnames_create_nothing(tmp_path: Path, bad: list[str]) -> None:
    with pytest.raises(CertError):
        init_certs(tmp_path / "c", hostnames=bad)
    assert not (tmp_path / "c").exists()


def test_existing_files_are_kept(tmp_path: Path) -> None:
    first = init_certs(tmp_path / "c")
    before = {p: p.read_bytes() for p in first.files}
    again = init_certs(tmp_path / "c", hostnames=["other.example"])
    assert again.created == ()
    assert again.files == first.files
    assert {p: p.read_bytes() for p in again.files} == before


def test_force_replaces_everything(tmp_path: Path) -> None:
    first = init_certs(tmp_path / "c")
    before = {p: p.read_bytes() for p in first.files}
    forced = init_certs(tmp_path / "c", force=True)
    assert set(forced.created) == set(first.files)
    assert all(p.read_bytes() != before[p] for p in forced.files)
    load(forced.tls_cert).verify_directly_issued_by(load(forced.ca_cert))


def test_key_without_certificate_gets_a_certificate_for_that_key(tmp_path: Path) -> None:
    p = init_certs(tmp_path / "c")
    key = p.tls_key.read_bytes()
    p.tls_cert.unlink()
    assert missing(p) == [p.tls_cert]
    again = init_certs(tmp_path / "c")
    assert again.created == (p.tls_cert,)
    assert p.tls_key.read_bytes() == key
    load(p.tls_cert).verify_directly_issued_by(load(p.ca_cert))


def test_certificate_without_key_is_refused(tmp_path: Path) -> None:
    p = init_certs(tmp_path / "c")
    p.signing_key.unlink()
    cert = p.signing_cert.read_bytes()
    with pytest.raises(CertError, match="without its key"):
        init_certs(tmp_path / "c")
    assert p.signing_cert.read_bytes() == cert
    assert set(init_certs(tmp_path / "c", force=True).created) == set(p.files)


def test_lost_ca_certificate_is_remade_from_its_key(tmp_path: Path) -> None:
    p = init_certs(tmp_path / "c")
    p.ca_cert.unlink()
    assert init_certs(tmp_path / "c").created == (p.ca_cert,)
    # same key and name: what the lost certificate issued still verifies
    for leaf in (p.signing_cert, p.tls_cert):
        load(leaf).verify_directly_issued_by(load(p.ca_cert))


def test_no_ca_but_leaves_is_refused(tmp_path: Path) -> None:
    p = init_certs(tmp_path / "c")
    p.ca_cert.unlink()
    p.ca_key.unlink()
    with pytest.raises(CertError, match="another CA"):
        init_certs(tmp_path / "c")
    assert missing(p) == [p.ca_cert, p.ca_key]


def test_ca_certificate_without_key(tmp_path: Path) -> None:
    p = init_certs(tmp_path / "c")
    p.ca_key.unlink()  # e.g. a CA kept offline: nothing to issue is fine
    assert init_certs(tmp_path / "c").created == ()
    p.tls_cert.unlink()
    with pytest.raises(CertError, match=r"cannot issue tls\.pem"):
        init_certs(tmp_path / "c")


def test_directory_and_key_modes_are_enforced(tmp_path: Path) -> None:
    d = tmp_path / "c"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    old = os.umask(0)  # a lax umask must not make keys readable
    try:
        p = init_certs(d)
    finally:
        os.umask(old)
    assert mode(d) == 0o700
    assert mode(p.ca_key) == mode(p.signing_key) == mode(p.tls_key) == 0o600
    assert mode(p.tls_cert) == 0o644


def test_cert_paths_and_missing(tmp_path: Path) -> None:
    p = cert_paths(tmp_path / "nothing")
    assert p.created == ()
    assert missing(p) == list(p.files)
    assert not p.directory.exists()


# -- client certificates ------------------------------------------------------------------------


def test_client_certificate(pki: CertPaths, tmp_path: Path) -> None:
    cert_path, key_path = issue_client_certificate(pki.directory, "ACME Shipping/1", tmp_path)
    assert cert_path == tmp_path / "client-ACME-Shipping-1.pem"
    assert key_path == tmp_path / "client-ACME-Shipping-1.key"
    assert mode(key_path) == 0o600
    cert, ca = load(cert_path), load(pki.ca_cert)
    _check_leaf(cert, ca)
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ACME Shipping/1"
    verified = PolicyBuilder().store(Store([ca])).build_client_verifier().verify(cert, [])
    urn = "urn:edigate:partner:ACME%20Shipping%2F1"
    assert verified.subjects == [x509.UniformResourceIdentifier(urn)]
    assert certificate_fingerprint(cert_path) == cert.fingerprint(hashes.SHA256()).hex()
    with pytest.raises(CertError, match="exists"):
        issue_client_certificate(pki.directory, "ACME Shipping/1", tmp_path)
    again, _ = issue_client_certificate(pki.directory, "ACME Shipping/1", tmp_path, force=True)
    assert load(again) != cert


def test_client_certificate_needs_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CertError, match="no CA"):
        issue_client_certificate(tmp_path, "p1", tmp_path)


def test_mutual_tls_handshake(pki: CertPaths, tmp_path: Path) -> None:
    """The files work with OpenSSL through ``ssl``: server certificate checked by name, client
    certificate required and checked by the server."""
    client_cert, client_key = issue_client_certificate(pki.directory, "partner-1", tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.tls_cert, pki.tls_key)
    server_ctx.load_verify_locations(pki.ca_cert)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(pki.ca_cert)
    client_ctx.load_cert_chain(client_cert, client_key)

    a, b = socket.socketpair()
    seen: dict[str, object] = {}

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                seen["peer"] = s.getpeercert()
                s.sendall(b"ok")
        except Exception as exc:  # reported by the main thread's assertion
            seen["error"] = exc

    t = threading.Thread(target=serve)
    t.start()
    with client_ctx.wrap_socket(b, server_hostname="localhost") as c:
        assert c.recv(2) == b"ok"
    t.join(10)
    assert "error" not in seen, seen.get("error")
    peer = seen["peer"]
    assert isinstance(peer, dict)
    assert (("commonName", "partner-1"),) in peer["subject"]


def test_other_ca_client_is_refused(pki: CertPaths, tmp_path: Path) -> None:
    other = init_certs(tmp_path / "other")
    cert = load(issue_client_certificate(other.directory, "p1", tmp_path)[0])
    with pytest.raises(x509.verification.VerificationError):
        PolicyBuilder().store(Store([load(pki.ca_cert)])).build_client_verifier().verify(cert, [])


def test_leaf_never_outlives_its_ca(tmp_path: Path) -> None:
    from edigate import certs

    age = 3652 - 30  # the CA has 30 days left
    d = tmp_path / "c"
    d.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    ca = certs._make_ca(key, "short", datetime.now(UTC) - timedelta(days=age))
    certs._write_key(d / "ca.key", key)
    certs._write_cert(d / "ca.pem", ca)
    p = init_certs(d)
    assert load(p.tls_cert).not_valid_after_utc == ca.not_valid_after_utc


# -- command line -------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="edigate")
    add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    status = args.func(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "certs"
    status, out, err = run(capsys, "certs", "init", "--dir", d, "--hostname", "gw.example",
                           "--hostname", "192.0.2.1")  # fmt: skip
    assert status == 0, err
    assert out.count("created ") == 6
    assert f"created {d / 'ca.key'}" in out
    san = ext(load(d / "tls.pem"), x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw.example"]
    status, out, _ = run(capsys, "certs", "init", "--dir", d)
    assert status == 0
    assert "created" not in out and out.count("kept") == 6 and "nothing to do" in out
    (d / "tls.key").unlink()
    status, out, err = run(capsys, "certs", "init", "--dir", d)
    assert status == 1 and "without its key" in err
    status, out, err = run(capsys, "certs", "init", "--dir", d, "--force")
    assert status == 0 and out.count("created ") == 6


def test_cli_init_io_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a directory")
    status, _, err = run(capsys, "certs", "init", "--dir", tmp_path / "file" / "certs")
    assert status == 2 and "certs init" in err


def test_cli_bad_hostname(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "certs", "init", "--dir", tmp_path, "--hostname", "a b")
    assert status == 1 and "not a host name" in err


def test_cli_client(pki: CertPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "certs", "client", "p1", "--dir", pki.directory,
                           "--out", tmp_path)  # fmt: skip
    assert status == 0, err
    assert f"created {tmp_path / 'client-p1.pem'}" in out
    assert certificate_fingerprint(tmp_path / "client-p1.pem") in out
    status, _, err = run(capsys, "certs", "client", "p1", "--dir", pki.directory,
                         "--out", tmp_path)  # fmt: skip
    assert status == 1 and "exists" in err


def test_cli_requires_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run(capsys, "certs")
    assert exc.value.code == 2
