"""Development PKI: a CA, the gateway's receipt-signing key and a TLS server certificate.

``init_certs`` creates, in one directory (``certs/`` by default, see certs/README.md):

==========================  =====================================================================
``ca.pem`` / ``ca.key``     development CA: ECDSA P-256, self-signed, CA:true pathlen 0,
                            keyCertSign + cRLSign, about 10 years
``gateway-signing.pem/key`` receipt signing (``edigate.receipts``): digitalSignature +
                            contentCommitment, EKU id-kp-documentSigning (RFC 9336), about 2 years
``tls.pem`` / ``tls.key``   HTTPS server: SAN DNS/IP entries for the host names, EKU serverAuth,
                            about 2 years
==========================  =====================================================================

``issue_client_certificate`` issues partner client certificates (EKU clientAuth) from the same CA,
for TLS client-certificate authentication in development and tests.

Existing files are never overwritten unless ``force=True``: a key without its certificate gets a
new certificate for that key; a certificate without its key is an error (``CertError``) rather
than silently replaced. Private keys are unencrypted PKCS#8 PEM, mode 0600 (the gateway starts
unattended); the directory is mode 0700. Every file is written to a temporary name and renamed,
so a crash never leaves half a key behind. Keys are ECDSA P-256 throughout.

The command line is ``edigate certs init`` and ``edigate certs client`` (``add_cli``).
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

__all__ = [
    "DEFAULT_HOSTNAMES",
    "DEFAULT_ORGANISATION",
    "DOCUMENT_SIGNING",
    "CertError",
    "CertPaths",
    "add_cli",
    "cert_paths",
    "certificate_fingerprint",
    "init_certs",
    "issue_client_certificate",
    "missing",
]

DEFAULT_HOSTNAMES: tuple[str, ...] = ("localhost", "127.0.0.1")
DEFAULT_ORGANISATION = "edigate development"

#: id-kp-documentSigning (RFC 9336): keeps the receipt key apart from TLS keys of the same CA
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

CA_DAYS = 3652
SIGNING_DAYS = 730
#: under the 825 days Apple clients accept for TLS certificates of private CAs
TLS_DAYS = 730
CLIENT_DAYS = 730
#: certificates start a little in the past so that a peer whose clock lags still accepts them
BACKDATE = timedelta(minutes=5)

CA_CERT, CA_KEY = "ca.pem", "ca.key"
SIGNING_CERT, SIGNING_KEY = "gateway-signing.pem", "gateway-signing.key"
TLS_CERT, TLS_KEY = "tls.pem", "tls.key"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: LDH labels, optionally a leading wildcard label and a trailing dot
_HOSTNAME = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*\.?")


class CertError(Exception):
    """The directory's state does not allow the request (e.g. a certificate without its key)."""


@dataclass(frozen=True, slots=True)
class CertPaths:
    directory: Path
    ca_cert: Path
    ca_key: Path
    signing_key: Path
    signing_cert: Path
    tls_key: Path
    tls_cert: Path
    #: the files this call wrote (empty when everything existed)
    created: tuple[Path, ...] = field(default=())

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.ca_key, self.signing_key, self.signing_cert,
                self.tls_key, self.tls_cert)  # fmt: skip


def cert_paths(directory: Path | str) -> CertPaths:
    """The standard file names in ``directory``; creates nothing."""
    d = Path(directory)
    return CertPaths(
        directory=d,
        ca_cert=d / CA_CERT,
        ca_key=d / CA_KEY,
        signing_key=d / SIGNING_KEY,
        signing_cert=d / SIGNING_CERT,
        tls_key=d / TLS_KEY,
        tls_cert=d / TLS_CERT,
    )


def missing(paths: CertPaths) -> list[Path]:
    """The files of ``paths`` that do not exist (the gateway runs ``init_certs`` at start when
    this is not empty and ``signing.create_if_missing`` is set)."""
    return [p for p in paths.files if not p.exists()]


def certificate_fingerprint(path: Path | str) -> str:
    """SHA-256 of the first certificate's DER, lowercase hex (how partners' client certificates
    are usually pinned)."""
    cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()


