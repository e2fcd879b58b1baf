"""End to end against the real gateway process, real TLS and the real RabbitMQ broker: HTTPS
submission → journal → CONTRL + signed receipt → canonical documents in the backends' queues;
backend response → CUSRES for the submitter; duplicates; refusals with their codes."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edigate.canonical.model import CustomsResponse, from_json
from edigate.certs import issue_client_certificate
from edigate.edifact.validator import validate_bytes
from edigate.receipts import verify_receipt

from .conftest import FIXTURES, REPO
from .gateway_harness import Gateway, running

CUSCAR = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()  # 2 messages, sea mode
CUSDEC = (FIXTURES / "cusdec_d96b_import.edi").read_bytes()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from running(tmp_path_factory.mktemp("gw"), max_body=256 * 1024, large_bytes=32 * 1024)


def _unique(payload: bytes, ref: str) -> bytes:
    """The same interchange under another control reference (UNB 0020 and UNZ)."""
    old = payload.split(b"UNB+", 1)[1].split(b"'", 1)[0].split(b"+")[4]
    return payload.replace(b"+" + old + b"'", b"+" + ref.encode() + b"'").replace(
        b"+" + old + b"+", b"+" + ref.encode() + b"+")


def test_submission_is_acknowledged_signed_and_routed(gw: Gateway) -> None:
    payload = _unique(CUSCAR, "E2E0001")
    status, answer = gw.submit(payload)
    assert status == 202, answer
    assert answer["outcome"] == "accepted"
    sid = answer["submission_id"]
    # CONTRL: interchange acknowledged (UCI action 7)
    ack = answer["acknowledgement"]
    assert ack["content_type"] == "application/EDIFACT"
    assert "UCI+E2E0001+POCLHKG:ZZZ+HKCUSTOMS:ZZZ+7'" in ack["text"]
    # signed receipt: verifies against the gateway's CA and states the payload digest
    receipt_bytes = json.dumps(answer["receipt"]).encode()
    ca = (gw.root / "certs" / "ca.pem").read_bytes()
    verified = verify_receipt(receipt_bytes, ca)
    r = verified.receipt
    assert r.submission_id == sid and r.partner_id == "DEMO" and r.channel == "https"
    assert r.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert r.outcome == "accepted" and len(r.documents) == 2
    # both canonical documents reach the clearance cargo queue, with their properties
    got = gw.drain(gw.queues["cargo"], 2)
    assert len(got) == 2
    by_id = {p.message_id: (p, body) for p, body in got}
    assert set(by_id) == {f"{sid}-1", f"{sid}-2"}
    for i in (1, 2):
        props, body = by_id[f"{sid}-{i}"]
        assert props.correlation_id == sid and props.delivery_mode == 2
        assert props.content_type == "application/json"
        h = props.headers
        assert h["x-edigate-partner"] == "DEMO" and h["x-edigate-message-type"] == "CUSCAR"
        assert h["x-edigate-schema-version"] == "1.0"
        assert h["x-edigate-document-type"] == "cargo_report"
        # this document's own signed receipt travels with it and names its digest
        doc_receipt = verify_receipt(h["x-edigate-receipt"].encode(), ca).receipt
        assert doc_receipt.submission_id == sid and doc_receipt.payload_sha256 == r.payload_sha256
        assert [(d.index, d.sha256) for d in doc_receipt.documents] == [
            (i, hashlib.sha256(body).hexdigest())]
        assert r.documents[i - 1].sha256 == doc_receipt.documents[0].sha256
        doc = from_json(body)
        assert doc.provenance is not None and doc.provenance.interchange_reference == "E2E0001"
    # nothing went to the declarations queues
    assert gw.queue_depth(gw.queues["census"]) == 0
    # the timeline shows every stage up to delivery
    _, _, body = gw.request("GET", f"/v1/submissions/{sid}")
    states = [e["state"] for e in json.loads(body)["timeline"]]
    for s in ("received", "parsed", "validated", "acknowledged", "mapped", "signed", "routed"):
        assert s in states
    assert _eventually(lambda: "delivered" in _states(gw, sid))


def _states(gw: Gateway, sid: str) -> list[str]:
    _, _, body = gw.request("GET", f"/v1/submissions/{sid}")
    return [e["state"] for e in json.loads(body)["timeline"]]


def _eventually(check, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_large_submission_streams_through_the_spool(gw: Gateway) -> None:
    """Above large_submission_bytes: own worker pool, documents spooled, outbox staged in
    chunks and released with the answer."""
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from gen_cuscar import interchange

    payload = "".join(interchange(60, None, seed=7)).replace("BENCH1", "E2EBIG1").encode()
    assert 32 * 1024 < len(payload) < 256 * 1024
    status, answer = gw.submit(payload)
    assert status == 202, answer
    sid = answer["submission_id"]
    receipt = verify_receipt(json.dumps(answer["receipt"]).encode()).receipt
    assert [d.index for d in receipt.documents] == list(range(1, 61))
    got = gw.drain(gw.queues["cargo"], 60)
    assert sorted(p.message_id for p, _ in got) == sorted(f"{sid}-{i}" for i in range(1, 61))
    digests = {d.index: d.sha256 for d in receipt.documents}
    for props, body in got:
        assert hashlib.sha256(body).hexdigest() == digests[int(props.message_id.rsplit("-")[1])]
    assert not list((gw.root / "var" / "payloads" / "spool").glob("*.docs"))


def test_declaration_goes_to_clearance_and_census(gw: Gateway) -> None:
    status, answer = gw.submit(_unique(CUSDEC, "E2EDEC1"))
    assert status == 202, answer
    sid = answer["submission_id"]
    clearance = gw.drain(gw.queues["declarations"], 1)
    census = gw.drain(gw.queues["census"], 1)
    assert [p.message_id for p, _ in clearance] == [f"{sid}-1"]
    # the same document keeps one idempotency key on both routes
    assert [p.message_id for p, _ in census] == [f"{sid}-1"]
    assert clearance[0][1] == census[0][1]


def test_syntax_errors_answer_contrl_and_route_nothing(gw: Gateway) -> None:
    bad = (FIXTURES / "invalid_29_unt_count.edi").read_bytes()
    status, answer = gw.submit(bad)
    assert status == 422 and answer["outcome"] == "rejected"
    assert "+4+29+UNT+2'" in answer["acknowledgement"]["text"]
    assert verify_receipt(json.dumps(answer["receipt"]).encode()).receipt.outcome == "rejected"
    _, _, body = gw.request("GET", f"/v1/submissions/{answer['submission_id']}")
    assert json.loads(body)["state"] == "rejected"


def test_resubmission_is_answered_as_duplicate_and_not_routed_twice(gw: Gateway) -> None:
    payload = _unique(CUSCAR, "E2EDUP1")
    s1, a1 = gw.submit(payload)
    assert s1 == 202
    gw.drain(gw.queues["cargo"], 2)
    s2, a2 = gw.submit(payload)  # same bytes
    assert s2 == 200 and a2["outcome"] == "duplicate"
    assert a2["duplicate_of"] == a1["submission_id"] and a2["receipt"] == a1["receipt"]
    # same interchange reference, different bytes (e.g. re-sent with a new date): duplicate too
    s3, a3 = gw.submit(payload.replace(b"+240617:", b"+240618:"))
    assert s3 == 200 and a3["duplicate_of"] == a1["submission_id"]
    assert gw.drain(gw.queues["cargo"], 1, timeout=2) == []


def test_backend_response_comes_back_as_cusres(gw: Gateway) -> None:
    status, answer = gw.submit(_unique(CUSCAR, "E2ERSP1"))
    assert status == 202
    sid = answer["submission_id"]
    gw.drain(gw.queues["cargo"], 2)
    code, _, body = gw.request("GET", f"/v1/submissions/{sid}/response")
    assert code == 404 and json.loads(body)["error"]["code"] == "EDG-H006"
    resp = CustomsResponse(status="held", response_to="POC240617001",
                           response_to_message_id=f"{sid}-1", customs_reference="HK26CR0001")
    import msgspec

    gw.publish_response(msgspec.json.encode(resp), correlation_id=sid, message_id="resp-1")
    assert _eventually(lambda: gw.request("GET", f"/v1/submissions/{sid}/response")[0] == 200)
    code, headers, cusres = gw.request("GET", f"/v1/submissions/{sid}/response")
    assert headers["content-type"] == "application/EDIFACT"
    assert b"CUSRES:D:95B:UN" in cusres and b"HK26CR0001" in cusres
    reports = validate_bytes(cusres)
    assert all(ic.valid for ic in reports), [f.as_dict() for ic in reports
                                             for f in ic.all_findings()]  # fmt: skip
    # addressed back to the submitter
    assert b"+HKCUSTOMS+POCLHKG+" in cusres


@pytest.mark.parametrize("case", ["no_key", "bad_key", "content_type", "empty", "too_large"])
def test_refusals_have_codes(gw: Gateway, case: str) -> None:
    expected = {"no_key": (401, "EDG-A001"), "bad_key": (401, "EDG-A001"),
                "content_type": (415, "EDG-H002"), "empty": (400, "EDG-H003"),
                "too_large": (413, "EDG-H001")}[case]  # fmt: skip
    key = {"no_key": None, "bad_key": "guess"}.get(case, "demo-key")
    body = {"empty": b"", "too_large": b"X" * (300 * 1024)}.get(case, CUSCAR)
    ctype = "application/json" if case == "content_type" else "application/EDIFACT"
    status, _, raw = gw.request("POST", "/v1/submissions", body, {"Content-Type": ctype},
                                key=key)  # fmt: skip
    assert (status, json.loads(raw)["error"]["code"]) == expected
    _, metrics = gw.ops_get("/metrics")
    assert f'edigate_refused_total{{channel="https",code="{expected[1]}"}}'.encode() in metrics


def test_document_type_not_allowed_is_journaled_and_refused(gw: Gateway) -> None:
    status, answer = gw.submit(_unique(CUSCAR, "E2EDOC1"), key="declarant-key")
    assert status == 403 and answer["error"]["code"] == "EDG-A004"
    assert answer["outcome"] == "rejected"
    assert gw.drain(gw.queues["cargo"], 1, timeout=2) == []


def test_client_certificate_authenticates_partner(gw: Gateway, tmp_path: Path) -> None:
    cert, key = issue_client_certificate(gw.root / "certs", "declarant-client", tmp_path,
                                         organisation="edigate tests")  # fmt: skip
    status, _, raw = gw.request("POST", "/v1/submissions", _unique(CUSDEC, "E2ECRT1"),
                                {"Content-Type": "application/EDIFACT"}, key=None,
                                client_cert=(cert, key))  # fmt: skip
    assert status == 202, raw
    sid = json.loads(raw)["submission_id"]
    _, _, body = gw.request("GET", f"/v1/submissions/{sid}", key="declarant-key")
    assert json.loads(body)["partner"] == "DECLARANT"
    # another partner cannot see it
    code, _, _ = gw.request("GET", f"/v1/submissions/{sid}")
    assert code == 404
    gw.drain(gw.queues["declarations"], 1)
    gw.drain(gw.queues["census"], 1)


def test_curl_submits_the_shipped_sample(gw: Gateway) -> None:
    """What README tells a new user to do."""
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(gw.root / "certs" / "ca.pem"),
         "-H", "X-API-Key: demo-key", "-H", "Content-Type: application/EDIFACT",
         "--data-binary", f"@{FIXTURES / 'cuscar_d95b_small_unoa.edi'}",
         f"https://127.0.0.1:{gw.https_port}/v1/submissions"],
        capture_output=True, check=True, timeout=60)
    answer = json.loads(out.stdout)
    assert answer["outcome"] == "accepted"
    assert len(gw.drain(gw.queues["cargo"], 1)) == 1


def test_openapi_and_health(gw: Gateway) -> None:
    code, _, body = gw.request("GET", "/v1/openapi.json", key=None)
    doc = json.loads(body)
    assert code == 200 and "/v1/submissions" in doc["paths"]
    assert gw.ops_get("/health/live")[0] == 200
    code, body = gw.ops_get("/health/ready")
    assert code == 200 and json.loads(body)["checks"]["amqp"] is True
    _, metrics = gw.ops_get("/metrics")
    for name in (b"edigate_submissions_total", b"edigate_ack_latency_seconds_bucket",
                 b"edigate_outbox_depth", b"edigate_amqp_connected 1.0"):
        assert name in metrics


def _raw_tls(gw: Gateway):  # type: ignore[no-untyped-def]
    import socket

    sock = socket.create_connection(("127.0.0.1", gw.https_port), timeout=10)
    return gw.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")


def _read_status(conn) -> int:  # type: ignore[no-untyped-def]
    data = b""
    while b"\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_endless_chunked_upload_is_cut_off(gw: Gateway) -> None:
    """No Content-Length: the body is counted as it arrives and refused past the limit; the
    answer comes while the client is still sending."""
    import threading

    conn = _raw_tls(gw)
    conn.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key\r\n"
                 b"Content-Type: application/EDIFACT\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"U" * 64 * 1024)
    status: list[int] = []
    reader = threading.Thread(target=lambda: status.append(_read_status(conn)), daemon=True)
    reader.start()
    sent = 0
    try:
        while not status and sent < 64 << 20:  # bounded for the test
            conn.sendall(chunk)
            sent += 64 * 1024
    except OSError:
        pass  # the gateway closed the connection
    reader.join(10)
    assert status == [413]
    assert sent < 16 << 20, f"the gateway kept reading an endless body ({sent} bytes)"
    conn.close()
    assert not list((gw.root / "var" / "payloads" / "spool").glob("upload-*"))


def test_unauthenticated_upload_is_refused_before_its_body(gw: Gateway) -> None:
    conn = _raw_tls(gw)
    conn.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n"
                 b"Content-Type: application/EDIFACT\r\n\r\nUNA")
    # answered although 199,997 body bytes never came
    assert _read_status(conn) == 401
    conn.close()


def test_hostile_xml_is_refused_with_its_code(gw: Gateway) -> None:
    from .test_xmlsafe import billion_laughs

    status, answer = gw.submit(billion_laughs(), content_type="application/xml")
    assert status == 422 and answer["outcome"] == "rejected"
    assert answer["error"]["code"] == "EDG-X001"
    assert verify_receipt(json.dumps(answer["receipt"]).encode()).receipt.outcome == "rejected"
    _, _, body = gw.request("GET", f"/v1/submissions/{answer['submission_id']}")
    assert json.loads(body)["state"] == "rejected"  # journaled, kept for audit
