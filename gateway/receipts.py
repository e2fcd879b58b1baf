"""Signed receipts: the gateway's non-repudiable statement of what it received and decided.

A signed receipt is one JSON document (docs/receipts.md has the full format)::

    {"receipt": {...}, "signature": {"alg": "ES256", "certificate": "-----BEGIN...", "value": ".."}}

The signature covers the *canonical serialisation* of the ``receipt`` object (``canonical_json``):
object keys sorted by their UTF-16 code units, no whitespace, strings escaped as JSON.stringify
does (only ``"``, ``\\``, control characters; ``\\b \\f \\n \\r \\t`` short forms, others
``\\u00xx``), UTF-8. Values are restricted to strings, integers of at most 53 bits, booleans,
null, lists and objects; no floats. On those values this is exactly RFC 8785 (JCS), so any JCS
implementation, or ``jq -jcS .receipt``, reproduces the signed bytes.

``value`` is base64 (standard alphabet, padded) of the signature over those bytes:

========  =======================  ==============================================================
alg       key                      signature
========  =======================  ==============================================================
ES256     ECDSA P-256              ECDSA with SHA-256, ASN.1 DER ``Ecdsa-Sig-Value`` (what
                                   ``openssl dgst -sha256 -sign`` writes), *not* JWS's raw r||s
EdDSA     Ed25519                  the 64-byte Ed25519 signature (RFC 8032) of the bytes
PS256     RSA, 2048 bits or more   RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt
========  =======================  ==============================================================

``certificate`` is the PEM of the signing certificate, optionally followed by its CA's.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .certs import DOCUMENT_SIGNING

__all__ = [
    "OUTCOMES",
    "RECEIPT_VERSION",
    "Receipt",
    "ReceiptDocument",
    "ReceiptError",
    "ReceiptSigner",
    "VerifiedReceipt",
    "add_cli",
    "canonical_json",
    "sha256_hex",
    "verify_payload",
    "verify_receipt",
]

RECEIPT_VERSION = 1
OUTCOMES = ("accepted", "partially_accepted", "rejected", "duplicate")
#: integers beyond this are not exact in JCS (IEEE 754 doubles)
MAX_INTEGER = 2**53 - 1

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


class ReceiptError(ValueError):
    """A receipt that cannot be built, signed or verified; the message says why."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- canonical JSON -----------------------------------------------------------------------------


