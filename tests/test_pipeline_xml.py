"""XML submissions through the workers' stage (``process_submission``): documents, batches
(whole and streamed), schema findings, hostile input, signatures, permissions, and the XML
Acknowledgement, which must validate against the schema we publish."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from edigate.certs import init_certs
from edigate.pipeline import process
from edigate.pipeline.process import ReceiptContext, process_submission, read_documents
from edigate.xmldsig import load_certificates, sign_enveloped, verify_enveloped
from edigate.xmlsafe import parse_untrusted
from edigate.xmlvalidate import load_schema
from edigate.xsd import EXAMPLES_DIR, XSD_DIR

from .test_xmldsig import make_party

NOW = datetime(2024, 3, 12, 9, 0, tzinfo=UTC)
CR = "{urn:edigate:xsd:customs-response:1}"


def ctx(**kw: object) -> ReceiptContext:
    base: dict[str, object] = dict(
        submission_id="0190f3a1b2c3d4e5f6a7b8c9d0e1f2a3", partner_id="SKYHK", channel="https",
        received_at=NOW, payload_sha256="ab" * 32, payload_size=1234, node_id="test")
    base.update(kw)
    return ReceiptContext(**base)  # type: ignore[arg-type]


def example(name: str) -> bytes:
    return (EXAMPLES_DIR / name).read_bytes()


def ack_of(result: process.ProcessResult) -> etree._Element:
    """The acknowledgement, checked against the published schema first."""
    assert result.ack_content_type == "application/xml" and result.acknowledgement
    tree = parse_untrusted(result.acknowledgement)
    schema = load_schema(XSD_DIR / "customs-response-1.xsd")
    assert schema.validate(tree), schema.error_log
    return tree.getroot()


def texts(el: etree._Element, name: str) -> list[str]:
    return [e.text or "" for e in el.iter(CR + name)]


@pytest.mark.parametrize("name,documents,doc_type", [
    ("cargo-report-sea.xml", 1, "cargo_report"),
    ("cargo-report-air.xml", 1, "cargo_report"),
    ("cargo-report-road.xml", 1, "cargo_report"),
    ("road-aci.xml", 1, "advance_cargo_information"),
    ("declaration-import.xml", 1, "declaration"),
    ("declaration-export.xml", 1, "declaration"),
    ("house-consignment-batch.xml", 3, "house_consignment_report"),
])
def test_examples_are_accepted_and_acknowledged(name: str, documents: int, doc_type: str) -> None:
    r = process_submission(example(name), None, context=ctx(), now=NOW)
    assert r.format == "xml" and r.outcome == "accepted", r.problems
    assert r.document_count == documents == len(r.documents)
    root = etree.fromstring(example(name))
    for d in r.documents:
        canonical = json.loads(d.canonical)
        assert d.document_type == canonical["header"]["type"] == doc_type
        assert canonical["provenance"]["source_format"] == "xml"
        assert canonical["provenance"]["sender"] == "SKYHK"
        assert d.message_version == root.nsmap[None]
        assert d.receipt is None  # no signer in this process
    ack = ack_of(r)
    assert texts(ack, "OutcomeCode")[0] == "accepted"
    assert texts(ack, "MessageID") == ["0190f3a1b2c3d4e5f6a7b8c9d0e1f2a3"]
    assert texts(ack, "PayloadSHA256") == ["ab" * 32]
    assert len(list(ack.iter(CR + "DocumentOutcome"))) == documents


def test_declaration_values_reach_the_document() -> None:
    r = process_submission(example("declaration-import.xml"), None, context=ctx(), now=NOW)
    (d,) = r.documents
    doc = json.loads(d.canonical)
    assert doc["declaration"]["declaration_type"] == "import"
    assert doc["declaration"]["due_date"] == "2024-03-26"  # shipment 2024-03-12 + 14 days
    assert d.message_type == "Declaration" and d.directory == "declaration-1"
    assert d.identifier == doc["header"]["identifier"]


def _invalid_sea() -> tuple[bytes, int]:
    data = example("cargo-report-sea.xml")
    lines = data.split(b"\n")
    no = next(i for i, line in enumerate(lines) if b"<UnloadingLocation><c:ID>HKHKG" in line)
    lines[no] = lines[no].replace(b"HKHKG", b"hk-hkg")  # not a UN/LOCODE
    return b"\n".join(lines), no + 1


def test_schema_findings_reject_the_document_with_position() -> None:
    data, line = _invalid_sea()
    r = process_submission(data, None, context=ctx(), now=NOW)
    assert r.outcome == "rejected" and r.document_count == 0 and r.error_code is None
    assert r.problems[0].kind == "schema"
    (finding,) = [f for f in r.findings if f["code"] == "EDG-X102"]
    assert finding["line"] == line
    assert finding["xpath"] == "/CargoReport/Consignment[1]/UnloadingLocation/ID"
    ack = ack_of(r)
    assert texts(ack, "OutcomeCode") == ["rejected", "rejected"]  # submission, document
    assert texts(ack, "Code") == ["EDG-X102"]
    assert texts(ack, "LineNumeric") == [str(line)]
    assert "hk-hkg" in texts(ack, "Text")[0]


def _batch_with_bad_second_record() -> bytes:
    data = example("house-consignment-batch.xml")
    return data.replace(b"<c:ID>300490</c:ID>", b"<c:ID>30x490</c:ID>")  # HS code pattern


@pytest.mark.parametrize("signed", [False, True], ids=["streamed", "whole"])
def test_batch_record_with_findings_is_rejected_alone(signed: bool, tmp_path: Path) -> None:
    data = _batch_with_bad_second_record()
    kw: dict[str, object] = {}
    if signed:  # a partner with certificates: the batch is read whole and verified
        party = make_party(tmp_path, "skyhk", "ec")
        data = etree.tostring(sign_enveloped(etree.fromstring(data), party.key, party.cert))
        kw["xml_certificates"] = party.cert_path.read_bytes()
    r = process_submission(data, None, context=ctx(**kw), now=NOW)
    assert r.outcome == "partially_accepted"
    assert [json.loads(d.canonical)["consignments"][0]["transport_document"]["identifier"]
            for d in r.documents] == ["SKY-FRA-100231", "SKY-MUC-200017"]  # fmt: skip
    assert [(p.message, p.kind) for p in r.problems] == [(2, "schema")]
    ack = ack_of(r)
    outcomes = list(ack.iter(CR + "DocumentOutcome"))
    assert [texts(o, "OutcomeCode")[0] for o in outcomes] == ["accepted", "rejected", "accepted"]
    assert texts(outcomes[1], "Code") == ["EDG-X102"]
    assert texts(outcomes[1], "XPath")[0].startswith("/HouseConsignmentBatch/HouseConsignment[2]/")


def _big_batch(records: int) -> bytes:
    data = example("house-consignment-batch.xml")
    start = data.index(b"  <HouseConsignment>")
    end = data.index(b"</HouseConsignmentBatch>")
    record = data[start:data.index(b"</HouseConsignment>", start) + len(b"</HouseConsignment>\n")]
    body = b"".join(record.replace(b"<SequenceNumeric>1</SequenceNumeric>",
                                   f"<SequenceNumeric>{i}</SequenceNumeric>".encode())
                    for i in range(1, records + 1))  # fmt: skip
    return data[:start] + body + data[end:]


def test_large_batch_streams_from_a_file_into_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "batch.xml"
    path.write_bytes(_big_batch(3000))
    spool = str(tmp_path / "docs.spool")
    r = process_submission(None, str(path), context=ctx(), now=NOW, spool=spool)
    assert r.outcome == "accepted" and r.document_count == 3000 and r.documents == []
    with open(spool, "rb") as fh:
        docs = read_documents(fh, 5000)
    assert len(docs) == 3000
    assert [json.loads(d.canonical)["consignments"][0]["sequence"] for d in docs[:3]] == [1, 2, 3]
    # positions name the record in the document as sent, although earlier records are gone
    third = json.loads(docs[2].canonical)["provenance"]["fields"]
    position = third["consignments[0].transport_document.identifier"]
    assert position["xpath"] == ("/HouseConsignmentBatch/HouseConsignment[3]"
                                 "/TransportContractDocument/ID")
    lines = path.read_bytes().split(b"\n")
    assert b"SKY-FRA-100231" in lines[position["line"] - 1]
    ack = ack_of(r)
    # more documents than an acknowledgement lists one by one: only those with findings
    assert len(list(ack.iter(CR + "DocumentOutcome"))) == 0
    assert texts(ack, "OutcomeCode") == ["accepted"]


@pytest.mark.parametrize("payload,code", [
    (b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
     b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><CargoReport>&lol3;</CargoReport>',
     "EDG-X001"),
    (b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>', "EDG-X001"),
    (b"<" + b"<a>" * 0 + b"CargoReport xmlns='urn:edigate:xsd:cargo-report:1'>"
     + b"<a>" * 100 + b"</a>" * 100 + b"</CargoReport>", "EDG-X003"),
    (b"<Declaration xmlns='urn:other'/>", "EDG-X104"),
    (b"<CargoReport xmlns='urn:edigate:xsd:cargo-report:1'><Header>", "EDG-X002"),
])
def test_whole_document_refusals(payload: bytes, code: str) -> None:
    r = process_submission(payload, None, context=ctx(), now=NOW)
    assert r.outcome == "rejected" and r.error_code == code and r.document_count == 0
    ack = ack_of(r)
    assert texts(ack, "Code") == [code]
    assert not list(ack.iter(CR + "DocumentOutcome"))


def test_doctype_in_a_streamed_batch_is_refused() -> None:
    data = example("house-consignment-batch.xml").replace(
        b"<HouseConsignmentBatch", b'<!DOCTYPE x [<!ENTITY e "e">]>\n<HouseConsignmentBatch', 1)
    r = process_submission(data, None, context=ctx(), now=NOW)
    assert r.error_code == "EDG-X001" and r.document_count == 0


def test_partner_may_not_send_this_root() -> None:
    r = process_submission(example("declaration-import.xml"), None,
                           context=ctx(allowed_types=["CargoReport"]), now=NOW)  # fmt: skip
    assert r.outcome == "rejected" and r.error_code == "EDG-A004" and r.document_count == 0
    assert texts(ack_of(r), "Code") == ["EDG-A004"]


def test_signed_document_verified_against_the_partner(tmp_path: Path) -> None:
    party = make_party(tmp_path, "skyhk", "rsa")
    other = make_party(tmp_path, "intruder", "rsa")
    signed = etree.tostring(sign_enveloped(etree.fromstring(example("road-aci.xml")),
                                           party.key, party.cert))  # fmt: skip
    pem = party.cert_path.read_bytes()
    ok = process_submission(signed, None, context=ctx(xml_certificates=pem), now=NOW)
    assert ok.outcome == "accepted" and ok.document_count == 1
    # tampered after signing: the digest no longer matches
    tampered = re.sub(rb"(<c:ID>)([A-Z]{2})", rb"\1ZZ", signed, count=1)
    assert tampered != signed
    bad = process_submission(tampered, None, context=ctx(xml_certificates=pem), now=NOW)
    assert bad.error_code == "EDG-X202" and bad.document_count == 0
    # signed by someone else
    foreign = etree.tostring(sign_enveloped(etree.fromstring(example("road-aci.xml")),
                                            other.key, other.cert))  # fmt: skip
    assert process_submission(foreign, None, context=ctx(xml_certificates=pem),
                              now=NOW).error_code == "EDG-X204"  # fmt: skip
    # the partner has no certificate: a signature cannot be accepted unchecked
    assert process_submission(signed, None, context=ctx(), now=NOW).error_code == "EDG-X204"
    # a profile requiring signatures refuses the unsigned original
    unsigned = process_submission(example("road-aci.xml"), None, context=ctx(
        xml_certificates=pem, xml_signature_required=True), now=NOW)
    assert unsigned.error_code == "EDG-X201"
    assert texts(ack_of(unsigned), "Code") == ["EDG-X201"]


def test_signed_batch_from_a_partner_without_certificates_is_refused(tmp_path: Path) -> None:
    party = make_party(tmp_path, "skyhk", "ec")
    signed = etree.tostring(sign_enveloped(etree.fromstring(
        example("house-consignment-batch.xml")), party.key, party.cert))
    r = process_submission(signed, None, context=ctx(), now=NOW)  # streamed: no certificates
    assert r.error_code == "EDG-X204" and r.document_count == 0 and r.outcome == "rejected"


def test_rule_findings_are_in_the_acknowledgement() -> None:
    # a container id with a wrong ISO 6346 check digit passes the schema (pattern only)
    data = example("cargo-report-sea.xml").replace(b"OOLU1234567", b"OOLU1234568")
    r = process_submission(data, None, context=ctx(), now=NOW)
    assert r.outcome == "accepted"  # rule errors are routed, flagged (default configuration)
    (d,) = r.documents
    assert d.rule_errors >= 1 and any(f["code"] == "R001" for f in d.rule_findings)
    ack = ack_of(r)
    (outcome,) = ack.iter(CR + "DocumentOutcome")
    codes = texts(outcome, "Code")
    assert "R001" in codes
    finding = next(f for f in outcome.iter(CR + "Finding") if texts(f, "Code") == ["R001"])
    assert texts(finding, "LineNumeric") and texts(finding, "Pointer")
    assert texts(finding, "XPath")[0].endswith("]") or "/" in texts(finding, "XPath")[0]
    rejected = process_submission(data, None, context=ctx(), now=NOW, reject_rule_errors=True)
    assert rejected.outcome == "rejected" and rejected.problems[0].kind == "rules"


def test_acknowledgement_signed_for_partners_who_ask(tmp_path: Path) -> None:
    paths = init_certs(tmp_path)
    process.init_signer(str(paths.signing_key), str(paths.signing_cert), str(paths.ca_cert))
    try:
        r = process_submission(example("cargo-report-air.xml"), None,
                               context=ctx(sign_xml=True), now=NOW)  # fmt: skip
        plain = process_submission(example("cargo-report-air.xml"), None, context=ctx(),
                                   now=NOW)  # fmt: skip
    finally:
        process._signer = process._xml_signer = None
    assert r.receipt is not None and r.documents[0].receipt is not None
    ack = ack_of(r)
    gateway_cert = load_certificates(paths.signing_cert.read_bytes())
    verified = verify_enveloped(ack.getroottree(), gateway_cert, required=True)
    assert verified.signed and texts(verified.root, "OutcomeCode")[0] == "accepted"
    assert b"Signature" not in (plain.acknowledgement or b"")


def test_undeclared_prefix_in_a_streamed_batch_is_refused() -> None:
    # libxml2 only reports namespace errors at the end but builds "c:ID" elements meanwhile
    data = example("house-consignment-batch.xml").replace(b"xmlns:c=", b"mlns:c=", 1)
    r = process_submission(data, None, context=ctx(), now=NOW)
    assert r.outcome == "rejected" and r.error_code == "EDG-X002" and r.document_count == 0
    (finding,) = list(ack_of(r).iter(CR + "Finding"))
    assert "not defined" in (finding.findtext(CR + "Text") or "")


@pytest.mark.parametrize("form", ["utf-16 with BOM", "utf-16le without BOM", "utf-16be"])
@pytest.mark.parametrize("name,documents", [("declaration-import.xml", 1),
                                            ("house-consignment-batch.xml", 3)])
def test_utf16_documents(name: str, documents: int, form: str) -> None:
    text = example(name).decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    data = {"utf-16 with BOM": text.encode("utf-16"),  # BOM + native (little-endian here)
            "utf-16le without BOM": text.encode("utf-16-le"),
            "utf-16be": b"\xfe\xff" + text.encode("utf-16-be")}[form]
    r = process_submission(data, None, context=ctx(), now=NOW)
    assert (r.format, r.outcome, r.document_count) == ("xml", "accepted", documents)
    assert json.loads(r.documents[0].canonical)["header"]["identifier"]


def test_element_count_bounds_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 bytes per element: a size limit alone would let a 32 MB document build 8 million nodes
    from edigate.pipeline import xml as stage

    monkeypatch.setattr(stage, "WHOLE_MAX_ELEMENTS", 5_000)
    data = example("cargo-report-sea.xml")
    end = data.index(b"</CargoReport>")
    flood = data[:end] + b"<a/>" * 6_000 + data[end:]
    r = process_submission(flood, None, context=ctx(), now=NOW)
    assert r.error_code == "EDG-X005" and "more than 5000 elements" in (r.error_message or "")
    assert process_submission(data, None, context=ctx(), now=NOW).outcome == "accepted"
    # a streamed batch: the limit is per record, so many records of any number pass
    monkeypatch.setattr(stage, "STREAM_MAX_RECORD_ELEMENTS", 200)
    assert process_submission(_big_batch(300), None, context=ctx(),
                              now=NOW).document_count == 300  # fmt: skip
    batch = example("house-consignment-batch.xml")
    first = batch.index(b"</HouseConsignment>")
    fat = batch[:first] + b"<a/>" * 300 + batch[first:]
    r = process_submission(fat, None, context=ctx(), now=NOW)
    assert r.error_code == "EDG-X005" and r.document_count == 0


def test_whole_batch_with_many_bad_records_rejects_every_one(tmp_path: Path) -> None:
    # read whole (signed): more findings than a capped list would hold must still reach the
    # records they are in, or a late bad record would be accepted
    party = make_party(tmp_path, "skyhk", "ec")
    data = _big_batch(150).replace(b"<c:ID>820411</c:ID>", b"<c:ID>82x411</c:ID>")
    signed = etree.tostring(sign_enveloped(etree.fromstring(data), party.key, party.cert))
    r = process_submission(signed, None, context=ctx(xml_certificates=party.cert_path.read_bytes()),
                           now=NOW)  # fmt: skip
    assert r.outcome == "rejected" and r.document_count == 0 and r.messages == 150
    assert {p.kind for p in r.problems} == {"schema"}


def test_streamed_batch_with_an_invalid_header_is_refused() -> None:
    data = example("house-consignment-batch.xml").replace(
        b"<c:IssueDateTime>2024-03-11T22:10:00+08:00</c:IssueDateTime>",
        b"<c:IssueDateTime>2024-03-11T22:10:00</c:IssueDateTime>", 1)  # no zone
    line = data[:data.index(b"2024-03-11T22:10:00<")].count(b"\n") + 1
    r = process_submission(data, None, context=ctx(), now=NOW)
    assert r.outcome == "rejected" and r.document_count == 0
    assert r.error_code == "EDG-X102" and "batch header" in (r.error_message or "")
    (finding,) = list(ack_of(r).iter(CR + "Finding"))
    assert finding.findtext(CR + "LineNumeric") == str(line)
