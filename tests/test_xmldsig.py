"""edigate.xmldsig against an independent XMLDSig implementation: xmlsec1 (libxmlsec1, OpenSSL).

xmlsec1 signs templates written into the sample document and verifies our signed responses. It
is required: the setup script installs it, so a missing xmlsec1 fails these tests (no skip).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

from edigate.xmldsig import (
    CODES,
    DS_NS,
    SignatureRejected,
    VerifiedXml,
    load_certificates,
    sign_enveloped,
    verify_enveloped,
)
from edigate.xmlsafe import XmlRejected, parse_untrusted

NS = "urn:edigate:xsd:cargo-report:1"
DS = f"{{{DS_NS}}}"
C = f"{{{NS}}}"

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"

#: the sample document; {id} is the root's ID attribute, {sig} where the template goes
SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- a cargo report for the signature tests -->
<CargoReport xmlns="urn:edigate:xsd:cargo-report:1"{id}>
  <Header>
    <DocumentNumber>CR-2024-0001</DocumentNumber>
    <Sender>PARTNER1</Sender>
  </Header>
  <Consignment ID="c1">
    <BillOfLading>BL123456</BillOfLading>
    <GrossWeight unit="KGM">1250.5</GrossWeight>
  </Consignment>
{sig}</CargoReport>
"""


def template(*, method: str = RSA_SHA256, digest: str = SHA256, uri: str = "",
             transforms: str | None = None, key_info: bool = True) -> str:
    """An XMLDSig template for xmlsec1 to fill in (DigestValue, SignatureValue, X509Data)."""
    if transforms is None:
        transforms = (f'<ds:Transform Algorithm="{ENVELOPED}"/>'
                      f'<ds:Transform Algorithm="{EXC_C14N}"/>')  # fmt: skip
    ki = "<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>" if key_info else ""
    return (
        f'  <ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
        f'<ds:SignatureMethod Algorithm="{method}"/>'
        f'<ds:Reference URI="{uri}"><ds:Transforms>{transforms}</ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference>'
        f"</ds:SignedInfo><ds:SignatureValue/>{ki}</ds:Signature>\n"
    )


def sample(sig: str = "", root_id: str | None = None) -> bytes:
    return SAMPLE.format(id=f' ID="{root_id}"' if root_id else "", sig=sig).encode()


# -- keys, certificates, xmlsec1 ----------------------------------------------------------------


@dataclass
class Party:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    cert: x509.Certificate
    key_path: Path
    cert_path: Path


def make_party(directory: Path, name: str, kind: str = "rsa", *, days: tuple[int, int] = (-1, 30),
               key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
               issuer: Party | None = None, ca: bool = False) -> Party:  # fmt: skip
    if key is None:
        key = (rsa.generate_private_key(65537, 2048) if kind == "rsa"
               else ec.generate_private_key(ec.SECP256R1()))  # fmt: skip
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edigate tests"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])  # fmt: skip
    now = datetime.now(UTC)
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
    )  # fmt: skip
    cert = builder.sign(signing_key, hashes.SHA256())
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Party(key, cert, key_path, cert_path)


def xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    # a failure, not a skip: without the peer these tests would prove nothing
    assert path is not None, "xmlsec1 is required for the XMLDSig tests (scripts install it)"
    return path


