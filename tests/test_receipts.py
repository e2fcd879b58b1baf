"""``edigate.receipts``: signed receipts (docs/receipts.md).

Real keys and certificates (``edigate.certs`` in tmp_path, plus hand-made ones for the odd
cases); the signature format is checked independently with the ``openssl`` command line.
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from edigate.certs import DOCUMENT_SIGNING, CertPaths, cert_paths, init_certs
from edigate.receipts import (
    OUTCOMES,
    Receipt,
    ReceiptDocument,
    ReceiptError,
    ReceiptSigner,
    add_cli,
    canonical_json,
    sha256_hex,
    verify_payload,
    verify_receipt,
)

OPENSSL = shutil.which("openssl")
JQ = shutil.which("jq")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl command")

PAYLOAD = b"UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER+240101:1200+42'UNZ+0+42'"
RECEIVED = datetime(2024, 5, 17, 9, 30, 12, 345678, tzinfo=UTC)

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def make_receipt(**changes: Any) -> Receipt:
    fields: dict[str, Any] = dict(
        submission_id="01HY3Q8J4ZK7W2N6V5T0R9M1XB",
        partner_id="acme-shipping",
        channel="https",
        received_at=RECEIVED,
        payload_sha256=sha256_hex(PAYLOAD),
        payload_size=len(PAYLOAD),
        outcome="partially_accepted",
        node_id="edigate-1",
        interchange_reference="42",
        documents=(
            ReceiptDocument(
                index=1,
                message_reference="M1",
                document_type="cargo_report",
                schema_version="1.0",
                sha256=sha256_hex(b"{1}"),
            ),
            ReceiptDocument(
                index=2,
                message_reference=None,
                document_type="customs_declaration",
                schema_version="1.0",
                sha256=sha256_hex(b"{2}"),
            ),
        ),
        acknowledgement_sha256=sha256_hex(b"UNH+1+CONTRL:D:3:UN'"),
    )
    fields.update(changes)
    return Receipt(**fields)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return init_certs(tmp_path_factory.mktemp("pki") / "certs")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    # same organisation, so the same CA name: only the signature check tells them apart
    return init_certs(tmp_path_factory.mktemp("other") / "certs")


@pytest.fixture(scope="module")
def signer(pki: CertPaths) -> ReceiptSigner:
    return ReceiptSigner(pki.signing_key, pki.signing_cert, pki.ca_cert)


@pytest.fixture(scope="module")
def signed(signer: ReceiptSigner) -> bytes:
    return signer.sign(make_receipt())


def ca_pem(p: CertPaths) -> bytes:
    return p.ca_cert.read_bytes()


def load_key(path: Path) -> Any:
    return serialization.load_pem_private_key(path.read_bytes(), None)


def issue(p: CertPaths, key: PrivateKey, tmp_path: Path, *, name: str = "test signer",
          usage: dict[str, bool] | None = None, eku: list[x509.ObjectIdentifier] | None = None,
          not_before: datetime | None = None, not_after: datetime | None = None,
          ) -> tuple[Path, Path]:  # fmt: skip
    """A certificate from the test CA for ``key``, written with its key to tmp_path."""
    ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    ku = {k: False for k in ("digital_signature", "content_commitment", "key_encipherment",
                             "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                             "encipher_only", "decipher_only")}  # fmt: skip
    ku.update(usage if usage is not None else {"digital_signature": True})
    now = datetime.now(UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(minutes=1))
        .not_valid_after(not_after or now + timedelta(days=30))
        .add_extension(x509.KeyUsage(**ku), critical=True)
    )
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    cert = b.sign(load_key(p.ca_key), hashes.SHA256())
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def forge(body: dict[str, Any], key: PrivateKey, cert_pem: bytes, alg: str = "ES256") -> bytes:
    """Sign ``body`` as it stands (bypassing ReceiptSigner's checks)."""
    data = canonical_json(body)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        sig = key.sign(data)
    else:
        sig = key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    return canonical_json(
        {
            "receipt": body,
            "signature": {
                "alg": alg,
                "value": base64.b64encode(sig).decode(),
                "certificate": cert_pem.decode(),
            },
        }
    )


def document(data: bytes) -> dict[str, Any]:
    doc = json.loads(data)
    assert isinstance(doc, dict)
    return doc


def dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# -- canonical JSON -----------------------------------------------------------------------------


def test_canonical_json_is_jcs() -> None:
    # RFC 8785 3.2.3: keys in UTF-16 code unit order (the emoji's surrogates sort before U+FB33)
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    out = canonical_json({k: i for i, k in enumerate(keys)}).decode()
    assert out == '{"\\r":1,"1":3,"\u0080":5,"\u00f6":6,"\u20ac":0,"\U0001f600":4,"\ufb33":2}'
    s = '\x00\b\t\n\f\r"\\/\x1f\x7f\u2028é€\U0001f600'
    assert canonical_json(s) == (
        '"\\u0000\\b\\t\\n\\f\\r\\"\\\\/\\u001f\x7f\u2028é€\U0001f600"'.encode()
    )
    value = {"b": [1, -2, True, False, None, {"z": [], "a": {}}], "a": "x", "c": 2**53 - 1}
    assert canonical_json(value) == (
        b'{"a":"x","b":[1,-2,true,false,null,{"a":{},"z":[]}],"c":9007199254740991}'
    )


@pytest.mark.parametrize("bad", [1.5, 2**53, -(2**53), {1: "x"}, b"bytes", {"a": {1.0}},
                                 "\ud800"])  # fmt: skip
def test_canonical_json_refuses(bad: object) -> None:
    with pytest.raises(ReceiptError):
        canonical_json(bad)


# -- the receipt --------------------------------------------------------------------------------


def test_receipt_dict_roundtrip() -> None:
    r = make_receipt(signed_at=RECEIVED + timedelta(milliseconds=3))
    d = r.to_dict()
    assert d["received_at"] == "2024-05-17T09:30:12.345678Z"
    assert d["signed_at"] == "2024-05-17T09:30:12.348678Z"
    assert d["documents"][1]["message_reference"] is None
    assert list(d) == list(Receipt.FIELDS)
    assert Receipt.from_dict(json.loads(json.dumps(d))) == r


def test_receipt_normalises_times_to_utc() -> None:
    cest = datetime(2024, 5, 17, 11, 30, 12, 345678).astimezone()
    local = RECEIVED.astimezone(cest.tzinfo)
    r = make_receipt(received_at=local, documents=[])
    assert r.received_at.tzinfo is UTC and r.received_at == RECEIVED
    assert r.documents == ()


@pytest.mark.parametrize("changes, message", [
    ({"received_at": datetime(2024, 1, 1)}, "received_at"),  # naive
    ({"outcome": "maybe"}, "outcome"),
    ({"outcome": "duplicate"}, "duplicate_of"),
    ({"duplicate_of": "01H..."}, "duplicate_of"),
    ({"payload_sha256": "ABC"}, "payload_sha256"),
    ({"payload_sha256": "A" * 64}, "payload_sha256"),  # lowercase only: one form per digest
    ({"payload_size": -1}, "payload_size"),
    ({"payload_size": True}, "payload_size"),
    ({"partner_id": ""}, "partner_id"),
    ({"node_id": None}, "node_id"),
    ({"acknowledgement_sha256": "x"}, "acknowledgement_sha256"),
    ({"documents": ["not a document"]}, "documents"),
    ({"version": 2}, "version"),
])  # fmt: skip
def test_receipt_validation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ReceiptError, match=message):
        make_receipt(**changes)


