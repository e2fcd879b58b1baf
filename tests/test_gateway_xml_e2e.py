"""XML submissions end to end: the real gateway process over HTTPS, a real RabbitMQ broker, XML
signed by an independent implementation (xmlsec1), acknowledgements and customs responses
checked against the schema we publish and verified as signed by the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from lxml import etree

from edigate.canonical.model import CustomsResponse, ResponseReason, from_json
from edigate.receipts import verify_receipt
from edigate.xmldsig import load_certificates, verify_enveloped
from edigate.xmlsafe import parse_untrusted
from edigate.xmlvalidate import load_schema
from edigate.xsd import EXAMPLES_DIR, XSD_DIR

from .gateway_harness import Gateway, running
from .test_gateway_e2e import _eventually
from .test_pipeline_xml import _big_batch
from .test_xmldsig import ECDSA_SHA256, make_party, template, xmlsec_sign

CR = "{urn:edigate:xsd:customs-response:1}"
SKY_KEY = "skyxml-key"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("xmlgw")
    keys = root / "partner-keys"
    keys.mkdir()
    party = make_party(keys, "skyxml", "ec")
    import hashlib

    extra = f"""
[[partners]]
id = "SKYXML"
name = "XML forwarder: signed documents, XML answers"
api_key_sha256 = ["{hashlib.sha256(SKY_KEY.encode()).hexdigest()}"]
document_types = ["CargoReport", "HouseConsignmentBatch", "Declaration"]
response_format = "xml"
xml_signature = "required"
xml_signing_certificates = ["partner-keys/skyxml.pem"]
sign_xml_answers = true
"""
    for gateway in running(root, extra=extra, max_body=16 << 20):
        gateway.party = party  # type: ignore[attr-defined]
        yield gateway


def _ack(answer: dict[str, object]) -> etree._Element:
    ack = answer["acknowledgement"]
    assert isinstance(ack, dict) and ack["content_type"] == "application/xml"
    tree = parse_untrusted(str(ack["text"]).encode())
    schema = load_schema(XSD_DIR / "customs-response-1.xsd")
    assert schema.validate(tree), schema.error_log
    return tree.getroot()


def _signed_by_xmlsec1(tmp_path: Path, gw: Gateway, name: str) -> bytes:
    data = (EXAMPLES_DIR / name).read_bytes()
    closing = data.rindex(b"</")
    with_template = data[:closing] + template(method=ECDSA_SHA256).encode() + data[closing:]
    return xmlsec_sign(tmp_path, with_template, gw.party)  # type: ignore[attr-defined]


def _gateway_certificate(gw: Gateway) -> list[object]:
    return load_certificates((gw.root / "certs" / "gateway-signing.pem").read_bytes())


def test_declaration_travels_to_both_backends(gw: Gateway) -> None:
    status, answer = gw.submit((EXAMPLES_DIR / "declaration-import.xml").read_bytes(),
                               content_type="application/xml")  # fmt: skip
    assert status == 202 and answer["outcome"] == "accepted", answer
    sid = answer["submission_id"]
    ack = _ack(answer)
    assert ack.findtext(CR + "MessageID") == sid
    assert ack.findtext(CR + "OutcomeCode") == "accepted"
    assert verify_receipt(json.dumps(answer["receipt"]).encode()).receipt.outcome == "accepted"
    for queue in ("declarations", "census"):
        ((props, body),) = gw.drain(gw.queues[queue], 1)
        doc = from_json(body)
        assert doc.declaration is not None and doc.declaration.declaration_type == "import"
        assert doc.provenance is not None and doc.provenance.source_format == "xml"
        assert props.headers["x-edigate-message-type"] == "Declaration"
        assert props.headers["x-edigate-message-version"] == "urn:edigate:xsd:declaration:1"
        assert props.message_id == f"{sid}-1"
    # the acknowledgement is kept with the submission
    code, headers, body = gw.request("GET", f"/v1/submissions/{sid}/acknowledgement")
    assert code == 200 and headers["content-type"].startswith("application/xml")
    assert body == str(answer["acknowledgement"]["text"]).encode()  # type: ignore[index]


def test_schema_invalid_document_is_rejected_with_positions(gw: Gateway) -> None:
    data = (EXAMPLES_DIR / "cargo-report-road.xml").read_bytes().replace(
        b"<c:ModeCode>3</c:ModeCode>", b"<c:ModeCode>road</c:ModeCode>", 1)
    status, answer = gw.submit(data, content_type="application/xml")
    assert status == 422 and answer["outcome"] == "rejected"
    ack = _ack(answer)
    (finding,) = ack.iter(CR + "Finding")
    assert finding.findtext(CR + "Code") == "EDG-X102"
    assert finding.findtext(CR + "XPath") == "/CargoReport/BorderTransportMeans/ModeCode"
    line = data[:data.index(b"<c:ModeCode>road")].count(b"\n") + 1
    assert finding.findtext(CR + "LineNumeric") == str(line)
    assert gw.drain(gw.queues["cargo"], 1, timeout=2) == []


def test_partner_requiring_signatures(gw: Gateway, tmp_path: Path) -> None:
    unsigned = (EXAMPLES_DIR / "cargo-report-air.xml").read_bytes()
    status, answer = gw.submit(unsigned, key=SKY_KEY, content_type="application/xml")
    assert status == 422 and answer["error"]["code"] == "EDG-X201"  # type: ignore[index]
    signed = _signed_by_xmlsec1(tmp_path, gw, "cargo-report-air.xml")
    status, answer = gw.submit(signed, key=SKY_KEY, content_type="application/xml")
    assert status == 202 and answer["outcome"] == "accepted", answer
    # the acknowledgement is signed by the gateway (the partner's profile asks)
    ack = _ack(answer)
    verified = verify_enveloped(ack.getroottree(), _gateway_certificate(gw), required=True)
    assert verified.signed
    ((props, body),) = gw.drain(gw.queues["cargo"], 1)
    assert props.headers["x-edigate-partner"] == "SKYXML"
    assert from_json(body).header.type == "cargo_report"
    # changed after signing: refused, nothing routed
    tampered = signed.replace(b"CX0084", b"CX0085", 1)
    status, answer = gw.submit(tampered, key=SKY_KEY, content_type="application/xml")
    assert status == 422 and answer["error"]["code"] == "EDG-X202"  # type: ignore[index]
    assert gw.drain(gw.queues["cargo"], 1, timeout=2) == []
    _, metrics = gw.ops_get("/metrics")
    assert (b'edigate_submission_errors_total{channel="https",code="EDG-X202",format="xml"} 1.0'
            in metrics)


def test_customs_response_comes_back_as_signed_xml(gw: Gateway, tmp_path: Path) -> None:
    signed = _signed_by_xmlsec1(tmp_path, gw, "declaration-export.xml")
    status, answer = gw.submit(signed, key=SKY_KEY, content_type="application/xml")
    assert status == 202, answer
    sid = str(answer["submission_id"])
    assert len(gw.drain(gw.queues["declarations"], 1)) == 1
    gw.drain(gw.queues["census"], 1)
    response = CustomsResponse(status="rejected", response_to="LRN-X", customs_reference="HKX1",
                               response_to_message_id=f"{sid}-1", reasons=[ResponseReason(
                                   code="D104", text="origin differs", pointer="consignments")])
    gw.publish_response(msgspec.json.encode(response), correlation_id=sid, message_id="rx-1")
    assert _eventually(lambda: gw.request("GET", f"/v1/submissions/{sid}/response",
                                          key=SKY_KEY)[0] == 200)  # fmt: skip
    _, headers, body = gw.request("GET", f"/v1/submissions/{sid}/response", key=SKY_KEY)
    assert headers["content-type"].startswith("application/xml")
    tree = parse_untrusted(body)
    assert load_schema(XSD_DIR / "customs-response-1.xsd").validate(tree)
    verified = verify_enveloped(tree, _gateway_certificate(gw), required=True)
    root = verified.root
    assert root.findtext(CR + "StatusCode") == "rejected"
    assert root.findtext(f"{CR}ResponseTo/{CR}MessageID") == f"{sid}-1"
    assert [r.findtext(CR + "Code") for r in root.iter(CR + "Reason")] == ["D104"]


def test_large_batch_streams_to_the_queue(gw: Gateway) -> None:
    data = _big_batch(1500)
    assert len(data) > 1 << 20  # above large_submission_bytes: the large worker, streamed
    status, answer = gw.submit(data, content_type="application/xml")
    assert status == 202 and answer["outcome"] == "accepted", answer
    got = gw.drain(gw.queues["cargo"], 1500, timeout=120)
    assert len(got) == 1500
    sequences = sorted(from_json(body).consignments[0].sequence or 0 for _, body in got)
    assert sequences == list(range(1, 1501))
    assert {props.headers["x-edigate-message-type"] for props, _ in got} == {"HouseConsignment"}