# -- files --------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL + the final mode at creation: a key is never readable by others, not even briefly
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits we want (0644 certificates)
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)  # the rename itself survives a crash
    finally:
        os.close(dfd)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(path, pem, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{path}: expected an ECDSA key, found {type(key).__name__}")
    return key


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as exc:
        raise CertError(f"{path}: not a PEM certificate ({exc})") from None


def _same_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Two gateway nodes starting at once on a shared directory must not each create a CA; flock
    # on the directory itself leaves no lock file behind
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# -- certificates -------------------------------------------------------------------------------


def _name(common_name: str, organisation: str) -> x509.Name:
    try:
        return x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ])  # fmt: skip
    except ValueError as exc:  # e.g. a common name over 64 characters
        raise CertError(str(exc)) from None


def _key_usage(*, digital_signature: bool = False, content_commitment: bool = False,
               cert_sign: bool = False) -> x509.KeyUsage:  # fmt: skip
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _make_ca(key: ec.EllipticCurvePrivateKey, organisation: str, now: datetime) -> x509.Certificate:
    name = _name(f"{organisation} CA"[:64], organisation)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True, slots=True)
class _Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _issue(issuer: _Issuer, key: ec.EllipticCurvePrivateKey, subject: x509.Name, days: int,
           usage: x509.KeyUsage, eku: Sequence[ObjectIdentifier],
           san: Sequence[x509.GeneralName] = (), now: datetime | None = None,
           ) -> x509.Certificate:  # fmt: skip
    now = now or datetime.now(UTC)
    ca_end = issuer.cert.not_valid_after_utc
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    if ca_end <= now:
        raise CertError(f"the CA certificate expired on {ca_end:%Y-%m-%d}")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        # a certificate outliving its CA would only fail verification later
        .not_valid_after(min(now + timedelta(days=days), ca_end))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(issuer.key, hashes.SHA256())


def _authority_key_id(issuer: _Issuer) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:  # a CA made elsewhere: derive it as RFC 5280 method 1 does
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _general_names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
            continue
        except ValueError:
            pass
        # DNS names in certificates are ASCII (A-labels): say so rather than guess an encoding
        if not _HOSTNAME.fullmatch(h) or len(h) > 253:
            raise CertError(f"not a host name or IP address: {h!r} (use the xn-- form for IDNs)")
        names.append(x509.DNSName(h.rstrip(".").lower()))
    if not names:
        raise CertError("at least one host name or IP address is needed for the TLS certificate")
    return names


# -- init ---------------------------------------------------------------------------------------


