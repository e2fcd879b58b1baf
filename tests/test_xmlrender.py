"""The gateway's XML answers always validate against the schema we publish, whatever they
carry: long texts, characters XML cannot hold, many documents, every optional part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from edigate.canonical.model import CustomsResponse, ResponseReason
from edigate.xmlrender import (
    ALL_DOCUMENTS_MAX,
    AckDocument,
    AckFinding,
    render_acknowledgement,
    render_customs_response,
)
from edigate.xmlvalidate import load_schema
from edigate.xsd import XSD_DIR

CR = "{urn:edigate:xsd:customs-response:1}"
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def valid(data: bytes) -> etree._Element:
    tree = etree.fromstring(data).getroottree()
    schema = load_schema(XSD_DIR / "customs-response-1.xsd")
    assert schema.validate(tree), schema.error_log
    return tree.getroot()


def ack(**kw: object) -> bytes:
    base: dict[str, object] = dict(message_id="m1", received=NOW, issued=NOW, sender="P1",
                                   payload_sha256="AB" * 32, payload_size=10, outcome="accepted")
    base.update(kw)
    return render_acknowledgement(**base)  # type: ignore[arg-type]


def test_awkward_texts_still_validate() -> None:
    long = "x" * 2000
    root = valid(ack(message_id="id with  spaces\tand\x00nul", outcome="rejected", findings=[
        AckFinding("EDG-X002", f"bad \x01 byte \ud800 {long}", line=3, column=7),
        AckFinding("R001", "", "warning", 0, 0, "/A/B", "transport_equipment[0].identifier"),
    ]))
    texts = [t.text or "" for t in root.iter(CR + "Text")]
    assert len(texts[0]) == 512 and "\ufffd" in texts[0]
    assert texts[1] == "-"  # an empty text is not allowed: a placeholder
    assert root.findtext(CR + "MessageID") == "id with spaces and\ufffdnul"
    assert root.findtext(CR + "PayloadSHA256") == "ab" * 32
    assert root.findtext(CR + "OutcomeCode") == "rejected"


def test_partially_accepted_is_accepted_with_rejected_documents() -> None:
    root = valid(ack(outcome="partially_accepted", documents=[
        AckDocument(1, "accepted", "HB-1", "HouseConsignment"),
        AckDocument(2, "rejected", None, "HouseConsignment", [AckFinding("EDG-X102", "bad")]),
    ]))
    assert root.findtext(CR + "OutcomeCode") == "accepted"
    assert [d.findtext(CR + "OutcomeCode") for d in root.iter(CR + "DocumentOutcome")] == [
        "accepted", "rejected"]


def test_large_submissions_list_only_documents_with_findings() -> None:
    docs = [AckDocument(i, "accepted") for i in range(1, ALL_DOCUMENTS_MAX + 2)]
    docs[500] = AckDocument(501, "rejected", findings=[AckFinding("EDG-X101", "missing")])
    root = valid(ack(documents=docs))
    assert [d.findtext(CR + "SequenceNumeric") for d in root.iter(CR + "DocumentOutcome")] == [
        "501"]
    few = valid(ack(documents=docs[:3]))
    assert len(list(few.iter(CR + "DocumentOutcome"))) == 3


def test_customs_response_with_every_part() -> None:
    hkt = timezone(timedelta(hours=8))
    response = CustomsResponse(
        status="held", response_to="LRN-1", response_to_message_id="abc-1",
        customs_reference="HKX-9", issued=datetime(2026, 12, 7, 16, 0, tzinfo=hkt),
        reasons=[ResponseReason(code="D1", text="inspection", pointer="consignments[0]"),
                 ResponseReason(code="D2")])
    root = valid(render_customs_response(response, issued=NOW, response_id="r1",
                                         document_type_code="929"))  # fmt: skip
    assert root.findtext(CR + "IssueDateTime") == "2026-12-07T16:00:00+08:00"
    assert root.findtext(CR + "StatusCode") == "held"
    assert root.findtext(f"{CR}ResponseTo/{CR}TypeCode") == "929"
    assert [r.findtext(CR + "Code") for r in root.iter(CR + "Reason")] == ["D1", "D2"]


def test_times_must_carry_a_zone() -> None:
    with pytest.raises(ValueError, match="zone"):
        ack(received=datetime(2026, 12, 7, 8, 0))
