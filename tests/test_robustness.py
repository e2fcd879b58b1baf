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