def init_certs(
    directory: Path | str,
    *,
    hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
    organisation: str = DEFAULT_ORGANISATION,
    force: bool = False,
) -> CertPaths:
    """Create what is missing of the development CA, receipt-signing and TLS files in
    ``directory`` (all of them again with ``force``); ``created`` lists what was written.

    Raises ``CertError`` when the directory's state would need an existing file replaced (a
    certificate whose key is gone, leaf certificates of a CA whose files are gone, a missing
    leaf with ``ca.key`` absent) and ``OSError`` on file system errors."""
    paths = cert_paths(directory)
    san = _general_names(hostnames)  # before touching the disk: bad input creates nothing
    d = paths.directory
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)  # an existing directory too: it holds private keys
    created: list[Path] = []
    now = datetime.now(UTC)

    def exists(p: Path) -> bool:
        return not force and p.exists()

    leaves = [(paths.signing_key, paths.signing_cert), (paths.tls_key, paths.tls_cert)]
    with _locked(d):
        for key_path, cert_path in leaves:
            if exists(cert_path) and not exists(key_path):
                raise CertError(f"{cert_path} exists without its key {key_path.name}: remove it "
                                "or use --force")  # fmt: skip
        to_issue = [(k, c) for k, c in leaves if not (exists(k) and exists(c))]
        kept_leaves = [c for k, c in leaves if exists(k) and exists(c)]

        issuer: _Issuer | None = None
        if exists(paths.ca_key):
            ca_key = _load_key(paths.ca_key)
            if exists(paths.ca_cert):
                ca_cert = _load_cert(paths.ca_cert)
                if not _same_key(ca_cert, ca_key):
                    raise CertError(f"{paths.ca_cert} does not belong to {paths.ca_key}")
            else:
                # same key (and name, if the organisation is unchanged): what the lost CA
                # certificate issued still verifies
                ca_cert = _make_ca(ca_key, organisation, now)
                _write_cert(paths.ca_cert, ca_cert)
                created.append(paths.ca_cert)
            issuer = _Issuer(ca_cert, ca_key)
        elif exists(paths.ca_cert):
            if to_issue:
                raise CertError(f"{paths.ca_key} is missing: cannot issue "
                                f"{', '.join(c.name for _, c in to_issue)}")  # fmt: skip
        else:
            if kept_leaves:
                raise CertError(
                    f"no CA in {d} but {', '.join(c.name for c in kept_leaves)} exist(s), "
                    "issued by another CA: remove them or use --force"
                )
            ca_key = _new_key()
            ca_cert = _make_ca(ca_key, organisation, now)
            _write_key(paths.ca_key, ca_key)
            _write_cert(paths.ca_cert, ca_cert)
            created += [paths.ca_key, paths.ca_cert]
            issuer = _Issuer(ca_cert, ca_key)

        for key_path, cert_path in to_issue:
            assert issuer is not None  # every branch without an issuer raised above
            if exists(key_path):
                key = _load_key(key_path)  # keep the key (it may be pinned); new certificate
            else:
                key = _new_key()
                _write_key(key_path, key)
                created.append(key_path)
            if key_path == paths.signing_key:
                cert = _issue(
                    issuer, key, _name("edigate receipt signing", organisation), SIGNING_DAYS,
                    _key_usage(digital_signature=True, content_commitment=True),
                    [DOCUMENT_SIGNING], now=now,
                )  # fmt: skip
            else:
                first = hostnames[0].rstrip(".")
                cn = first if len(first) <= 64 else "edigate TLS server"
                cert = _issue(
                    issuer, key, _name(cn, organisation), TLS_DAYS,
                    _key_usage(digital_signature=True), [ExtendedKeyUsageOID.SERVER_AUTH],
                    san, now=now,
                )  # fmt: skip
            _write_cert(cert_path, cert)
            created.append(cert_path)

    return CertPaths(
        directory=d,
        ca_cert=paths.ca_cert,
        ca_key=paths.ca_key,
        signing_key=paths.signing_key,
        signing_cert=paths.signing_cert,
        tls_key=paths.tls_key,
        tls_cert=paths.tls_cert,
        created=tuple(created),
    )


