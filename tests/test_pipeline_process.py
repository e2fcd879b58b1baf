"""The worker-side pipeline stage: format detection, outcome, acknowledgement, documents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edigate.config import Route
from edigate.pipeline.process import (
    decode_result,
    detect_format,
    encode_result,
    process_submission,
)
from edigate.pipeline.routing import destinations

from .conftest import FIXTURES


def test_detect_format() -> None:
    assert detect_format(b"\xef\xbb\xbf  UNA:+.? 'UNB+") == "edifact"
    assert detect_format(b"UNB+UNOA:3+") == "edifact"
    assert detect_format(b"\n<?xml version='1.0'?><a/>") == "xml"
    assert detect_format(b"%PDF-1.4") == "unknown"
    assert detect_format(b"") == "unknown"


def test_valid_cuscar_is_accepted_with_documents_and_contrl() -> None:
    data = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
    r = process_submission(data, None)
    assert r.format == "edifact" and r.outcome == "accepted"
    assert r.messages == 2 and len(r.documents) == 2 and not r.problems
    assert r.message_types == ["CUSCAR"]
    assert r.interchange_ref == "POC240617001" and r.sender_id == "POCLHKG"
    assert r.acknowledgement is not None and b"UCI+POC240617001+POCLHKG" in r.acknowledgement
    assert b"+7'" in r.acknowledgement  # action 7: acknowledged
    d = r.documents[0]
    body = json.loads(d.canonical)
    assert d.sha256 == hashlib.sha256(d.canonical).hexdigest()
    assert body["header"]["type"] == d.document_type == "cargo_report"
    assert d.transport_mode == "1" and d.directory == "D95B" and d.message_version == "D:95B:UN"
    assert body["provenance"]["interchange_reference"] == "POC240617001"


def test_syntax_error_rejects_with_contrl_code() -> None:
    data = (FIXTURES / "invalid_29_unt_count.edi").read_bytes()
    r = process_submission(data, None)
    assert r.outcome == "rejected" and not r.documents
    assert r.problems and r.problems[0].kind == "syntax"
    assert r.acknowledgement is not None
    # the message is rejected (action 4) with ISO 9735 code 29 at UNT
    assert b"UCM+CSR0091+CUSCAR:D:95B:UN+4+29+UNT+2'" in r.acknowledgement
    assert any(f["code"] == "29" for f in r.findings)


def test_partial_acceptance() -> None:
    data = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
    # break the second message's BGM only (UNT counts stay right)
    first = data.index(b"BGM+")
    second = data.index(b"BGM+", first + 1)
    broken = data[:second] + b"BGX" + data[second + 3:]
    r = process_submission(broken, None)
    assert r.outcome == "partially_accepted"
    assert len(r.documents) == 1 and len(r.problems) == 1


@pytest.mark.parametrize("payload,code", [
    (b"%PDF-1.4 binary", "EDG-F001"),
    (b"<?xml version='1.0'?><x/>", "EDG-X104"),  # not one of our schemas
    (b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", "EDG-X001"),  # hostile: refused as such
    (b"<x><y></x>", "EDG-X002"),
])
def test_unprocessable_formats(payload: bytes, code: str) -> None:
    r = process_submission(payload, None)
    assert r.outcome == "rejected" and r.error_code == code and r.acknowledgement is None


def test_file_input_and_msgpack_roundtrip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = FIXTURES / "cusdec_d96b_import.edi"
    r1 = process_submission(None, str(src))
    r2 = process_submission(src.read_bytes(), None)
    assert [d.sha256 for d in r1.documents] == [d.sha256 for d in r2.documents]
    back = decode_result(encode_result(r1))
    assert back == r1


def _doc(**kw: object):  # type: ignore[no-untyped-def]
    data = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
    d = process_submission(data, None).documents[0]
    for k, v in kw.items():
        setattr(d, k, v)
    return d


def test_routing_rules_are_data() -> None:
    routes = [
        Route(name="sea", exchange="x.clear", routing_key="cargo.{message_type}.{transport_mode}",
              message_type=["CUSCAR"], transport_mode="1"),
        Route(name="stats", exchange="x.stats", routing_key="{partner}.{outcome}"),
        Route(name="air-only", exchange="x.air", routing_key="air", transport_mode="4"),
        Route(name="flagged-only", exchange="x.flag", routing_key="f", outcome="flagged"),
    ]
    got = destinations(routes, _doc(), "ACME", "parking")
    assert [(d.route, d.exchange, d.routing_key) for d in got] == [
        ("sea", "x.clear", "cargo.CUSCAR.1"), ("stats", "x.stats", "ACME.accepted")]
    flagged = destinations(routes, _doc(rule_errors=2), "ACME", "parking")
    assert [d.route for d in flagged] == ["sea", "stats", "flagged-only"]
    nothing = destinations(routes[2:3], _doc(), "ACME", "parking")
    assert [(d.route, d.exchange) for d in nothing] == [("unrouted", "parking")]


def test_failed_interchange_voids_its_documents(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In memory and in the spool alike."""
    from edigate.pipeline.process import read_documents

    good = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
    bad = (FIXTURES / "invalid_29_unz_count.edi").read_bytes()  # messages fine, UNZ count wrong
    data = good + b"\n" + bad
    mem = process_submission(data, None)
    spool = tmp_path / "docs"
    spooled = process_submission(data, None, spool=str(spool))
    assert mem.interchanges == spooled.interchanges == 2
    assert mem.outcome == spooled.outcome == "partially_accepted"
    assert mem.document_count == spooled.document_count == len(mem.documents) == 2
    assert any(p.kind == "envelope" for p in spooled.problems)
    with spool.open("rb") as fh:
        from_spool = read_documents(fh, 1000)
    assert [d.sha256 for d in from_spool] == [d.sha256 for d in mem.documents]
    assert spooled.documents == []