def test_duplicate_receipt() -> None:
    r = make_receipt(outcome="duplicate", duplicate_of="01HY3Q8J4ZK7W2N6V5T0R9M1XA", documents=[])
    assert r.to_dict()["duplicate_of"] == "01HY3Q8J4ZK7W2N6V5T0R9M1XA"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("channel"), "missing field.*channel"),
    (lambda d: d.update(extra=1), "unknown field.*extra"),
    (lambda d: d.update(received_at="2024-05-17T09:30:12Z"), "received_at"),
    (lambda d: d.update(received_at="2024-05-17T09:30:12.345678+00:00"), "received_at"),
    (lambda d: d.update(received_at="2024-02-30T09:30:12.345678Z"), "not a valid time"),
    (lambda d: d.update(documents={}), "documents"),
    (lambda d: d["documents"][0].pop("sha256"), "missing field.*sha256"),
    (lambda d: d["documents"][0].update(index="1"), "index"),
    (lambda d: d.update(version=2), "unsupported receipt version"),
])  # fmt: skip
def test_receipt_from_dict_is_strict(mutate: Callable[[dict[str, Any]], object],
                                     message: str) -> None:  # fmt: skip
    d = make_receipt(signed_at=RECEIVED).to_dict()
    mutate(d)
    with pytest.raises(ReceiptError, match=message):
        Receipt.from_dict(d)


