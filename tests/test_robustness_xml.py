"""Bad XML never crashes the XML stage: mutated examples, garbage and truncation always give a
result with documented codes and a schema-valid Acknowledgement, never an uncaught exception."""

from __future__ import annotations

import functools
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from edigate.pipeline.process import ReceiptContext, process_submission
from edigate.xmldsig import sign_enveloped
from edigate.xmlsafe import parse_untrusted
from edigate.xmlvalidate import load_schema
from edigate.xsd import EXAMPLES_DIR, XSD_DIR

from .test_xmldsig import make_party

SEEDS = [p.read_bytes() for p in sorted(EXAMPLES_DIR.glob("*.xml"))]
CTX = ReceiptContext(submission_id="f" * 32, partner_id="FUZZ", channel="https",
                     received_at=datetime(2024, 3, 12, tzinfo=UTC), payload_sha256="0" * 64,
                     payload_size=1, node_id="test")  # fmt: skip
CR = "{urn:edigate:xsd:customs-response:1}"


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.sampled_from(b"<>/=\"'&;!?x0 \x00\xff\n:"))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b"<!DOCTYPE a [<!ENTITY e 'x'>]>", b"&e;",
                                              b"<x/>", b"</y>", b"\xc3\x28", b"<![CDATA[",
                                              b"<?pi x?>", b"<!-- c -->"]))  # fmt: skip
        elif op == "truncate":
            del data[i:]
        else:
            j = min(len(data), i + draw(st.integers(1, 400)))
            data[i:i] = data[i:j]
    return bytes(data)


def check(data: bytes) -> None:
    result = process_submission(data, None, context=CTX, now=datetime(2024, 3, 12, tzinfo=UTC))
    assert result.outcome in ("accepted", "partially_accepted", "rejected")
    if result.format != "xml":
        return
    assert result.error_code is None or result.error_code.startswith(("EDG-X", "EDG-A"))
    assert result.acknowledgement is not None
    tree = parse_untrusted(result.acknowledgement)
    schema = load_schema(XSD_DIR / "customs-response-1.xsd")
    assert schema.validate(tree), schema.error_log
    if result.outcome == "rejected":
        # a rejection always says why: a finding at the top or in a document
        assert list(tree.iter(CR + "Finding")) or result.problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_examples_never_crash(data: bytes) -> None:
    check(data)


@functools.cache
def _signed_seed() -> tuple[bytes, bytes]:
    """A signed example and the signer's certificate (PEM), made once."""
    folder = Path(tempfile.mkdtemp(prefix="edigate-fuzz-"))
    party = make_party(folder, "fuzz-signer", "ec")
    signed = etree.tostring(sign_enveloped(etree.fromstring(SEEDS[0]), party.key, party.cert))
    return signed, party.cert_path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_signed_documents_never_crash(data: st.DataObject) -> None:
    signed, pem = _signed_seed()
    raw = bytearray(signed)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i:i + data.draw(st.integers(0, 8))] = data.draw(st.binary(max_size=8))
    ctx = msgspec.structs.replace(CTX, xml_certificates=pem, xml_signature_required=True)
    result = process_submission(bytes(raw), None, context=ctx,
                                now=datetime(2024, 3, 12, tzinfo=UTC))  # fmt: skip
    assert result.outcome in ("accepted", "partially_accepted", "rejected")
    if result.outcome != "rejected":
        # what still verifies (a change in the prolog, in the signature's base64 layout) maps
        # to exactly the documents of the untouched original: tampering never gets through
        original = process_submission(signed, None, context=ctx,
                                      now=datetime(2024, 3, 12, tzinfo=UTC))  # fmt: skip
        assert [d.sha256 for d in result.documents] == [d.sha256 for d in original.documents]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600).map(lambda b: b"<" + b))
def test_garbage_after_a_bracket_never_crashes(data: bytes) -> None:
    check(data)
