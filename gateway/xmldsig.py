"""XML signatures (XMLDSig) on XML submissions and on the gateway's XML responses.

One shape only, the one our schemas allow: an *enveloped* signature, a single ``ds:Signature`` as a
child of the document's root (the last child in our schemas), with one ``ds:Reference`` covering
the whole document (``URI=""``, or ``URI="#id"`` naming the root element itself) through the
enveloped-signature transform and a canonicalisation transform. Everything else is refused before
any cryptography runs (docs/xml-signatures.md has the codes):

====  ==========================================================================================
X201  the partner's profile requires a signature and the document has none
X202  the signature does not verify (a digest mismatch after tampering, a bad SignatureValue)
X203  an algorithm outside the allow-list (SHA-1, MD5, DSA, HMAC... refused)
X204  the signing certificate is not one of the partner's, or not valid at the time of checking
X205  a malformed signature: more than one, not a child of the root, a reference that does not
      cover the whole document, XPath/XSLT/other transforms, external references, Objects
====  ==========================================================================================

Trust: the partner's certificates (configured out of band) are the only trust anchors. A
certificate in ``KeyInfo`` is never trusted on its own: it only selects which of the partner's
certificates (same DER, or same public key) verifies the signature; without one, each of the
partner's certificates is tried (key rollover). signxml does the canonicalisation, reference
processing and signature check, always with a partner certificate (its ``x509_cert``).

See what is signed: for a signed document, callers must continue with ``VerifiedXml.root``, which
is what signxml says was signed (re-parsed from the canonical bytes that were digested), never
with the tree they passed in; that is what defeats signature wrapping.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)

from .xmlsafe import XmlRejected

__all__ = [
    "CODES",
    "DS_NS",
    "SignatureRejected",
    "VerifiedXml",
    "load_certificates",
    "sign_enveloped",
    "verify_enveloped",
]

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

#: documented codes (docs/xml-signatures.md)
CODES = {
    "EDG-X201": "a signature is required for this partner but the document is not signed",
    "EDG-X202": "the signature does not verify",
    "EDG-X203": "signature algorithm not allowed",
    "EDG-X204": "the signing certificate is not trusted for this partner",
    "EDG-X205": "malformed signature",
}

#: RSA PKCS#1 v1.5, RSA-PSS (MGF1, salt = digest length) and ECDSA, with SHA-2 only
SIGNATURE_METHODS = frozenset({
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512,
    SignatureMethod.SHA256_RSA_MGF1, SignatureMethod.SHA384_RSA_MGF1,
    SignatureMethod.SHA512_RSA_MGF1,
    SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384, SignatureMethod.ECDSA_SHA512,
})  # fmt: skip
DIGEST_ALGORITHMS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384,
                               DigestAlgorithm.SHA512})  # fmt: skip
C14N_METHODS = frozenset(m.value for m in CanonicalizationMethod)
_SIGNATURE_URIS = frozenset(m.value for m in SIGNATURE_METHODS)
_DIGEST_URIS = frozenset(d.value for d in DIGEST_ALGORITHMS)
#: the attribute names signxml resolves "#id" references against (any namespace, so xml:id too)
_ID_NAMES = frozenset({"Id", "ID", "id"})
_SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def _ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


class SignatureRejected(XmlRejected):
    """A refused signature; an ``XmlRejected`` so the XML channel answers it like any other."""


@dataclass(frozen=True, slots=True)
class VerifiedXml:
    """The outcome of ``verify_enveloped``: process ``root`` from now on, nothing else."""

    signed: bool
    #: signed: only what was signed (no Signature, no comments); unsigned: the original root
    root: etree._Element
    #: RFC 4514 subject of the partner certificate that verified the signature
    signer: str | None = None
    #: algorithm URIs as written in SignedInfo
    signature_algorithm: str | None = None
    digest_algorithm: str | None = None
    #: the partner certificate that verified the signature
    certificate: x509.Certificate | None = None


def load_certificates(pem: bytes | str) -> list[x509.Certificate]:
    """Every PEM certificate in ``pem``, fully decoded; ``ValueError`` when there is none or one
    is damaged (cryptography decodes lazily, so this touches every part once, now)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(data)
        for c in certs:
            _ = c.subject, c.issuer, c.not_valid_before_utc, c.not_valid_after_utc
            _ = list(c.extensions), c.public_key()
    except Exception as exc:  # whatever the cause, one meaning: unusable certificates
        raise ValueError(f"not PEM certificates, or a malformed one ({exc})") from None
    if not certs:
        raise ValueError("no PEM certificate found")
    return certs