# -- sign and verify ----------------------------------------------------------------------------


def test_roundtrip(signer: ReceiptSigner, pki: CertPaths) -> None:
    before = datetime.now(UTC)
    data = signer.sign(make_receipt())
    v = verify_receipt(data, ca_pem(pki))
    assert v.trusted and v.alg == "ES256"
    assert v.issuer == x509.load_pem_x509_certificate(ca_pem(pki))
    assert v.signer == "O=edigate development,CN=edigate receipt signing"
    assert v.receipt.signed_at is not None
    assert before <= v.receipt.signed_at <= datetime.now(UTC)
    assert v.receipt == replace(make_receipt(), signed_at=v.receipt.signed_at)
    untrusted = verify_receipt(data)
    assert not untrusted.trusted and untrusted.issuer is None
    assert untrusted.receipt == v.receipt


def test_document_layout(signed: bytes, signer: ReceiptSigner, pki: CertPaths) -> None:
    doc = document(signed)
    assert list(doc) == ["receipt", "signature"]
    assert sorted(doc["signature"]) == ["alg", "certificate", "value"]
    assert doc["signature"]["alg"] == "ES256"
    # the chain: signing certificate, then the CA
    certs = x509.load_pem_x509_certificates(doc["signature"]["certificate"].encode())
    assert certs == [signer.certificate, x509.load_pem_x509_certificate(ca_pem(pki))]
    # DER ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }
    assert base64.b64decode(doc["signature"]["value"])[0] == 0x30
    # the whole document is canonical JSON, one line
    assert signed == canonical_json(doc) + b"\n"


def test_explicit_signing_time_is_kept(signer: ReceiptSigner) -> None:
    at = datetime.now(UTC) - timedelta(seconds=1)
    v = verify_receipt(signer.sign(make_receipt(signed_at=at)))
    assert v.receipt.signed_at == at


def test_signing_outside_the_certificate_validity_is_refused(signer: ReceiptSigner) -> None:
    with pytest.raises(ReceiptError, match="not valid at"):
        signer.sign(make_receipt(signed_at=datetime(2099, 1, 1, tzinfo=UTC)))


text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)


@given(submission=text, partner=text, channel=text, ref=st.none() | text, node=text,
       doc_type=text, message_ref=st.none() | text, size=st.integers(0, 2**53 - 1),
       outcome=st.sampled_from([o for o in OUTCOMES if o != "duplicate"]))  # fmt: skip
def test_fast_serialisation_equals_canonical_json(
    signed: bytes, signer: ReceiptSigner, submission: str, partner: str, channel: str,
    ref: str | None, node: str, doc_type: str, message_ref: str | None, size: int, outcome: str,
) -> None:  # fmt: skip
    r = make_receipt(
        submission_id=submission, partner_id=partner, channel=channel, node_id=node,
        interchange_reference=ref, payload_size=size, outcome=outcome,
        documents=[ReceiptDocument(index=size, message_reference=message_ref,
                                   document_type=doc_type, schema_version=doc_type,
                                   sha256="0" * 64)],
    )  # fmt: skip
    data = signer.sign(r)
    assert data == canonical_json(document(data)) + b"\n"
    v = verify_receipt(data)
    assert v.receipt == replace(r, signed_at=v.receipt.signed_at)


def test_lone_surrogates_are_refused(signer: ReceiptSigner) -> None:
    with pytest.raises(ReceiptError, match="surrogate"):
        signer.sign(make_receipt(partner_id="a\udc80"))


# -- tampering ----------------------------------------------------------------------------------