def xmlsec_sign(tmp_path: Path, document: bytes, party: Party, *extra: str) -> bytes:
    src, out = tmp_path / "template.xml", tmp_path / "signed.xml"
    src.write_bytes(document)
    out.unlink(missing_ok=True)
    run = subprocess.run(
        [xmlsec1(), "--sign", *extra, "--privkey-pem", f"{party.key_path},{party.cert_path}",
         "--output", str(out), str(src)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return out.read_bytes()


def xmlsec_verify(tmp_path: Path, document: bytes, trusted: Party) -> subprocess.CompletedProcess:
    src = tmp_path / "to-verify.xml"
    src.write_bytes(document)
    return subprocess.run(
        [xmlsec1(), "--verify", "--trusted-pem", str(trusted.cert_path), str(src)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def verify(data: bytes, certs: list[x509.Certificate], *, required: bool = True,
           at: datetime | None = None) -> VerifiedXml:  # fmt: skip
    return verify_enveloped(parse_untrusted(data), certs, required=required, at=at)


def rejected(data: bytes, certs: list[x509.Certificate], code: str,
             **kw: object) -> SignatureRejected:  # fmt: skip
    with pytest.raises(SignatureRejected) as info:
        verify(data, certs, **kw)  # type: ignore[arg-type]
    assert info.value.code == code, info.value
    assert isinstance(info.value, XmlRejected)
    assert info.value.text.startswith(CODES[code])
    return info.value


def texts(root: etree._Element) -> dict[str, str]:
    return {etree.QName(e).localname: (e.text or "").strip() for e in root.iter(etree.Element)}


def signature_line(data: bytes) -> int:
    sig = parse_untrusted(data).getroot().find(f"{DS}Signature")
    assert sig is not None
    return sig.sourceline or 0


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    d = tmp_path_factory.mktemp("pki")
    rsa_partner = make_party(d, "partner-rsa", "rsa")
    return {
        "rsa": rsa_partner,
        "ec": make_party(d, "partner-ec", "ec"),
        "other": make_party(d, "intruder", "rsa"),
        "expired": make_party(d, "expired", "rsa", days=(-60, -30)),
        # the same RSA key, re-certified (a renewal that kept the key)
        "renewed": make_party(d, "partner-rsa-renewed", key=rsa_partner.key),
        "gateway": make_party(d, "gateway-ec", "ec"),
        "gateway-rsa": make_party(d, "gateway-rsa", "rsa"),
    }


# -- signed by xmlsec1, verified by us ----------------------------------------------------------


def test_xmlsec1_rsa_sha256_verifies(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template()), p)
    v = verify(signed, [p.cert])
    assert v.signed and v.certificate == p.cert
    assert v.signer == p.cert.subject.rfc4514_string()
    assert (v.signature_algorithm, v.digest_algorithm) == (RSA_SHA256, SHA256)
    # the signed content, without the Signature
    assert v.root.tag == f"{C}CargoReport"
    assert v.root.find(f"{DS}Signature") is None
    assert texts(v.root)["GrossWeight"] == "1250.5"
    # line numbers are the submission's, not the canonical copy's
    original = parse_untrusted(signed).getroot()
    assert v.root.sourceline == original.sourceline == 3
    weight = v.root.find(f"{C}Consignment/{C}GrossWeight")
    assert weight is not None and weight.sourceline == 10


def test_xmlsec1_ecdsa_p256_sha256_verifies(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["ec"]
    signed = xmlsec_sign(tmp_path, sample(template(method=ECDSA_SHA256)), p)
    v = verify(signed, [p.cert])
    assert v.signed and v.signature_algorithm == ECDSA_SHA256
    assert texts(v.root)["DocumentNumber"] == "CR-2024-0001"


def test_reference_to_root_id_verifies(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template(uri="#r1"), root_id="r1"), p,
                         "--id-attr:ID", f"{NS}:CargoReport")  # fmt: skip
    v = verify(signed, [p.cert])
    assert v.signed and v.root.get("ID") == "r1"


def test_rollover_tries_each_partner_certificate(tmp_path: Path,
                                                 parties: dict[str, Party]) -> None:  # fmt: skip
    p, other = parties["rsa"], parties["other"]
    # no KeyInfo: each of the partner's certificates is tried
    bare = xmlsec_sign(tmp_path, sample(template(key_info=False)), p)
    assert verify(bare, [other.cert, p.cert]).certificate == p.cert
    # KeyInfo names the signer: only the matching partner certificate is used
    named = xmlsec_sign(tmp_path, sample(template()), p)
    assert verify(named, [other.cert, p.cert]).certificate == p.cert
    # a renewed certificate for the same key matches the KeyInfo certificate by public key
    v = verify(named, [parties["renewed"].cert])
    assert v.certificate == parties["renewed"].cert


def test_unsigned_not_required_passes(parties: dict[str, Party]) -> None:
    tree = parse_untrusted(sample())
    v = verify_enveloped(tree, [parties["rsa"].cert], required=False)
    assert v == VerifiedXml(signed=False, root=tree.getroot())
    assert v.signer is None and v.signature_algorithm is None


def test_unsigned_required_is_x201(parties: dict[str, Party]) -> None:
    err = rejected(sample(), [parties["rsa"].cert], "EDG-X201")
    assert err.line == 3  # the root element


# -- X202: does not verify ----------------------------------------------------------------------


def test_tampered_value_is_x202(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template()), p)
    assert xmlsec_verify(tmp_path, signed, p).returncode == 0
    tampered = signed.replace(b"1250.5", b"125.5")
    err = rejected(tampered, [p.cert], "EDG-X202")
    assert err.line == signature_line(tampered)
    # the peer agrees
    assert xmlsec_verify(tmp_path, tampered, p).returncode != 0


def test_added_content_is_x202(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["ec"]
    signed = xmlsec_sign(tmp_path, sample(template(method=ECDSA_SHA256)), p)
    added = signed.replace(b"</Header>", b"</Header><Consignment>injected</Consignment>")
    rejected(added, [p.cert], "EDG-X202")


def test_bad_signature_value_is_x202(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    tree = parse_untrusted(xmlsec_sign(tmp_path, sample(template()), p))
    value = tree.getroot().find(f"{DS}Signature/{DS}SignatureValue")
    assert value is not None and value.text
    # one character changed: still base64 of the right length, no longer the signature
    text = value.text.strip()
    value.text = text[:10] + ("B" if text[10] != "B" else "C") + text[11:]
    err = rejected(etree.tostring(tree), [p.cert], "EDG-X202")
    assert "SignatureValue does not verify with the signing certificate" in err.text


def test_unknown_key_without_key_info_is_x202(tmp_path: Path,
                                              parties: dict[str, Party]) -> None:  # fmt: skip
    # without a certificate in KeyInfo nothing says who signed: it simply does not verify
    bare = xmlsec_sign(tmp_path, sample(template(key_info=False)), parties["other"])
    err = rejected(bare, [parties["rsa"].cert], "EDG-X202")
    assert "any of the partner's 1 valid certificate" in err.text


# -- X203: algorithms ---------------------------------------------------------------------------


def test_sha1_signed_by_xmlsec1_is_x203(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    both = xmlsec_sign(tmp_path, sample(template(method=RSA_SHA1, digest=SHA1)), p)
    err = rejected(both, [p.cert], "EDG-X203")
    assert "rsa-sha1" in err.text
    digest_only = xmlsec_sign(tmp_path, sample(template(digest=SHA1)), p)
    err = rejected(digest_only, [p.cert], "EDG-X203")
    assert "sha1" in err.text
    method_only = xmlsec_sign(tmp_path, sample(template(method=RSA_SHA1)), p)
    rejected(method_only, [p.cert], "EDG-X203")


@pytest.mark.parametrize("old, new", [
    (RSA_SHA256, "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"),
    (RSA_SHA256, "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
    (RSA_SHA256, "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"),
    (RSA_SHA256, "http://www.w3.org/2009/xmldsig11#dsa-sha256"),
    (RSA_SHA256, "http://www.w3.org/2000/09/xmldsig#dsa-sha1"),
    (SHA256, "http://www.w3.org/2001/04/xmldsig-more#md5"),
    (f'CanonicalizationMethod Algorithm="{EXC_C14N}"',
     'CanonicalizationMethod Algorithm="http://www.w3.org/2010/xml-c14n2"'),
])  # fmt: skip
def test_refused_algorithms_are_x203(tmp_path: Path, parties: dict[str, Party],
                                     old: str, new: str) -> None:  # fmt: skip
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template()), p)
    rejected(signed.replace(old.encode(), new.encode(), 1), [p.cert], "EDG-X203")


def test_rsa_pss_is_allowed(parties: dict[str, Party]) -> None:
    # xmlsec1 1.2 cannot make RSA-PSS signatures; signxml's own signer stands in
    p = parties["rsa"]
    signer = XMLSigner(signature_algorithm="http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
                       c14n_algorithm=EXC_C14N)  # fmt: skip
    signed = signer.sign(parse_untrusted(sample()).getroot(), key=p.key, cert=[p.cert])
    v = verify(etree.tostring(signed), [p.cert])
    assert v.signed and v.signature_algorithm.endswith("sha256-rsa-MGF1")  # type: ignore[union-attr]


# -- X204: whose certificate --------------------------------------------------------------------


def test_key_not_the_partners_is_x204(tmp_path: Path, parties: dict[str, Party]) -> None:
    signed = xmlsec_sign(tmp_path, sample(template()), parties["other"])
    err = rejected(signed, [parties["rsa"].cert, parties["ec"].cert], "EDG-X204")
    assert "CN=intruder" in err.text and err.line == signature_line(signed)


def test_expired_partner_certificate_is_x204(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["expired"]
    signed = xmlsec_sign(tmp_path, sample(template()), p)
    err = rejected(signed, [p.cert], "EDG-X204")
    assert "not valid at" in err.text
    # it was valid then: verifying at a time inside its window passes
    then = p.cert.not_valid_before_utc + timedelta(days=1)
    assert verify(signed, [p.cert], at=then).signed
    # naive datetimes are UTC
    assert verify(signed, [p.cert], at=then.replace(tzinfo=None)).signed


def test_not_yet_valid_is_x204(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template()), p)
    rejected(signed, [p.cert], "EDG-X204", at=p.cert.not_valid_before_utc - timedelta(hours=1))


def test_no_partner_certificates_is_x204(tmp_path: Path, parties: dict[str, Party]) -> None:
    signed = xmlsec_sign(tmp_path, sample(template()), parties["rsa"])
    rejected(signed, [], "EDG-X204")


def test_partner_key_of_another_type_is_x204(tmp_path: Path,
                                             parties: dict[str, Party]) -> None:  # fmt: skip
    bare = xmlsec_sign(tmp_path, sample(template(method=ECDSA_SHA256, key_info=False)),
                       parties["ec"])  # fmt: skip
    rejected(bare, [parties["rsa"].cert], "EDG-X204")


# -- X205: shapes we refuse ---------------------------------------------------------------------


def test_two_signatures_are_x205(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    tree = parse_untrusted(xmlsec_sign(tmp_path, sample(template()), p))
    root = tree.getroot()
    sig = root.find(f"{DS}Signature")
    assert sig is not None
    root.append(copy.deepcopy(sig))
    err = rejected(etree.tostring(tree), [p.cert], "EDG-X205")
    assert "2 Signature elements" in err.text
    # a second one hidden deeper counts too
    tree = parse_untrusted(xmlsec_sign(tmp_path, sample(template()), p))
    header = tree.getroot().find(f"{C}Header")
    assert header is not None
    header.append(copy.deepcopy(tree.getroot()[-1]))
    rejected(etree.tostring(tree), [p.cert], "EDG-X205")


def test_reference_to_sub_element_is_x205(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template(uri="#c1")), p,
                         "--id-attr:ID", f"{NS}:Consignment")  # fmt: skip
    assert xmlsec_verify_with_ids(tmp_path, signed, p, "Consignment")  # xmlsec1 finds it valid
    err = rejected(signed, [p.cert], "EDG-X205")
    assert "'#c1'" in err.text


def xmlsec_verify_with_ids(tmp_path: Path, document: bytes, trusted: Party, element: str) -> bool:
    src = tmp_path / "to-verify.xml"
    src.write_bytes(document)
    run = subprocess.run(
        [xmlsec1(), "--verify", "--id-attr:ID", f"{NS}:{element}", "--trusted-pem",
         str(trusted.cert_path), str(src)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return run.returncode == 0


def test_signature_not_child_of_root_is_x205(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    tree = parse_untrusted(xmlsec_sign(tmp_path, sample(template()), p))
    root = tree.getroot()
    sig = root.find(f"{DS}Signature")
    header = root.find(f"{C}Header")
    assert sig is not None and header is not None
    header.append(sig)
    err = rejected(etree.tostring(tree), [p.cert], "EDG-X205")
    assert "child of the document's root" in err.text


def test_xpath_transform_is_x205(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    xpath = (f'<ds:Transform Algorithm="{XPATH}"><ds:XPath>not(ancestor-or-self::ds:Signature)'
             f'</ds:XPath></ds:Transform><ds:Transform Algorithm="{EXC_C14N}"/>')  # fmt: skip
    signed = xmlsec_sign(tmp_path, sample(template(transforms=xpath)), p)
    assert xmlsec_verify(tmp_path, signed, p).returncode == 0  # valid, just not our shape
    err = rejected(signed, [p.cert], "EDG-X205")
    assert XPATH in err.text


@pytest.mark.parametrize("old, new, why", [
    (b'URI=""', b'URI="http://example.invalid/doc.xml"', "external references"),
    (b'URI=""', b'URI="#xpointer(/)"', "does not designate the root"),
    (b'URI=""', b"", "reference URI None"),
    (f'<ds:Transform Algorithm="{ENVELOPED}"/>'.encode(),
     b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>',
     "REC-xslt"),
    (f'<ds:Transform Algorithm="{ENVELOPED}"/>'.encode(), b"", "enveloped-signature transform"),
    (b"<ds:KeyInfo>",
     b'<ds:KeyInfo><ds:RetrievalMethod URI="http://example.invalid/cert"/>', "RetrievalMethod"),
    (b"</ds:KeyInfo>", b'</ds:KeyInfo><ds:Object Id="o"/>', "ds:Object"),
    (b"</ds:SignedInfo>", b"<ds:Foo/></ds:SignedInfo>", "not a valid XMLDSig Signature"),
    (b"<ds:X509Data>", b"<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>AQAB</ds:Modulus>"
     b"<ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue><ds:X509Data>",
     "KeyValue that is not the certificate's key"),
])  # fmt: skip
def test_refused_shapes_are_x205(tmp_path: Path, parties: dict[str, Party],
                                 old: bytes, new: bytes, why: str) -> None:  # fmt: skip
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template()), p)
    assert old in signed
    changed = signed.replace(old, new, 1)
    err = rejected(changed, [p.cert], "EDG-X205")
    assert why in err.text
    assert err.line == signature_line(changed) == 12


def test_duplicate_id_is_x205(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template(uri="#r1"), root_id="r1"), p,
                         "--id-attr:ID", f"{NS}:CargoReport")  # fmt: skip
    # a second element carrying the root's id: signxml might digest either one
    dup = signed.replace(b'<Consignment ID="c1">', b'<Consignment Id="r1">')
    rejected(dup, [p.cert], "EDG-X205")


def test_damaged_key_info_certificate_is_x205(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    tree = parse_untrusted(xmlsec_sign(tmp_path, sample(template()), p))
    cert = tree.getroot().find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    assert cert is not None
    cert.text = "bm90IGEgY2VydGlmaWNhdGU="
    rejected(etree.tostring(tree), [p.cert], "EDG-X205")


def test_signature_wrapping_is_refused(tmp_path: Path, parties: dict[str, Party]) -> None:
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template(uri="#r1"), root_id="r1"), p,
                         "--id-attr:ID", f"{NS}:CargoReport")  # fmt: skip
    original = parse_untrusted(signed).getroot()
    sig = original.find(f"{DS}Signature")
    assert sig is not None
    original.remove(sig)
    # the attacker's root: injected content, the genuine signature as its child, and the signed
    # element tucked away where a careless application would not look
    evil = etree.Element(f"{C}CargoReport", nsmap={None: NS})
    injected = etree.SubElement(evil, f"{C}Consignment")
    etree.SubElement(injected, f"{C}BillOfLading").text = "INJECTED"
    evil.append(sig)
    wrapper = etree.SubElement(evil, f"{C}Extension")
    wrapper.append(original)
    attack = etree.tostring(evil)
    err = rejected(attack, [p.cert], "EDG-X205")
    assert "'#r1'" in err.text
    # and the other classic: the signed document moved under a new root, signature and all
    evil2 = etree.Element(f"{C}CargoReport", nsmap={None: NS})
    etree.SubElement(evil2, f"{C}Consignment").text = "INJECTED"
    evil2.append(parse_untrusted(signed).getroot())
    try:
        v = verify(etree.tostring(evil2), [p.cert])
    except SignatureRejected as exc:
        assert exc.code == "EDG-X205"
    else:  # pragma: no cover - the brief's fallback: whatever passes must exclude the injection
        assert b"INJECTED" not in etree.tostring(v.root)


def test_unsigned_content_is_not_returned(tmp_path: Path, parties: dict[str, Party]) -> None:
    # comments are not signed by exclusive c14n: what we return has none
    p = parties["rsa"]
    signed = xmlsec_sign(tmp_path, sample(template()), p)
    commented = signed.replace(b"<Header>", b"<Header><!-- unsigned remark -->")
    v = verify(commented, [p.cert])
    assert b"unsigned remark" not in etree.tostring(v.root)


def test_rejection_is_an_xml_rejection(parties: dict[str, Party]) -> None:
    with pytest.raises(XmlRejected) as info:
        verify(sample(), [parties["rsa"].cert])
    assert str(info.value).startswith("[EDG-X201]") and "(line 3" in str(info.value)


# -- our signatures, verified by xmlsec1 and by us ----------------------------------------------


@pytest.mark.parametrize("who, method", [("gateway", ECDSA_SHA256),
                                         ("gateway-rsa", RSA_SHA256)])  # fmt: skip
def test_sign_enveloped_verifies_with_xmlsec1(tmp_path: Path, parties: dict[str, Party],
                                              who: str, method: str) -> None:  # fmt: skip
    g = parties[who]
    response = parse_untrusted(sample()).getroot()
    before = etree.tostring(response)
    signed = sign_enveloped(response, g.key, g.cert)
    assert etree.tostring(response) == before  # the input is left alone
    sig = signed[-1]
    assert sig.tag == f"{DS}Signature"  # the last child, where our schemas put it
    assert sig.find(f"{DS}SignedInfo/{DS}SignatureMethod").get("Algorithm") == method  # type: ignore[union-attr]
    ref = sig.find(f"{DS}SignedInfo/{DS}Reference")
    assert ref is not None and ref.get("URI") == ""
    assert [t.get("Algorithm") for t in ref.iter(f"{DS}Transform")] == [ENVELOPED, EXC_C14N]
    data = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    run = xmlsec_verify(tmp_path, data, g)
    assert run.returncode == 0, run.stderr
    assert "OK" in run.stdout + run.stderr
    # xmlsec1 is not a rubber stamp: the same document altered fails
    assert xmlsec_verify(tmp_path, data.replace(b"BL123456", b"BL654321"), g).returncode != 0
    v = verify(data, [g.cert])
    assert v.signed and v.signature_algorithm == method
    assert texts(v.root) == texts(parse_untrusted(sample()).getroot())


def test_sign_enveloped_with_chain(tmp_path: Path) -> None:
    ca = make_party(tmp_path, "ca", "ec", ca=True)
    leaf = make_party(tmp_path, "leaf", "ec", issuer=ca)
    signed = sign_enveloped(parse_untrusted(sample()).getroot(), leaf.key, leaf.cert,
                            chain=[ca.cert])  # fmt: skip
    certs = signed.findall(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    assert len(certs) == 2
    data = etree.tostring(signed)
    assert verify(data, [leaf.cert]).certificate == leaf.cert
    # the CA certificate in KeyInfo does not make the CA a trust anchor for signatures
    rejected(data, [ca.cert], "EDG-X204")
    run = subprocess.run([xmlsec1(), "--verify", "--trusted-pem", str(ca.cert_path), "-"],
                         input=data, capture_output=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_sign_enveloped_refusals(parties: dict[str, Party]) -> None:
    g, other = parties["gateway"], parties["other"]
    root = parse_untrusted(sample()).getroot()
    with pytest.raises(ValueError, match="not the signing key"):
        sign_enveloped(root, g.key, other.cert)
    signed = sign_enveloped(root, g.key, g.cert)
    with pytest.raises(ValueError, match="already holds"):
        sign_enveloped(signed, g.key, g.cert)


# -- certificates -------------------------------------------------------------------------------


def test_load_certificates(parties: dict[str, Party]) -> None:
    pem = parties["rsa"].cert_path.read_bytes() + parties["ec"].cert_path.read_bytes()
    assert load_certificates(pem) == [parties["rsa"].cert, parties["ec"].cert]
    assert load_certificates(pem.decode()) == [parties["rsa"].cert, parties["ec"].cert]
    with pytest.raises(ValueError):
        load_certificates(b"")
    with pytest.raises(ValueError):
        load_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