# -- verifying ----------------------------------------------------------------------------------


def _reject(code: str, detail: str, element: etree._Element | None) -> SignatureRejected:
    line = (element.sourceline or 0) if element is not None else 0
    return SignatureRejected(code, f"{CODES[code]}: {detail}", line)


def _parser() -> etree.XMLParser:
    # the same policy as edigate.xmlsafe for everything signxml parses (copies, signed bytes)
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, collect_ids=False)  # fmt: skip


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(*_SPKI)


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "<unreadable subject>"


def _key_fits(cert: x509.Certificate, method: SignatureMethod) -> bool:
    key = cert.public_key()
    if method.name.startswith("ECDSA_"):
        return isinstance(key, ec.EllipticCurvePublicKey)
    return isinstance(key, rsa.RSAPublicKey)


def _may_sign(cert: x509.Certificate) -> bool:
    # no keyUsage means any use; one that is present must allow signatures
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool(ku.digital_signature or ku.content_commitment)


def _id_values(element: etree._Element) -> set[str]:
    return {v for k, v in element.attrib.items() if etree.QName(k).localname in _ID_NAMES}


def _check_structure(root: etree._Element, sig: etree._Element) -> tuple[str, str]:
    """Refuse any shape but ours (X205) and algorithms off the list (X203); returns the
    signature and digest algorithm URIs."""
    if sig.getparent() is not root:
        raise _reject("EDG-X205", "the Signature must be a child of the document's root element",
                      sig)  # fmt: skip
    if sig.find(_ds("Object")) is not None:
        raise _reject("EDG-X205", "ds:Object is not allowed in an enveloped signature", sig)
    infos = sig.findall(_ds("SignedInfo"))
    if len(infos) != 1:
        raise _reject("EDG-X205", "the Signature must have exactly one SignedInfo", sig)
    info = infos[0]
    c14n = info.find(_ds("CanonicalizationMethod"))
    method = info.find(_ds("SignatureMethod"))
    if c14n is None or method is None:
        raise _reject("EDG-X205", "SignedInfo lacks CanonicalizationMethod or SignatureMethod", sig)
    if c14n.get("Algorithm") not in C14N_METHODS:
        raise _reject("EDG-X203", f"canonicalisation {c14n.get('Algorithm')!r}", sig)
    signature_uri = method.get("Algorithm") or ""
    if signature_uri not in _SIGNATURE_URIS:
        raise _reject("EDG-X203", f"signature method {signature_uri!r}", sig)
    refs = info.findall(_ds("Reference"))
    if len(refs) != 1:
        raise _reject("EDG-X205", f"exactly one Reference (to the whole document) is allowed, "
                                  f"found {len(refs)}", sig)  # fmt: skip
    ref = refs[0]
    digest = ref.find(_ds("DigestMethod"))
    digest_uri = (digest.get("Algorithm") if digest is not None else None) or ""
    if digest_uri not in _DIGEST_URIS:
        raise _reject("EDG-X203", f"digest method {digest_uri!r}", sig)
    uri = ref.get("URI")
    if uri is None or (uri and not uri.startswith("#")):
        raise _reject("EDG-X205", f"reference URI {uri!r}: only \"\" or \"#id\" of the root "
                                  "element (no external references)", sig)  # fmt: skip
    if uri:
        target = uri[1:]
        # the root must carry the id and nothing else may: signxml searches Id, then ID, then
        # id over the whole document, so a duplicate elsewhere could be what it digests
        holders = [e for e in root.iter(etree.Element) if target in _id_values(e)]
        if holders != [root]:
            raise _reject("EDG-X205", f"reference {uri!r} does not designate the root element "
                                      "alone (a signature must cover the whole document)",
                          sig)  # fmt: skip
    transforms = ref.findall(f"{_ds('Transforms')}/{_ds('Transform')}")
    algorithms = [t.get("Algorithm") for t in transforms]
    for alg in algorithms:
        if alg != ENVELOPED and alg not in C14N_METHODS:
            raise _reject("EDG-X205", f"transform {alg!r} is not allowed (only enveloped-"
                                      "signature and canonicalisation)", sig)  # fmt: skip
    if ENVELOPED not in algorithms:
        raise _reject("EDG-X205", "the reference lacks the enveloped-signature transform", sig)
    key_info = sig.find(_ds("KeyInfo"))
    if key_info is not None and key_info.find(_ds("RetrievalMethod")) is not None:
        raise _reject("EDG-X205", "KeyInfo/RetrievalMethod (an external reference) is not "
                                  "allowed", sig)  # fmt: skip
    return signature_uri, digest_uri


