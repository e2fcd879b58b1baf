"""Bad input never crashes: mutated samples, garbage, truncation, huge segments, empty files.

Every outcome must be a report (and, where the subject has a UNB, a CONTRL that our own
validator accepts), never an uncaught exception.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edigate.edifact.contrl import build_contrl
from edigate.edifact.validator import EdifactValidator, InterchangeReport

from .conftest import FIXTURES, sample_files

SEEDS = [p.read_bytes() for p in sample_files()] + [
    p.read_bytes() for p in sorted(FIXTURES.glob("*.edi"))
]


def check_never_crashes(data: bytes, chunk: int = 4096) -> list[InterchangeReport]:
    v = EdifactValidator(max_segment_bytes=64 * 1024)
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    reports = [r for r in v.validate(chunks) if isinstance(r, InterchangeReport)]
    assert reports, "every input yields at least one interchange report"
    for ic in reports:
        for f in ic.all_findings():
            assert f.code.isdigit() and f.text
        contrl = build_contrl(ic, "CTRL1")
        if contrl is not None:
            (ack,) = EdifactValidator().validate_bytes(contrl)
            assert ack.valid, [f.as_dict() for f in ack.all_findings()]
    return reports


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.sampled_from(b"':+?*\x00\xff\n\tAZ09.,"))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 20))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=30))
        elif op == "truncate":
            del data[i:]
        else:
            j = min(len(data), i + draw(st.integers(1, 200)))
            data[i:i] = data[i:j]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.integers(1, 300))
def test_mutated_samples_never_crash(data: bytes, chunk: int) -> None:
    check_never_crashes(data, chunk)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_binary_garbage_never_crashes(data: bytes) -> None:
    reports = check_never_crashes(data)
    if data.strip() and not data.lstrip().startswith((b"UNA", b"UNB")):
        assert not all(ic.valid for ic in reports)


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "13"),
        (b"   \r\n", "13"),
        (b"\x00\x01\x02\xff\xfe garbage", "13"),
        (b"UNB+UNOA:3+S+R+240101:1200+R1'UNH+1+CUSCAR:D:95B:UN'BGM+85+1'", "13"),
        (b"UNB+UNOA:3+S+R+240101:1200+R1'UNH+1+CUSCAR:D:95B:UN'UNH+2+CUSCAR:D:95B:UN'", "13"),
    ],
    ids=["empty", "whitespace", "binary", "truncated", "unh-inside-unh"],
)
def test_clear_rejection(data: bytes, code: str) -> None:
    reports = check_never_crashes(data)
    codes = {f.code for ic in reports for f in ic.all_findings()}
    assert code in codes


def test_ten_megabyte_segment_is_refused_with_bounded_buffer() -> None:
    data = b"UNB+UNOA:3+S+R+240101:1200+R1'UNH+1+CUSCAR:D:95B:UN'FTX+AAA+++" + b"A" * (10 << 20)
    v = EdifactValidator(max_segment_bytes=1 << 20)
    reports = [r for r in v.validate(data[i : i + 65536] for i in range(0, len(data), 65536))
               if isinstance(r, InterchangeReport)]  # fmt: skip
    (ic,) = reports
    assert not ic.valid
    assert any("longer than" in f.text for f in ic.findings)
    # the tokenizer gave up as soon as the limit was passed, not at the end of the data
    assert v.tokenizer.offset < (2 << 20)


def test_findings_and_kept_segments_are_bounded() -> None:
    """A message of half a million bad segments: every one counted, a bounded number kept, the
    message still invalid and answered; segments beyond the cap are not kept for mapping."""
    from edigate.edifact.validator import MAX_FINDINGS_PER_MESSAGE, MessageReport

    bad = 50_000
    data = (b"UNB+UNOA:3+S+R+240101:1200+R1'UNH+1+CUSCAR:D:95B:UN'BGM+85+1+9'"
            + b"XYZ+1'" * bad + f"UNT+{bad + 3}+1'UNZ+1+R1'".encode())
    v = EdifactValidator(keep_segments=True, max_kept_segments=1_000)
    reports = list(v.validate([data]))
    (msg,) = [r for r in reports if isinstance(r, MessageReport)]
    assert not msg.valid and len(msg.findings) == MAX_FINDINGS_PER_MESSAGE
    assert msg.finding_count == bad
    assert msg.segments is None and msg.segments_dropped and msg.segment_count == bad + 3
    (ic,) = [r for r in reports if isinstance(r, InterchangeReport)]
    contrl = build_contrl(ic, "CTRL1")
    assert contrl is not None and b"UCM+1+CUSCAR:D:95B:UN+4" in contrl


def test_interchange_budget_keeps_every_message_invalid() -> None:
    """Past the interchange's budget each bad message still keeps its first finding."""
    from edigate.edifact.validator import MAX_FINDINGS_PER_INTERCHANGE, MessageReport

    messages = MAX_FINDINGS_PER_INTERCHANGE // 50 + 20
    body = b"".join(f"UNH+{i}+CUSCAR:D:95B:UN'BGM+85+1+9'".encode() + b"XYZ+1'" * 60
                    + f"UNT+63+{i}'".encode() for i in range(1, messages + 1))  # fmt: skip
    data = (b"UNB+UNOA:3+S+R+240101:1200+R1'" + body
            + f"UNZ+{messages}+R1'".encode())  # fmt: skip
    reports = [r for r in EdifactValidator().validate([data]) if isinstance(r, MessageReport)]
    assert len(reports) == messages and all(not r.valid for r in reports)
    assert all(r.finding_count == 60 for r in reports)
    kept = sum(len(r.findings) for r in reports)
    assert kept <= MAX_FINDINGS_PER_INTERCHANGE + messages


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_samples_never_crash_the_worker_stage(data: bytes) -> None:
    """The whole worker stage (validate, CONTRL, map, rules, receipts' inputs) on mutated
    samples: a result every time, with an acknowledgement whenever an interchange was read."""
    from datetime import UTC, datetime

    from edigate.pipeline.process import ReceiptContext, process_submission

    ctx = ReceiptContext(submission_id="f" * 32, partner_id="FUZZ", channel="https",
                         received_at=datetime(2024, 3, 12, tzinfo=UTC),
                         payload_sha256="0" * 64, payload_size=len(data), node_id="t")  # fmt: skip
    r = process_submission(data, None, context=ctx)
    assert r.outcome in ("accepted", "partially_accepted", "rejected")
    assert r.document_count == len(r.documents)
    if r.outcome != "rejected":
        assert r.documents and r.acknowledgement
