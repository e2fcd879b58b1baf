"""``edigate validate`` and ``edigate map`` on XML files: the checks of the XML channel, findings
with their positions, rule findings apart from schema findings, exit status as for EDIFACT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from edigate.canonical.model import from_json
from edigate.cli import main
from edigate.xmldsig import sign_enveloped
from edigate.xmlsafe import parse_untrusted
from edigate.xmlvalidate import load_schema
from edigate.xsd import EXAMPLES_DIR, XSD_DIR

from .test_xmldsig import make_party

SEA = EXAMPLES_DIR / "cargo-report-sea.xml"
BATCH = EXAMPLES_DIR / "house-consignment-batch.xml"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def variant(tmp_path: Path, source: Path, old: bytes, new: bytes) -> Path:
    data = source.read_bytes()
    assert old in data
    path = tmp_path / source.name
    path.write_bytes(data.replace(old, new))
    return path


def one(out: str) -> dict[str, Any]:
    (line,) = out.splitlines()
    return json.loads(line)


def test_valid_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "validate", "--json", SEA)
    result = one(out)
    assert status == 0
    assert (result["format"], result["root"], result["schema"]) == ("xml", "CargoReport",
                                                                    "cargo-report-1")
    assert result["valid"] and result["syntax_valid"] and result["documents"] == 1
    assert result["rules_checked"] == 1 and result["errors"] == []


def test_schema_error_with_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = variant(tmp_path, SEA, b'<c:ID typeCode="IMO">9776171</c:ID>',
                   b'<c:ID typeCode="SHIP">9776171</c:ID>')
    line = path.read_bytes()[:path.read_bytes().index(b'typeCode="SHIP"')].count(b"\n") + 1
    status, out, _ = run(capsys, "validate", "--json", path)
    result = one(out)
    assert status == 1 and not result["syntax_valid"]
    (error,) = result["errors"]
    assert error["code"] == "EDG-X103" and error["level"] == "schema"
    assert error["position"]["line"] == line and error["position"]["document"] == 1
    assert error["position"]["xpath"] == "/CargoReport/BorderTransportMeans/ID/@typeCode"
    status, text, _ = run(capsys, "validate", path)
    assert status == 1 and f"[EDG-X103] document 1, line {line}" in text and "INVALID" in text


def test_rule_findings_apart_from_schema(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path = variant(tmp_path, SEA, b"<c:ID>OOLU1234567</c:ID>", b"<c:ID>OOLU1234568</c:ID>")
    status, out, _ = run(capsys, "validate", "--json", path)
    result = one(out)
    assert status == 1 and result["syntax_valid"] and not result["valid"]
    r001 = [f for f in result["rule_findings"] if f["code"] == "R001"]
    assert r001 and r001[0]["severity"] == "error"
    assert r001[0]["position"]["line"] and r001[0]["position"]["xpath"].startswith("/CargoReport/")
    status, _, _ = run(capsys, "validate", "--no-rules", path)
    assert status == 0


def test_hostile_file_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lol.xml"
    path.write_bytes(b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
                     b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<r>&b;</r>')
    status, out, _ = run(capsys, "validate", "--json", path)
    result = one(out)
    assert status == 1
    assert [(e["code"], e["level"], e["position"]["line"]) for e in result["errors"]] == [
        ("EDG-X001", "document", 2)]


def test_ack_is_a_schema_valid_acknowledgement(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = variant(tmp_path, BATCH, b"<c:ID>300490</c:ID>", b"<c:ID>3004</c:ID>")
    status, out, _ = run(capsys, "validate", "--json", "--ack", path)
    result = one(out)
    assert status == 1
    (ack,) = result["ack"]
    tree = parse_untrusted(ack.encode())
    assert load_schema(XSD_DIR / "customs-response-1.xsd").validate(tree)
    ns = "{urn:edigate:xsd:customs-response:1}"
    outcomes = [o.findtext(ns + "OutcomeCode") for o in tree.iter(ns + "DocumentOutcome")]
    assert outcomes == ["accepted", "rejected", "accepted"]


def test_signed_file_needs_the_certificate(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    party = make_party(tmp_path, "carrier", "ec")
    path = tmp_path / "signed.xml"
    path.write_bytes(etree.tostring(sign_enveloped(etree.parse(str(SEA)).getroot(), party.key,
                                                   party.cert)))  # fmt: skip
    status, out, _ = run(capsys, "validate", "--json", "--certificate", party.cert_path, path)
    result = one(out)
    assert status == 0 and result["signed"] and "carrier" in result["signer"]
    status, out, _ = run(capsys, "validate", "--json", path)
    assert status == 1 and one(out)["errors"][0]["code"] == "EDG-X204"


def test_map_batch_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "map", "--json", BATCH)
    assert status == 0
    docs = [from_json(line) for line in out.splitlines()]
    assert [d.header.type for d in docs] == ["house_consignment_report"] * 3
    assert [d.consignments[0].transport_document.identifier for d in docs  # type: ignore[union-attr]
            ] == ["SKY-FRA-100231", "SKY-FRA-100232", "SKY-MUC-200017"]
    assert all(d.provenance and d.provenance.source_format == "xml" for d in docs)


def test_map_reports_what_is_not_mapped(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = variant(tmp_path, BATCH, b"<c:ID>300490</c:ID>", b"<c:ID>3004</c:ID>")
    status, out, _ = run(capsys, "map", path)
    assert status == 1
    assert "3 message(s), 2 mapped" in out and "document 2 (HouseConsignment" in out