def _key_info_certificates(sig: etree._Element) -> list[x509.Certificate]:
    found = []
    for element in sig.iterfind(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}"):
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            found.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError):
            raise _reject("EDG-X205", "an X509Certificate in KeyInfo is not a certificate",
                          sig) from None  # fmt: skip
    return found


def _candidates(sig: etree._Element, certificates: Sequence[x509.Certificate],
                method: SignatureMethod, at: datetime) -> tuple[list[x509.Certificate], bool]:
    """The partner certificates to try, and whether KeyInfo named the signer."""
    if not certificates:
        raise _reject("EDG-X204", "the partner has no certificates configured", sig)
    offered = _key_info_certificates(sig)
    named = bool(offered)
    if named:
        ders = {c.public_bytes(serialization.Encoding.DER) for c in offered}
        keys = {_spki(c) for c in offered}
        chosen = [c for c in certificates
                  if c.public_bytes(serialization.Encoding.DER) in ders or _spki(c) in keys]
        if not chosen:
            raise _reject("EDG-X204", "the certificate in KeyInfo ("
                          + "; ".join(_subject(c) for c in offered)
                          + ") is not one of the partner's certificates", sig)  # fmt: skip
    else:
        chosen = list(certificates)
    fitting = [c for c in chosen if _key_fits(c, method)]
    if not fitting:
        raise _reject("EDG-X204", f"no partner certificate has a key for {method.value}", sig)
    usable = [c for c in fitting if _may_sign(c)]
    if not usable:
        raise _reject("EDG-X204", "the partner certificate's key usage does not allow "
                                  "signatures", sig)  # fmt: skip
    valid = [c for c in usable if c.not_valid_before_utc <= at <= c.not_valid_after_utc]
    if not valid:
        spans = "; ".join(f"{_subject(c)} valid {c.not_valid_before_utc.isoformat()} .. "
                          f"{c.not_valid_after_utc.isoformat()}" for c in usable)
        raise _reject("EDG-X204", f"the partner certificate is not valid at {at.isoformat()} "
                                  f"({spans})", sig)  # fmt: skip
    return valid, named


def _copy_lines(original: etree._Element, signed: etree._Element, sig: etree._Element) -> None:
    # the signed tree is re-parsed from canonical bytes, so its line numbers count from the
    # root's start tag; give its elements the lines they had in the submission (for the error
    # positions of later checks) when both trees have the same elements in the same order
    mine = [e for e in original.iter(etree.Element)
            if e is not sig and sig not in e.iterancestors()]  # fmt: skip
    theirs = list(signed.iter(etree.Element))
    if len(mine) != len(theirs) or any(a.tag != b.tag for a, b in zip(mine, theirs, strict=True)):
        return
    for a, b in zip(mine, theirs, strict=True):
        if a.sourceline:
            b.sourceline = a.sourceline