def _slug(common_name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", common_name).strip(".-")
    return slug or "client"


def issue_client_certificate(
    ca_dir: Path | str,
    common_name: str,
    out_dir: Path | str,
    *,
    organisation: str = DEFAULT_ORGANISATION,
    days: int = CLIENT_DAYS,
    force: bool = False,
) -> tuple[Path, Path]:
    """Issue a partner's TLS client certificate from the CA in ``ca_dir``: writes
    ``client-<name>.pem`` and ``client-<name>.key`` in ``out_dir`` and returns (cert, key).

    The certificate has EKU clientAuth and a SAN URI ``urn:edigate:partner:<common name>``
    (percent-encoded): RFC 5280 verifiers, cryptography's among them, want a SAN on the leaf.
    Existing files are kept unless ``force`` (``CertError``)."""
    if not common_name:
        raise CertError("the client certificate needs a common name")
    paths = cert_paths(ca_dir)
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        raise CertError(f"no CA in {paths.directory} (ca.pem and ca.key): run edigate certs init")
    issuer = _Issuer(_load_cert(paths.ca_cert), _load_key(paths.ca_key))
    if not _same_key(issuer.cert, issuer.key):
        raise CertError(f"{paths.ca_cert} does not belong to {paths.ca_key}")
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = f"client-{_slug(common_name)}"
    cert_path, key_path = out / f"{stem}.pem", out / f"{stem}.key"
    with _locked(out):
        if not force:
            for p in (cert_path, key_path):
                if p.exists():
                    raise CertError(f"{p} exists (use --force to replace it)")
        key = _new_key()
        cert = _issue(
            issuer, key, _name(common_name, organisation), days,
            _key_usage(digital_signature=True), [ExtendedKeyUsageOID.CLIENT_AUTH],
            [x509.UniformResourceIdentifier(f"urn:edigate:partner:{quote(common_name, safe='')}")],
        )  # fmt: skip
        _write_key(key_path, key)
        _write_cert(cert_path, cert)
    return cert_path, key_path


# -- command line -------------------------------------------------------------------------------


def cmd_certs_init(args: argparse.Namespace) -> int:
    try:
        paths = init_certs(
            args.dir,
            hostnames=args.hostnames or DEFAULT_HOSTNAMES,
            organisation=args.organisation,
            force=args.force,
        )
    except CertError as exc:
        print(f"edigate: certs init: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"edigate: certs init: {exc}", file=sys.stderr)
        return 2
    for p in paths.files:
        print(f"{'created' if p in paths.created else 'kept   '} {p}")
    if not paths.created:
        print("nothing to do: every file exists (--force replaces them)")
    return 0


def cmd_certs_client(args: argparse.Namespace) -> int:
    try:
        cert, key = issue_client_certificate(
            args.dir, args.common_name, args.out or args.dir,
            organisation=args.organisation, force=args.force,
        )  # fmt: skip
    except CertError as exc:
        print(f"edigate: certs client: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"edigate: certs client: {exc}", file=sys.stderr)
        return 2
    print(f"created {cert}")
    print(f"created {key}")
    print(f"sha256 fingerprint {certificate_fingerprint(cert)}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``certs init`` and ``certs client`` on ``edigate``'s subcommands."""
    certs = subparsers.add_parser(
        "certs", help="development CA, receipt-signing key and TLS certificate",
        description="Create development keys and certificates (certs/README.md).",
    )  # fmt: skip
    sub = certs.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    init = sub.add_parser(
        "init", help="create the CA, signing and TLS files that are missing",
        description="Create in DIR what is missing of: the development CA (ca.pem, ca.key), the "
                    "receipt-signing key and certificate (gateway-signing.key/.pem) and the TLS "
                    "server key and certificate (tls.key/.pem). Existing files are kept unless "
                    "--force. Exit status: 0 done, 1 the directory's state needs --force or a "
                    "missing CA key, 2 I/O error.",
    )  # fmt: skip
    init.add_argument("--dir", type=Path, default=Path("certs"), help="default: certs")
    init.add_argument(
        "--hostname", action="append", dest="hostnames", metavar="H",
        help="DNS name or IP address for the TLS certificate (repeatable; default: "
             f"{' '.join(DEFAULT_HOSTNAMES)})",
    )  # fmt: skip
    init.add_argument("--organisation", default=DEFAULT_ORGANISATION, help="subject O=")
    init.add_argument("--force", action="store_true", help="replace existing files")
    init.set_defaults(func=cmd_certs_init)

    client = sub.add_parser(
        "client", help="issue a partner TLS client certificate from the CA",
        description="Issue a client certificate (EKU clientAuth) for a partner from the CA in "
                    "DIR; writes client-NAME.pem and client-NAME.key. Exit status: 0 done, 1 "
                    "refused (files exist, no CA), 2 I/O error.",
    )  # fmt: skip
    client.add_argument("common_name", metavar="NAME", help="subject CN, e.g. the partner id")
    client.add_argument("--dir", type=Path, default=Path("certs"), help="CA directory")
    client.add_argument("--out", type=Path, help="output directory (default: the CA directory)")
    client.add_argument("--organisation", default=DEFAULT_ORGANISATION, help="subject O=")
    client.add_argument("--force", action="store_true", help="replace existing files")
    client.set_defaults(func=cmd_certs_client)