def _altered(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            return ("1" if value[0] == "0" else "0") + value[1:]
        if value.endswith("Z"):
            return value[:-2] + ("1" if value[-2] == "0" else "0") + "Z"  # one microsecond
        return value + "x"
    raise AssertionError(value)


def _tamperings(body: dict[str, Any]) -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    out: list[tuple[str, Callable[[dict[str, Any]], None]]] = []
    for key, value in body.items():
        if key in ("documents", "duplicate_of", "version"):
            continue
        if key == "outcome":
            out.append((key, lambda b: b.update(outcome="accepted")))
        elif value is None:
            out.append((key, lambda b, k=key: b.update({k: "0" * 64})))
        else:
            out.append((key, lambda b, k=key: b.update({k: _altered(b[k])})))
    for i, d in enumerate(body["documents"]):
        for key, value in d.items():
            name = f"documents[{i}].{key}"
            if value is None:
                out.append((name, lambda b, i=i, k=key: b["documents"][i].update({k: "M2"})))
            else:
                out.append(
                    (
                        name,
                        lambda b, i=i, k=key: b["documents"][i].update(
                            {k: _altered(b["documents"][i][k])}
                        ),
                    )
                )
    out += [
        ("documents dropped", lambda b: b["documents"].pop()),
        ("documents reordered", lambda b: b["documents"].reverse()),
        ("document added", lambda b: b["documents"].append(copy.deepcopy(b["documents"][0]))),
        ("duplicate claimed", lambda b: b.update(outcome="duplicate", duplicate_of="01H")),
        ("payload to null", lambda b: b.update(acknowledgement_sha256=None)),
        ("interchange to null", lambda b: b.update(interchange_reference=None)),
    ]
    return out


def test_tampering_with_any_field_is_detected(signed: bytes, pki: CertPaths) -> None:
    body = document(signed)["receipt"]
    tamperings = _tamperings(body)
    assert len(tamperings) > 20
    for name, tamper in tamperings:
        doc = document(signed)
        tamper(doc["receipt"])
        assert doc["receipt"] != body, name
        Receipt.from_dict(doc["receipt"])  # still a well-formed receipt: only the signature fails
        for ca in (None, ca_pem(pki)):
            with pytest.raises(ReceiptError, match="signature does not match"):
                verify_receipt(dump(doc), ca)


def test_version_change_is_refused(signed: bytes) -> None:
    doc = document(signed)
    doc["receipt"]["version"] = 2
    with pytest.raises(ReceiptError, match="unsupported receipt version"):
        verify_receipt(dump(doc))


def test_tampered_signature_value(signed: bytes) -> None:
    doc = document(signed)
    raw = bytearray(base64.b64decode(doc["signature"]["value"]))
    raw[-1] ^= 1
    doc["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ReceiptError, match="signature does not match"):
        verify_receipt(dump(doc))


def test_alg_must_fit_the_key(signed: bytes) -> None:
    doc = document(signed)
    for alg in ("EdDSA", "PS256"):
        doc["signature"]["alg"] = alg
        with pytest.raises(ReceiptError, match="does not fit"):
            verify_receipt(dump(doc))
    doc["signature"]["alg"] = "none"
    with pytest.raises(ReceiptError, match="unsupported alg"):
        verify_receipt(dump(doc))


def test_swapped_certificate(signed: bytes, other_pki: CertPaths, pki: CertPaths) -> None:
    doc = document(signed)
    doc["signature"]["certificate"] = other_pki.signing_cert.read_text()
    with pytest.raises(ReceiptError, match="signature does not match"):
        verify_receipt(dump(doc))


def test_whitespace_and_key_order_do_not_matter(signed: bytes, pki: CertPaths) -> None:
    # the signature covers the canonical form, not the document's bytes
    doc = document(signed)
    pretty = json.dumps({"signature": doc["signature"], "receipt": doc["receipt"]}, indent=2)
    assert verify_receipt(pretty.encode(), ca_pem(pki)).trusted


# -- trust --------------------------------------------------------------------------------------


def test_another_ca_is_not_trusted(other_pki: CertPaths, pki: CertPaths) -> None:
    foreign = ReceiptSigner(other_pki.signing_key, other_pki.signing_cert).sign(make_receipt())
    assert not verify_receipt(foreign).trusted  # a valid signature, by someone
    assert verify_receipt(foreign, ca_pem(other_pki)).trusted
    with pytest.raises(ReceiptError, match="not issued by the trusted CA"):
        verify_receipt(foreign, ca_pem(pki))
    # the foreign document may carry our CA's certificate: trust still comes only from the
    # caller's CA
    doc = document(foreign)
    doc["signature"]["certificate"] += pki.ca_cert.read_text()
    with pytest.raises(ReceiptError, match="not issued by the trusted CA"):
        verify_receipt(dump(doc), ca_pem(pki))


def test_ca_bundle_and_pinning(signed: bytes, pki: CertPaths, other_pki: CertPaths) -> None:
    bundle = ca_pem(other_pki) + ca_pem(pki)
    assert verify_receipt(signed, bundle).trusted
    pinned = verify_receipt(signed, pki.signing_cert.read_bytes())
    assert pinned.trusted and pinned.issuer == pinned.certificate


def old_ca(directory: Path, days: int) -> CertPaths:
    """A CA made ``days`` ago (init_certs makes them now)."""
    directory.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old CA")])
    start = datetime.now(UTC) - timedelta(days=days)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    p = cert_paths(directory)
    p.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    p.ca_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return p


def test_signing_time_outside_certificate_validity(tmp_path: Path) -> None:
    ca = old_ca(tmp_path / "ca", days=30)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert_path, _ = issue(
        ca,
        key,
        tmp_path,
        eku=[DOCUMENT_SIGNING],
        not_before=now - timedelta(days=10),
        not_after=now - timedelta(days=1),
    )
    for at in (now, now - timedelta(days=11)):
        body = make_receipt(signed_at=at).to_dict()
        with pytest.raises(ReceiptError, match="signing certificate was not valid at the signing"):
            verify_receipt(forge(body, key, cert_path.read_bytes()), ca_pem(ca))
    # signed while the certificate was valid: still verifies after it expired
    body = make_receipt(signed_at=now - timedelta(days=2)).to_dict()
    assert verify_receipt(forge(body, key, cert_path.read_bytes()), ca_pem(ca)).trusted


def test_ca_must_be_valid_at_signing_time(tmp_path: Path) -> None:
    ca = old_ca(tmp_path / "ca", days=5)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    # a leaf (wrongly) valid before its CA was
    cert_path, _ = issue(ca, key, tmp_path, not_before=now - timedelta(days=10))
    body = make_receipt(signed_at=now - timedelta(days=7)).to_dict()
    with pytest.raises(ReceiptError, match="CA certificate was not valid at the signing time"):
        verify_receipt(forge(body, key, cert_path.read_bytes()), ca_pem(ca))


@pytest.mark.parametrize("usage, eku, message", [
    ({"content_commitment": True}, [DOCUMENT_SIGNING], "lacks digitalSignature"),
    ({"digital_signature": True}, [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
     "excludes document signing"),
])  # fmt: skip
def test_certificate_must_allow_signing_receipts(
    pki: CertPaths, tmp_path: Path, usage: dict[str, bool], eku: list[x509.ObjectIdentifier],
    message: str,
) -> None:  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert_path, key_path = issue(pki, key, tmp_path, usage=usage, eku=eku)
    with pytest.raises(ReceiptError, match=message):
        ReceiptSigner(key_path, cert_path)
    body = make_receipt(signed_at=datetime.now(UTC)).to_dict()
    with pytest.raises(ReceiptError, match=message):
        verify_receipt(forge(body, key, cert_path.read_bytes()), ca_pem(pki))


def test_tls_key_cannot_sign_receipts(pki: CertPaths) -> None:
    with pytest.raises(ReceiptError, match="excludes document signing"):
        ReceiptSigner(pki.tls_key, pki.tls_cert)


def test_key_must_match_certificate(pki: CertPaths) -> None:
    with pytest.raises(ReceiptError, match="is not the certificate of"):
        ReceiptSigner(pki.tls_key, pki.signing_cert)


def test_no_eku_means_any_use(pki: CertPaths, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert_path, key_path = issue(pki, key, tmp_path, eku=None)
    assert verify_receipt(ReceiptSigner(key_path, cert_path).sign(make_receipt()), ca_pem(pki))


# -- other algorithms ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg, make_key", [
    ("EdDSA", ed25519.Ed25519PrivateKey.generate),
    ("PS256", lambda: rsa.generate_private_key(65537, 2048)),
])  # fmt: skip
def test_other_algorithms(pki: CertPaths, tmp_path: Path, alg: str,
                          make_key: Callable[[], PrivateKey]) -> None:  # fmt: skip
    cert_path, key_path = issue(pki, make_key(), tmp_path, eku=[DOCUMENT_SIGNING])
    signer = ReceiptSigner(key_path, cert_path)
    assert signer.alg == alg
    data = signer.sign(make_receipt())
    v = verify_receipt(data, ca_pem(pki))
    assert v.trusted and v.alg == alg
    doc = document(data)
    doc["receipt"]["payload_size"] += 1
    with pytest.raises(ReceiptError, match="signature does not match"):
        verify_receipt(dump(doc))
    if OPENSSL:
        _openssl_verify(data, tmp_path)


def test_unsupported_keys(pki: CertPaths, tmp_path: Path) -> None:
    for name, key in (("p384", ec.generate_private_key(ec.SECP384R1())),
                      ("rsa1024", rsa.generate_private_key(65537, 1024))):  # fmt: skip
        cert_path, key_path = issue(pki, key, tmp_path, name=name)
        with pytest.raises(ReceiptError, match="unsupported key"):
            ReceiptSigner(key_path, cert_path)


# -- malformed documents ------------------------------------------------------------------------


def test_every_truncation_fails_cleanly(signed: bytes) -> None:
    assert signed.endswith(b"}\n")
    verify_receipt(signed[:-1])  # the newline is not part of the JSON
    for i in range(len(signed) - 1):
        with pytest.raises(ReceiptError):
            verify_receipt(signed[:i])


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@given(st.data())
def test_garbling_fails_cleanly(signed: bytes, data: st.DataObject) -> None:
    raw = bytearray(signed)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 2))
        raw[pos] = data.draw(st.integers(0, 255))
    try:
        v = verify_receipt(bytes(raw))
    except ReceiptError:
        return
    # a change that survives must be one the signature does not cover
    assert v.receipt == verify_receipt(signed).receipt