def canonical_json(value: object) -> bytes:
    """The canonical UTF-8 serialisation of ``value`` (RFC 8785 for the value types allowed);
    ``ReceiptError`` for floats, integers beyond 53 bits, non-string keys, lone surrogates and
    other types."""
    parts: list[str] = []
    _canon(value, parts.append)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise ReceiptError("a string holds a lone surrogate (not valid Unicode)") from None


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _canon(value: object, out: Callable[[str], object]) -> None:
    if isinstance(value, str):
        out(encode_basestring(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, int):
        if not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise ReceiptError(f"integer {value} is beyond 53 bits")
        out(str(int(value)))  # int(): an IntEnum's str() is not its number
    elif isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise ReceiptError(f"object key {_show(k)} is not a string")
        # JCS orders keys by UTF-16 code units; that is code point order unless a key has
        # characters beyond the BMP, so sorted() is right for the (usual) ASCII keys
        keys = sorted(value) if all(k.isascii() for k in value) else sorted(value, key=_utf16_key)
        out("{")
        for i, k in enumerate(keys):
            if i:
                out(",")
            out(encode_basestring(k))
            out(":")
            _canon(value[k], out)
        out("}")
    elif isinstance(value, list | tuple):
        out("[")
        for i, item in enumerate(value):
            if i:
                out(",")
            _canon(item, out)
        out("]")
    elif isinstance(value, float):
        raise ReceiptError("floats are not allowed in receipts")
    else:
        raise ReceiptError(f"{type(value).__name__} is not a JSON value")


# -- the receipt --------------------------------------------------------------------------------


def format_time(t: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``: UTC, always microseconds, so one instant has one form."""
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(value: object, name: str) -> datetime:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise ReceiptError(f"{name}: expected a UTC time YYYY-MM-DDTHH:MM:SS.ffffffZ, "
                           f"got {_show(value)}")  # fmt: skip
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise ReceiptError(f"{name}: not a valid time: {_show(value)}") from None


def _show(value: object) -> str:
    """repr() for error messages, cut short: a garbled receipt may hold megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _str(value: object, name: str, *, optional: bool = False) -> None:
    if optional:
        # optional values come from partners' data (an empty UNB reference, say): any string
        # is stated as received, so odd input never stops a receipt being issued
        if value is not None and not isinstance(value, str):
            raise ReceiptError(f"{name}: expected a string or null, got {_show(value)}")
    elif not isinstance(value, str) or not value:
        raise ReceiptError(f"{name}: expected a non-empty string, got {_show(value)}")


def _int(value: object, name: str) -> None:
    # bool is an int subclass; true is not a size
    if type(value) is not int or not 0 <= value <= MAX_INTEGER:
        raise ReceiptError(f"{name}: expected an integer 0..2^53-1, got {_show(value)}")


def _hex(value: object, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ReceiptError(f"{name}: expected a SHA-256 in lowercase hex, got {_show(value)}")


def _time(value: object, name: str, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ReceiptError(f"{name}: expected a time zone aware datetime, got {_show(value)}")
    return value.astimezone(UTC)


def _fields(data: object, names: tuple[str, ...], what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ReceiptError(f"{what}: expected an object, got {type(data).__name__}")
    absent = [n for n in names if n not in data]
    if absent:
        raise ReceiptError(f"{what}: missing field(s) {', '.join(absent)}")
    unknown = sorted(str(k) for k in set(data) - set(names))
    if unknown:
        raise ReceiptError(f"{what}: unknown field(s) {', '.join(_show(k) for k in unknown)}")
    return data


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptDocument:
    """One canonical document made from the submission."""

    index: int  # 1-based position within the submission
    message_reference: str | None  # UNH 0062 for EDIFACT
    document_type: str  # canonical header type, e.g. cargo_report
    schema_version: str  # canonical schema version, e.g. "1.0"
    sha256: str  # of the canonical JSON bytes

    FIELDS = ("index", "message_reference", "document_type", "schema_version", "sha256")

    def __post_init__(self) -> None:
        _int(self.index, "documents[].index")
        _str(self.message_reference, "documents[].message_reference", optional=True)
        _str(self.document_type, "documents[].document_type")
        _str(self.schema_version, "documents[].schema_version")
        _hex(self.sha256, "documents[].sha256")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "message_reference": self.message_reference,
            "document_type": self.document_type,
            "schema_version": self.schema_version,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: object) -> ReceiptDocument:
        d = _fields(data, cls.FIELDS, "documents[]")
        return cls(**d)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """What the gateway states about one submission. Validated on construction
    (``ReceiptError``); times are normalised to UTC."""

    submission_id: str
    partner_id: str
    channel: str  # https, sftp, as2, cli
    received_at: datetime
    payload_sha256: str  # of the raw payload bytes as received
    payload_size: int
    outcome: str  # one of OUTCOMES
    node_id: str  # the gateway node that received and signed
    duplicate_of: str | None = None  # the earlier submission, when outcome is duplicate
    interchange_reference: str | None = None  # UNB 0020 of the (first) interchange
    documents: tuple[ReceiptDocument, ...] = ()
    acknowledgement_sha256: str | None = None  # of the syntax acknowledgement (CONTRL) sent
    signed_at: datetime | None = None  # set by ReceiptSigner.sign when None
    version: int = RECEIPT_VERSION

    FIELDS = (
        "version", "submission_id", "partner_id", "channel", "received_at", "payload_sha256",
        "payload_size", "outcome", "duplicate_of", "interchange_reference", "documents",
        "acknowledgement_sha256", "node_id", "signed_at",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.version != RECEIPT_VERSION or type(self.version) is not int:
            raise ReceiptError(f"version: unsupported receipt version {_show(self.version)} "
                               f"(this gateway knows {RECEIPT_VERSION})")  # fmt: skip
        _str(self.submission_id, "submission_id")
        _str(self.partner_id, "partner_id")
        _str(self.channel, "channel")
        object.__setattr__(self, "received_at", _time(self.received_at, "received_at"))
        _hex(self.payload_sha256, "payload_sha256")
        _int(self.payload_size, "payload_size")
        if self.outcome not in OUTCOMES:
            raise ReceiptError(f"outcome: expected one of {', '.join(OUTCOMES)}, "
                               f"got {_show(self.outcome)}")  # fmt: skip
        _str(self.duplicate_of, "duplicate_of", optional=True)
        # a duplicate names its original; nothing else may claim one
        if (self.outcome == "duplicate") != (self.duplicate_of is not None):
            raise ReceiptError("duplicate_of: required when outcome is duplicate, else null")
        _str(self.interchange_reference, "interchange_reference", optional=True)
        if not isinstance(self.documents, tuple):
            if not isinstance(self.documents, list):
                raise ReceiptError(f"documents: expected a list, got {_show(self.documents)}")
            object.__setattr__(self, "documents", tuple(self.documents))
        for doc in self.documents:
            if not isinstance(doc, ReceiptDocument):
                raise ReceiptError(f"documents: expected ReceiptDocument, got {_show(doc)}")
        _hex(self.acknowledgement_sha256, "acknowledgement_sha256", optional=True)
        _str(self.node_id, "node_id")
        object.__setattr__(self, "signed_at", _time(self.signed_at, "signed_at", optional=True))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (every field present, null when absent)."""
        return {
            "version": self.version,
            "submission_id": self.submission_id,
            "partner_id": self.partner_id,
            "channel": self.channel,
            "received_at": format_time(self.received_at),
            "payload_sha256": self.payload_sha256,
            "payload_size": self.payload_size,
            "outcome": self.outcome,
            "duplicate_of": self.duplicate_of,
            "interchange_reference": self.interchange_reference,
            "documents": [d.to_dict() for d in self.documents],
            "acknowledgement_sha256": self.acknowledgement_sha256,
            "node_id": self.node_id,
            "signed_at": None if self.signed_at is None else format_time(self.signed_at),
        }

    @classmethod
    def from_dict(cls, data: object) -> Receipt:
        """Strict: every field present, no unknown field, exact types and time format."""
        if isinstance(data, dict) and "version" in data and data["version"] != RECEIPT_VERSION:
            # before the field checks: another version may have other fields
            raise ReceiptError(f"version: unsupported receipt version {_show(data['version'])}")
        d = dict(_fields(data, cls.FIELDS, "receipt"))
        d["received_at"] = parse_time(d["received_at"], "received_at")
        if d["signed_at"] is not None:
            d["signed_at"] = parse_time(d["signed_at"], "signed_at")
        if not isinstance(d["documents"], list):
            raise ReceiptError(f"documents: expected a list, got {_show(d['documents'])}")
        d["documents"] = tuple(ReceiptDocument.from_dict(x) for x in d["documents"])
        return cls(**d)


def _opt(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _canonical_receipt(r: Receipt, signed_at: datetime) -> bytes:
    """``canonical_json(r.to_dict())`` with ``signed_at``, written out directly: the fields are
    validated on construction and the keys are fixed, so the generic walk (2.5 to 5 times
    slower) is not needed on the hot path. Keys in sorted order; tests hold the two equal."""
    enc = encode_basestring
    docs = ",".join(
        f'{{"document_type":{enc(d.document_type)},"index":{d.index},'
        f'"message_reference":{_opt(d.message_reference)},'
        f'"schema_version":{enc(d.schema_version)},"sha256":"{d.sha256}"}}'
        for d in r.documents
    )
    text = (
        f'{{"acknowledgement_sha256":{_opt(r.acknowledgement_sha256)},'
        f'"channel":{enc(r.channel)},"documents":[{docs}],'
        f'"duplicate_of":{_opt(r.duplicate_of)},'
        f'"interchange_reference":{_opt(r.interchange_reference)},'
        f'"node_id":{enc(r.node_id)},"outcome":"{r.outcome}","partner_id":{enc(r.partner_id)},'
        f'"payload_sha256":"{r.payload_sha256}","payload_size":{r.payload_size},'
        f'"received_at":"{format_time(r.received_at)}","signed_at":"{format_time(signed_at)}",'
        f'"submission_id":{enc(r.submission_id)},"version":{r.version}}}'
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ReceiptError("a string holds a lone surrogate (not valid Unicode)") from None


# -- signing ------------------------------------------------------------------------------------


def _load_certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    """The PEM certificates in ``pem``, each fully decoded. cryptography parses names,
    extensions and keys lazily, and a damaged certificate fails with assorted exceptions
    (ValueError, InvalidVersion...), at load or at first use; here, any of them is
    ``ReceiptError``, so nothing later meets a half-readable certificate."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
        for c in certs:
            _ = c.subject, c.issuer, c.not_valid_before_utc, c.not_valid_after_utc
            _ = list(c.extensions), c.public_key()
    except Exception as exc:  # whatever the cause, the one meaning: unusable certificates
        raise ReceiptError(f"{what}: not PEM certificates or malformed ({exc})") from None
    return certs


def _alg_for(key: object) -> str | None:
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "ES256" if isinstance(key.curve, ec.SECP256R1) else None
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "PS256" if key.key_size >= 2048 else None
    return None


def _has_digital_signature(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    except x509.ExtensionNotFound:
        return False


def _fit_for_receipts(cert: x509.Certificate) -> str | None:
    """Why ``cert`` may not sign receipts, or None."""
    if not _has_digital_signature(cert):
        return "its key usage lacks digitalSignature"
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    # no EKU means any use; one that names uses must name document signing (or any), so a TLS
    # certificate from the same CA cannot pass for the gateway's receipt key
    if eku is not None and DOCUMENT_SIGNING not in eku and \
            x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:  # fmt: skip
        return "its extended key usage excludes document signing (1.3.6.1.5.5.7.3.36)"
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "it is a CA certificate"
    except x509.ExtensionNotFound:
        pass
    return None


class ReceiptSigner:
    """Signs receipts with the gateway key. Loads and checks the key and certificate once (the
    key must belong to the certificate, the certificate must allow digital signatures), so
    ``sign`` is one canonical serialisation and one signature."""

    def __init__(self, key_path: Path | str, cert_path: Path | str,
                 ca_path: Path | str | None = None, *,
                 password: bytes | None = None) -> None:  # fmt: skip
        key_file, cert_file = Path(key_path), Path(cert_path)
        try:
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ReceiptError(f"{key_file}: cannot load the private key ({exc})") from None
        chain = _load_certificates(cert_file.read_bytes(), str(cert_file))
        cert = chain[0]
        alg = _alg_for(key)
        if alg is None:
            raise ReceiptError(f"{key_file}: unsupported key {type(key).__name__} (ECDSA P-256, "
                               "Ed25519 or RSA of 2048 bits or more)")  # fmt: skip
        if cert.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
            raise ReceiptError(f"{cert_file} is not the certificate of {key_file}")
        why = _fit_for_receipts(cert)
        if why:
            raise ReceiptError(f"{cert_file} cannot sign receipts: {why}")
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        if ca_path is not None:
            cas = _load_certificates(Path(ca_path).read_bytes(), str(ca_path))
            # chain order: the signer first, then its issuer (once)
            pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in cas
                            if c not in chain)  # fmt: skip
        self.alg: str = alg
        #: also signs the gateway's XML answers (edigate.xmlrender)
        self.private_key = key
        self.certificate: x509.Certificate = cert
        self.chain_pem: str = pem.decode("ascii")
        self._not_before = cert.not_valid_before_utc
        self._not_after = cert.not_valid_after_utc
        self._sign: Callable[[bytes], bytes]
        if isinstance(key, ec.EllipticCurvePrivateKey):
            ecdsa = ec.ECDSA(hashes.SHA256())
            self._sign = lambda data: key.sign(data, ecdsa)
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self._sign = key.sign
        else:
            assert isinstance(key, rsa.RSAPrivateKey)
            self._sign = lambda data: key.sign(data, _PSS, hashes.SHA256())
        # the signature block without its value: serialised once, spliced in per receipt
        head = canonical_json({"alg": alg, "certificate": self.chain_pem})
        self._sig_head = head[:-1] + b',"value":"'

    def sign(self, receipt: Receipt) -> bytes:
        """The signed receipt document, canonical JSON plus a newline. ``signed_at`` is now
        unless the receipt has one; ``ReceiptError`` when it falls outside the certificate's
        validity (such a receipt would never verify)."""
        signed_at = receipt.signed_at or datetime.now(UTC)
        if not self._not_before <= signed_at <= self._not_after:
            raise ReceiptError(
                f"the signing certificate is not valid at {format_time(signed_at)} "
                f"({self._not_before:%Y-%m-%d} .. {self._not_after:%Y-%m-%d})"
            )
        data = _canonical_receipt(receipt, signed_at)
        value = base64.b64encode(self._sign(data))
        # "receipt" sorts before "signature": the whole document is canonical too
        return b'{"receipt":%s,"signature":%s%s"}}\n' % (data, self._sig_head, value)


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    receipt: Receipt
    alg: str
    certificate: x509.Certificate  # the signer's, from the document
    #: True when the certificate was checked against ``trusted_ca_pem``
    trusted: bool
    issuer: x509.Certificate | None  # the trusted certificate that vouched for the signer

    @property
    def signer(self) -> str:
        return self.certificate.subject.rfc4514_string()


def _reject_constant(name: str) -> object:
    raise ReceiptError(f"{name} is not allowed in receipts")


def _reject_float(text: str) -> object:
    raise ReceiptError(f"floats are not allowed in receipts ({text})")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            # with two values for one key, readers could disagree on what was signed
            raise ReceiptError(f"duplicate key {_show(k)}")
        d[k] = v
    return d


def _parse(data: bytes) -> tuple[dict[str, Any], str, bytes, list[x509.Certificate]]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ReceiptError(f"expected bytes, got {type(data).__name__}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReceiptError(f"malformed receipt: not UTF-8 ({exc.reason} at byte {exc.start})") \
            from None  # fmt: skip
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys, parse_float=_reject_float,
                         parse_constant=_reject_constant)  # fmt: skip
    except ReceiptError as exc:
        raise ReceiptError(f"malformed receipt: {exc}") from None
    except RecursionError:
        raise ReceiptError("malformed receipt: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, over-long integers
        raise ReceiptError(f"malformed receipt: not JSON ({exc})") from None
    top = _fields(doc, ("receipt", "signature"), "signed receipt")
    sig = _fields(top["signature"], ("alg", "value", "certificate"), "signature")
    body = top["receipt"]
    if not isinstance(body, dict):
        raise ReceiptError("receipt: expected an object")
    alg, value, pem = sig["alg"], sig["value"], sig["certificate"]
    if alg not in ("ES256", "EdDSA", "PS256"):
        raise ReceiptError(f"signature: unsupported alg {_show(alg)} (ES256, EdDSA, PS256)")
    if not isinstance(value, str):
        raise ReceiptError("signature: value must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ReceiptError("signature: value is not valid base64") from None
    if not isinstance(pem, str):
        raise ReceiptError("signature: certificate must be a PEM string")
    try:
        first = pem.encode("utf-8")
    except UnicodeEncodeError:
        raise ReceiptError("signature: certificate is not PEM (lone surrogate)") from None
    # only the first certificate is used; the others are informational
    return body, alg, raw, _load_certificates(first, "signature: certificate")[:1]


def _check_signature(cert: x509.Certificate, alg: str, signature: bytes, data: bytes) -> None:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ReceiptError(f"the certificate's public key is unusable ({exc})") from None
    expected = _alg_for(key)
    if alg != expected:
        # never let the document choose how the certificate's key is used
        raise ReceiptError(f"signature: alg {alg} does not fit the certificate's key "
                           f"({type(key).__name__}, {expected or 'unsupported'})")  # fmt: skip
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(signature, data, _PSS, hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise ReceiptError("signature does not match the receipt: the receipt was altered or "
                           "signed with another key") from None  # fmt: skip


def _within(cert: x509.Certificate, at: datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise ReceiptError(
            f"{what} was not valid at the signing time {format_time(at)} (valid "
            f"{format_time(cert.not_valid_before_utc)} .. {format_time(cert.not_valid_after_utc)})"
        )


def _trusted_issuer(cert: x509.Certificate, trusted: list[x509.Certificate],
                    at: datetime) -> x509.Certificate:  # fmt: skip
    for anchor in trusted:
        if anchor == cert:  # the signing certificate itself, pinned
            return anchor
    reasons: list[str] = []
    for ca in trusted:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            reasons.append(f"not signed by {ca.subject.rfc4514_string()}")
            continue
        try:
            bc = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            raise ReceiptError(f"the trusted certificate {ca.subject.rfc4514_string()} is not a CA")
        try:
            ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            ku = None
        if ku is not None and not ku.key_cert_sign:
            raise ReceiptError(f"the trusted CA {ca.subject.rfc4514_string()} may not sign "
                               "certificates (keyUsage)")  # fmt: skip
        _within(ca, at, "the CA certificate")
        return ca
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    raise ReceiptError(
        f"the signing certificate ({cert.subject.rfc4514_string()}, issuer "
        f"{cert.issuer.rfc4514_string()}) is not issued by the trusted CA{detail}"
    )


def verify_receipt(data: bytes, trusted_ca_pem: bytes | None = None) -> VerifiedReceipt:
    """Verify a signed receipt document; ``ReceiptError`` on any failure.

    Checks, in order: the document's structure and the receipt's fields; the signing
    certificate's validity at ``signed_at``, its key usage (digitalSignature; an extended key
    usage, if present, must allow document signing; not a CA); the signature over the canonical
    bytes of ``receipt`` with the certificate's key. With ``trusted_ca_pem`` (one or more PEM
    certificates), also that one of them issued the signing certificate (its signature checked;
    a CA, valid at ``signed_at``) or is the signing certificate itself (pinning). Certificates
    after the first in the document are ignored: trust comes only from ``trusted_ca_pem``.
    Revocation is not checked."""
    body, alg, signature, chain = _parse(data)
    receipt = Receipt.from_dict(body)
    if receipt.signed_at is None:
        raise ReceiptError("signed_at: a signed receipt must have a signing time")
    cert = chain[0]
    _within(cert, receipt.signed_at, "the signing certificate")
    why = _fit_for_receipts(cert)
    if why:
        raise ReceiptError(f"the signing certificate may not sign receipts: {why}")
    _check_signature(cert, alg, signature, canonical_json(body))
    issuer = None
    if trusted_ca_pem is not None:
        if not isinstance(trusted_ca_pem, bytes | bytearray | memoryview):
            raise ReceiptError("trusted CA: expected PEM bytes")
        anchors = _load_certificates(bytes(trusted_ca_pem), "trusted CA")
        issuer = _trusted_issuer(cert, anchors, receipt.signed_at)
    return VerifiedReceipt(receipt=receipt, alg=alg, certificate=cert,
                           trusted=issuer is not None, issuer=issuer)  # fmt: skip


def verify_payload(receipt: Receipt | VerifiedReceipt, payload: bytes | BinaryIO) -> None:
    """Check that ``payload`` (bytes, or a binary file read to its end) is what the receipt
    acknowledges: same size and SHA-256. ``ReceiptError`` when not."""
    r = receipt.receipt if isinstance(receipt, VerifiedReceipt) else receipt
    if isinstance(payload, bytes | bytearray | memoryview):
        size, digest = len(payload), hashlib.sha256(payload).hexdigest()
    else:
        h = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: payload.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
        digest = h.hexdigest()
    if size != r.payload_size:
        raise ReceiptError(f"payload: {size} bytes, the receipt says {r.payload_size}")
    if digest != r.payload_sha256:
        raise ReceiptError(f"payload: SHA-256 {digest}, the receipt says {r.payload_sha256}")


# -- command line -------------------------------------------------------------------------------


def _summary(path: str, v: VerifiedReceipt, ca: str | None, payload: str | None) -> Iterator[str]:
    r = v.receipt
    yield f"{path}: valid receipt, signature {v.alg} by {v.signer}"
    if v.issuer is not None:
        via = ("pinned" if v.issuer == v.certificate
               else f"issued by {v.issuer.subject.rfc4514_string()}")  # fmt: skip
        yield f"  signer trusted: {via} ({ca})"
    else:
        yield "  signer NOT checked against a CA (give --ca to check who signed)"
    yield f"  submission {r.submission_id}  partner {r.partner_id}  channel {r.channel}"
    assert r.signed_at is not None
    yield f"  received {format_time(r.received_at)}  signed {format_time(r.signed_at)} " \
          f"by node {r.node_id}"  # fmt: skip
    dup = f" of {r.duplicate_of}" if r.duplicate_of else ""
    ref = f"  interchange {r.interchange_reference}" if r.interchange_reference else ""
    yield f"  outcome {r.outcome}{dup}{ref}"
    check = f" (matches {payload})" if payload else ""
    yield f"  payload {r.payload_size} bytes  sha256 {r.payload_sha256}{check}"
    if r.acknowledgement_sha256:
        yield f"  acknowledgement sha256 {r.acknowledgement_sha256}"
    yield f"  documents {len(r.documents)}"
    for d in r.documents:
        yield f"    {d.index}  {d.message_reference or '-'}  {d.document_type} " \
              f"{d.schema_version}  sha256 {d.sha256}"  # fmt: skip


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    try:
        data = Path(args.file).read_bytes()
        ca = Path(args.ca).read_bytes() if args.ca else None
    except OSError as exc:
        print(f"edigate: receipt verify: {exc}", file=sys.stderr)
        return 2
    if ca is not None:
        try:
            _load_certificates(ca, str(args.ca))
        except ReceiptError as exc:  # a bad --ca is a usage error, not an invalid receipt
            print(f"edigate: receipt verify: {exc}", file=sys.stderr)
            return 2
    result: dict[str, Any] = {"file": str(args.file), "valid": False}
    try:
        verified = verify_receipt(data, ca)
        if args.payload:
            try:
                with Path(args.payload).open("rb") as fh:
                    verify_payload(verified, fh)
            except OSError as exc:
                print(f"edigate: receipt verify: {exc}", file=sys.stderr)
                return 2
    except ReceiptError as exc:
        result["error"] = str(exc)
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(f"{args.file}: INVALID: {exc}")
        return 1
    if args.json:
        result.update(
            valid=True,
            alg=verified.alg,
            signer=verified.signer,
            trusted=verified.trusted,
            issuer=verified.issuer.subject.rfc4514_string() if verified.issuer else None,
            payload_checked=bool(args.payload),
            receipt=verified.receipt.to_dict(),
        )
        print(json.dumps(result, ensure_ascii=False))
    else:
        for line in _summary(str(args.file), verified, args.ca, args.payload):
            print(line)
    return 0


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``receipt verify`` on ``edigate``'s subcommands."""
    receipt = subparsers.add_parser(
        "receipt", help="signed receipts", description="Signed receipts (docs/receipts.md).",
    )  # fmt: skip
    sub = receipt.add_subparsers(dest="receipt_command", required=True, metavar="COMMAND")
    v = sub.add_parser(
        "verify", help="verify a signed receipt",
        description="Verify a signed receipt's signature, and with --ca that the gateway's "
                    "certificate was issued by that CA; with --payload, that the file is the "
                    "payload the receipt acknowledges. Exit status: 0 valid, 1 invalid, 2 usage "
                    "or I/O error.",
    )  # fmt: skip
    v.add_argument("file", metavar="FILE", help="the signed receipt (JSON)")
    v.add_argument("--ca", metavar="PATH", help="trusted CA certificate(s), PEM")
    v.add_argument("--payload", metavar="FILE", help="check this payload against the digest")
    v.add_argument("--json", action="store_true", help="one JSON object on stdout")
    v.set_defaults(func=cmd_receipt_verify)