def test_partner_permissions_and_worker_signing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from edigate.certs import init_certs
    from edigate.pipeline import process as proc
    from edigate.receipts import verify_receipt

    paths = init_certs(tmp_path / "certs")
    proc.init_signer(str(paths.signing_key), str(paths.signing_cert), str(paths.ca_cert))
    try:
        data = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
        ctx = proc.ReceiptContext(
            submission_id="s1", partner_id="P", channel="https", received_at=datetime.now(UTC),
            payload_sha256=hashlib.sha256(data).hexdigest(), payload_size=len(data),
            node_id="n1")
        ok = process_submission(data, None, context=ctx)
        ca = paths.ca_cert.read_bytes()
        full = verify_receipt(ok.receipt, ca).receipt
        assert full.outcome == "accepted" and len(full.documents) == 2
        for d in ok.documents:
            one = verify_receipt(d.receipt, ca).receipt
            assert [x.sha256 for x in one.documents] == [d.sha256]
        refused = process_submission(data, None, context=proc.ReceiptContext(
            **{**msgspec_to_dict(ctx), "allowed_types": ["CUSDEC"]}))
        assert refused.error_code == "EDG-A004" and refused.outcome == "rejected"
        assert refused.documents == []
        assert verify_receipt(refused.receipt, ca).receipt.documents == ()
        wrong_sender = process_submission(data, None, context=proc.ReceiptContext(
            **{**msgspec_to_dict(ctx), "allowed_senders": ["SOMEONE"]}))
        assert wrong_sender.error_code == "EDG-A003"
    finally:
        proc._signer = None


def msgspec_to_dict(obj: object) -> dict:  # type: ignore[type-arg]

    return {f: getattr(obj, f) for f in obj.__struct_fields__}  # type: ignore[attr-defined]


def test_message_too_large_to_hold_is_validated_not_mapped(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from edigate.pipeline import edifact as stage

    data = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()  # 2 messages
    monkeypatch.setattr(stage, "MAX_MESSAGE_SEGMENTS", 10)
    r = process_submission(data, None)
    assert r.outcome == "rejected" and r.document_count == 0
    assert {p.kind for p in r.problems} == {"too_large"}
    assert "more than the gateway maps in one message" in r.problems[0].reason
    assert r.acknowledgement is not None and b"UCI+" in r.acknowledgement  # still answered
    monkeypatch.setattr(stage, "MAX_MESSAGE_SEGMENTS", 10_000)
    assert process_submission(data, None).document_count == 2


def test_partner_rule_set_applies(tmp_path: Path) -> None:
    """A partner's own rule set (here: R001 switched off) is what its submissions are checked
    with; others keep the pipeline's."""
    from datetime import UTC, datetime

    from edigate.pipeline.process import ReceiptContext

    profile = tmp_path / "lenient.toml"
    profile.write_text('[rule_set]\nname = "lenient"\nextends = "default"\n'
                       '[rules.R001]\nenabled = false\n')
    data = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes().replace(b"POLU2406018",
                                                                   b"POLU2406019")
    def ctx(rule_set: str | None) -> ReceiptContext:
        return ReceiptContext(submission_id="a" * 32, partner_id="P", channel="https",
                              received_at=datetime.now(UTC), payload_sha256="0" * 64,
                              payload_size=1, node_id="t", rule_set=rule_set)  # fmt: skip

    strict = process_submission(data, None, context=ctx(None))
    lenient = process_submission(data, None, context=ctx(str(profile)))
    assert any(f["code"] == "R001" for d in strict.documents for f in d.rule_findings)
    assert not any(f["code"] == "R001" for d in lenient.documents for f in d.rule_findings)