def verify_enveloped(tree_or_root: etree._ElementTree | etree._Element,
                     certificates: Sequence[x509.Certificate], *, required: bool,
                     at: datetime | None = None) -> VerifiedXml:  # fmt: skip
    """Check the enveloped signature of a parsed submission (``edigate.xmlsafe.parse_untrusted``)
    against the partner's ``certificates`` at time ``at`` (now by default; naive means UTC).

    Unsigned: ``SignatureRejected`` EDG-X201 if ``required``, else the original root with
    ``signed=False``. Signed: the signed content, or ``SignatureRejected`` (X202-X205) with the
    line of the Signature element (or of the offending element inside it)."""
    root = tree_or_root.getroot() if isinstance(tree_or_root, etree._ElementTree) else tree_or_root
    when = datetime.now(UTC) if at is None else at if at.tzinfo else at.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    signatures = list(root.iter(_ds("Signature")))
    if not signatures:
        if required:
            raise _reject("EDG-X201", "no ds:Signature element", root)
        return VerifiedXml(signed=False, root=root)
    if len(signatures) > 1:
        raise _reject("EDG-X205", f"{len(signatures)} Signature elements, one is allowed",
                      signatures[1])  # fmt: skip
    sig = signatures[0]
    signature_uri, digest_uri = _check_structure(root, sig)
    method = SignatureMethod(signature_uri)
    candidates, named = _candidates(sig, certificates, method, when)
    config = SignatureConfiguration(
        require_x509=True, location="./", expect_references=1,
        signature_methods=SIGNATURE_METHODS, digest_algorithms=DIGEST_ALGORITHMS,
        verification_time=when,
    )  # fmt: skip
    for cert in candidates:
        try:
            # a new verifier each time: XMLVerifier keeps per-call state on itself
            result = XMLVerifier().verify(root, x509_cert=cert, expect_config=config,
                                          parser=_parser(), validate_schema=True)  # fmt: skip
        except InvalidDigest as exc:
            # the SignatureValue verified with this certificate, the content changed since
            raise _reject("EDG-X202", f"{exc} (the document was altered after signing)",
                          sig) from None  # fmt: skip
        except InvalidCertificate as exc:  # the window was checked above; kept for safety
            raise _reject("EDG-X204", str(exc), sig) from None
        except InvalidSignature:
            continue  # another of the partner's certificates may be the one (rollover)
        except InvalidInput as exc:
            code = "EDG-X203" if "forbidden by configuration" in str(exc) else "EDG-X205"
            detail = str(exc)
            if "different public keys" in detail:  # signxml's text suggests a bypass; ours not
                detail = "KeyInfo holds a KeyValue that is not the certificate's key"
            raise _reject(code, detail, sig) from None
        except etree.DocumentInvalid as exc:  # signxml's check against the XMLDSig schema
            raise _reject("EDG-X205", f"not a valid XMLDSig Signature ({exc})", sig) from None
        except (SignXMLException, ValueError, TypeError, NotImplementedError) as exc:
            raise _reject("EDG-X205", f"{type(exc).__name__}: {exc}", sig) from None
        assert not isinstance(result, list)  # expect_references=1 gives one result
        signed = result.signed_xml
        if signed is None:
            raise _reject("EDG-X205", "the signed content is not an XML element", sig)
        _copy_lines(root, signed, sig)
        return VerifiedXml(signed=True, root=signed, signer=_subject(cert),
                           signature_algorithm=signature_uri, digest_algorithm=digest_uri,
                           certificate=cert)  # fmt: skip
    which = ("the signing certificate from KeyInfo" if named
             else f"any of the partner's {len(candidates)} valid certificate(s)")
    raise _reject("EDG-X202", f"the SignatureValue does not verify with {which} (SignedInfo "
                              "altered, or signed with another key)", sig)  # fmt: skip


# -- signing ------------------------------------------------------------------------------------


def sign_enveloped(root: etree._Element,
                   key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
                   certificate: x509.Certificate, *,
                   chain: Sequence[x509.Certificate] = ()) -> etree._Element:  # fmt: skip
    """A signed copy of ``root``: an enveloped signature over the whole document (``URI=""``,
    exclusive c14n, SHA-256; ECDSA-SHA256 for EC keys, RSA-SHA256 for RSA keys) appended as the
    root's last child, with ``certificate`` then ``chain`` in KeyInfo/X509Data. ``root`` itself is
    not changed. ``ValueError`` for another key type, a certificate of another key, or a document
    that already holds a Signature."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        method = SignatureMethod.ECDSA_SHA256
    elif isinstance(key, rsa.RSAPrivateKey):
        method = SignatureMethod.RSA_SHA256
    else:
        raise ValueError(f"cannot sign XML with a {type(key).__name__}: ECDSA or RSA only")
    if _spki(certificate) != key.public_key().public_bytes(*_SPKI):
        raise ValueError("the certificate is not the signing key's")
    if next(root.iter(_ds("Signature")), None) is not None:
        raise ValueError("the document already holds a ds:Signature")
    signer = XMLSigner(
        signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )  # fmt: skip
    signed: etree._Element = signer.sign(root, key=key, cert=[certificate, *chain])
    return signed