def _sig(signed: bytes, **changes: Any) -> bytes:
    doc = document(signed)
    doc["signature"].update(changes)
    return dump(doc)


MALFORMED: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("empty", lambda s: b"", "not JSON"),
    ("not UTF-8", lambda s: s.replace(b"acme", b"\xff\xfe"), "not UTF-8"),
    ("BOM", lambda s: b"\xef\xbb\xbf" + s, "not JSON"),
    ("null", lambda s: b"null", "expected an object"),
    ("list", lambda s: b"[]", "expected an object"),
    ("deep", lambda s: b"[" * 100000 + b"]" * 100000, "malformed"),
    ("float", lambda s: s.replace(b'"payload_size":', b'"payload_size":1.5,"x":'), "floats"),
    ("NaN", lambda s: s.replace(b'"payload_size":', b'"payload_size":NaN,"x":'), "NaN"),
    ("huge int", lambda s: s.replace(b'"payload_size":', b'"payload_size":' + b"9" * 5000
                                     + b',"x":'), "malformed"),
    ("big int", lambda s: dump({**document(s), "receipt": {**document(s)["receipt"],
                                                           "payload_size": 2**53}}),
     "payload_size: expected an integer"),
    ("duplicate key", lambda s: s.replace(b'{"acknowledgement', b'{"outcome":"accepted",'
                                          b'"acknowledgement'), "duplicate key 'outcome'"),
    ("no signature", lambda s: dump({"receipt": document(s)["receipt"]}), "missing.*signature"),
    ("extra top", lambda s: dump({**document(s), "x": 1}), "unknown field"),
    ("receipt list", lambda s: dump({**document(s), "receipt": []}), "expected an object"),
    ("no value", lambda s: dump({**document(s), "signature": {"alg": "ES256",
                                                              "certificate": ""}}), "missing"),
    ("value not str", lambda s: _sig(s, value=5), "base64"),
    ("bad base64", lambda s: _sig(s, value="***"), "base64"),
    ("empty value", lambda s: _sig(s, value=""), "signature does not match"),
    ("bad pem", lambda s: _sig(s, certificate="-----BEGIN CERTIFICATE-----\nAAAA\n"
                                              "-----END CERTIFICATE-----\n"), "PEM"),
    ("no pem", lambda s: _sig(s, certificate=""), "PEM"),
    ("pem not str", lambda s: _sig(s, certificate=["x"]), "PEM"),
    ("alg not str", lambda s: _sig(s, alg=None), "unsupported alg"),
    ("unsigned", lambda s: dump({**document(s), "receipt": {**document(s)["receipt"],
                                                            "signed_at": None}}), "signed_at"),
]  # fmt: skip


@pytest.mark.parametrize("name, garble, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_documents(signed: bytes, pki: CertPaths, name: str,
                             garble: Callable[[bytes], bytes], message: str) -> None:  # fmt: skip
    with pytest.raises(ReceiptError, match=message):
        verify_receipt(garble(signed), ca_pem(pki))


@pytest.mark.parametrize("data", ["a string", None, 5])
def test_wrong_input_type(data: Any) -> None:
    with pytest.raises(ReceiptError, match="expected bytes"):
        verify_receipt(data)


# damaged serial numbers load with a deprecation warning (an error in future cryptography)
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_damaged_certificate_fails_cleanly(signed: bytes, pki: CertPaths) -> None:
    """Every one-byte change of the signing certificate: cryptography decodes parts of a
    certificate lazily and fails in assorted ways (InvalidVersion, ValueError at .issuer...)."""
    doc = document(signed)
    der = x509.load_pem_x509_certificate(pki.signing_cert.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    reference = verify_receipt(signed).receipt
    accepted = 0
    for pos in range(len(der)):
        for flip in (0x01, 0xFF):
            damaged = bytearray(der)
            damaged[pos] ^= flip
            b64 = base64.encodebytes(bytes(damaged)).decode()
            doc["signature"]["certificate"] = (
                f"-----BEGIN CERTIFICATE-----\n{b64}-----END CERTIFICATE-----\n"
            )
            try:
                v = verify_receipt(dump(doc), ca_pem(pki))
            except ReceiptError:
                continue
            # only a change outside what is signed and checked may pass (e.g. the unused-bits
            # byte of the signature BIT STRING, which the parser ignores)
            assert v.receipt == reference
            accepted += 1
    assert accepted <= 2


def test_bad_trusted_ca(signed: bytes) -> None:
    with pytest.raises(ReceiptError, match="trusted CA"):
        verify_receipt(signed, b"not a certificate")


# -- payload ------------------------------------------------------------------------------------


def test_verify_payload(signed: bytes) -> None:
    v = verify_receipt(signed)
    verify_payload(v, PAYLOAD)
    verify_payload(v.receipt, io.BytesIO(PAYLOAD))
    with pytest.raises(ReceiptError, match="bytes"):
        verify_payload(v, PAYLOAD + b"\n")
    with pytest.raises(ReceiptError, match="SHA-256"):
        verify_payload(v, PAYLOAD.replace(b"42", b"43"))


# -- openssl interoperability -------------------------------------------------------------------


def _openssl_verify(data: bytes, tmp_path: Path, *, use_jq: bool = False) -> None:
    """What docs/receipts.md tells a partner to do, with openssl (and optionally jq)."""
    assert OPENSSL is not None
    doc = document(data)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_bytes(data)
    signed_bytes = tmp_path / "signed.bin"
    if use_jq:
        assert JQ is not None
        with signed_bytes.open("wb") as fh:
            subprocess.run([JQ, "-jcS", ".receipt", str(receipt_file)], stdout=fh, check=True)
        assert signed_bytes.read_bytes() == canonical_json(doc["receipt"])
    else:
        signed_bytes.write_bytes(canonical_json(doc["receipt"]))
    sig = tmp_path / "sig.bin"
    sig.write_bytes(base64.b64decode(doc["signature"]["value"]))
    cert = tmp_path / "signer.pem"
    cert.write_text(doc["signature"]["certificate"])
    pub = tmp_path / "pub.pem"
    subprocess.run([OPENSSL, "x509", "-in", str(cert), "-pubkey", "-noout", "-out", str(pub)],
                   check=True)  # fmt: skip
    alg = doc["signature"]["alg"]
    if alg == "EdDSA":
        cmd = [OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
               "-in", str(signed_bytes), "-sigfile", str(sig)]  # fmt: skip
    else:
        pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
        cmd = [OPENSSL, "dgst", "-sha256", *(pss if alg == "PS256" else []),
               "-verify", str(pub), "-signature", str(sig), str(signed_bytes)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Verified" in out.stdout or "Success" in out.stdout
    # and a change to the signed bytes is caught by openssl too
    signed_bytes.write_bytes(signed_bytes.read_bytes().replace(b'"version":1', b'"version":2'))
    assert subprocess.run(cmd, capture_output=True).returncode != 0


@needs_openssl
def test_openssl_verifies_the_signature(signed: bytes, tmp_path: Path) -> None:
    _openssl_verify(signed, tmp_path)


@needs_openssl
@pytest.mark.skipif(JQ is None, reason="no jq command")
def test_openssl_and_jq_as_documented(signer: ReceiptSigner, pki: CertPaths,
                                      tmp_path: Path) -> None:  # fmt: skip
    # non-ASCII and escapes in the receipt: jq reproduces the canonical bytes
    r = make_receipt(partner_id='Ünïcødé "quoted" \\ 😀 \t', interchange_reference="a/b")
    data = signer.sign(r)
    _openssl_verify(data, tmp_path, use_jq=True)
    out = subprocess.run(
        [OPENSSL, "verify", "-CAfile", str(pki.ca_cert), str(tmp_path / "signer.pem")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


@needs_openssl
def test_openssl_signature_verifies_here(pki: CertPaths, tmp_path: Path) -> None:
    """The other direction: a signature made by ``openssl dgst -sign`` verifies."""
    assert OPENSSL is not None
    body = make_receipt(signed_at=datetime.now(UTC)).to_dict()
    data = tmp_path / "data"
    data.write_bytes(canonical_json(body))
    sig = subprocess.run([OPENSSL, "dgst", "-sha256", "-sign", str(pki.signing_key),
                          str(data)], capture_output=True, check=True).stdout  # fmt: skip
    doc = canonical_json(
        {
            "receipt": body,
            "signature": {
                "alg": "ES256",
                "value": base64.b64encode(sig).decode(),
                "certificate": pki.signing_cert.read_text(),
            },
        }
    )
    assert verify_receipt(doc, ca_pem(pki)).trusted


# -- command line -------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="edigate")
    add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    status = args.func(args)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def files(signed: bytes, tmp_path: Path) -> dict[str, Path]:
    out = {"receipt": tmp_path / "receipt.json", "payload": tmp_path / "payload.edi",
           "tampered": tmp_path / "tampered.json"}  # fmt: skip
    out["receipt"].write_bytes(signed)
    out["payload"].write_bytes(PAYLOAD)
    out["tampered"].write_bytes(signed.replace(b"acme-shipping", b"acme-shipp1ng"))
    return out


def test_cli_verify(files: dict[str, Path], pki: CertPaths,
                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    status, out, err = run(capsys, "receipt", "verify", files["receipt"], "--ca", pki.ca_cert,
                           "--payload", files["payload"])  # fmt: skip
    assert status == 0, err
    assert out.startswith(f"{files['receipt']}: valid receipt, signature ES256 by ")
    assert "signer trusted: issued by O=edigate development,CN=edigate development CA" in out
    assert "partner acme-shipping" in out and "outcome partially_accepted" in out
    assert f"(matches {files['payload']})" in out
    assert "documents 2" in out
    status, out, _ = run(capsys, "receipt", "verify", files["receipt"])
    assert status == 0 and "NOT checked against a CA" in out


def test_cli_verify_json(files: dict[str, Path], pki: CertPaths,
                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    status, out, _ = run(capsys, "receipt", "verify", "--json", files["receipt"],
                         "--ca", pki.ca_cert)  # fmt: skip
    assert status == 0
    result = json.loads(out)
    assert result["valid"] and result["trusted"] and result["alg"] == "ES256"
    assert result["receipt"]["partner_id"] == "acme-shipping"
    assert result["payload_checked"] is False
    status, out, _ = run(capsys, "receipt", "verify", "--json", files["tampered"])
    assert status == 1
    result = json.loads(out)
    assert not result["valid"] and "signature does not match" in result["error"]


def test_cli_invalid(files: dict[str, Path], other_pki: CertPaths, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    status, out, _ = run(capsys, "receipt", "verify", files["tampered"])
    assert status == 1 and "INVALID: signature does not match" in out
    status, out, _ = run(capsys, "receipt", "verify", files["receipt"], "--ca", other_pki.ca_cert)
    assert status == 1 and "not issued by the trusted CA" in out
    wrong = tmp_path / "wrong.edi"
    wrong.write_bytes(PAYLOAD + b"x")
    status, out, _ = run(capsys, "receipt", "verify", files["receipt"], "--payload", wrong)
    assert status == 1 and "payload:" in out
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01garbage")
    status, out, _ = run(capsys, "receipt", "verify", garbage)
    assert status == 1 and "malformed receipt" in out


def test_cli_io_errors(files: dict[str, Path], tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    absent = tmp_path / "absent"
    for argv in ([absent], [files["receipt"], "--ca", absent],
                 [files["receipt"], "--payload", absent]):  # fmt: skip
        status, out, err = run(capsys, "receipt", "verify", *argv)
        assert status == 2 and "receipt verify" in err and not out
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")
    status, _, err = run(capsys, "receipt", "verify", files["receipt"], "--ca", not_pem)
    assert status == 2 and "not PEM" in err


def test_empty_optional_strings_are_stated_as_received(signer: ReceiptSigner) -> None:
    # partners' data may have empty references; a receipt must still be issued
    doc = ReceiptDocument(index=1, message_reference="", document_type="cargo_report",
                          schema_version="1.0", sha256="0" * 64)  # fmt: skip
    r = make_receipt(interchange_reference="", documents=[doc])
    v = verify_receipt(signer.sign(r))
    assert v.receipt.interchange_reference == "" and v.receipt.documents[0].message_reference == ""
