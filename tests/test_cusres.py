"""Canonical customs responses render as CUSRES in every directory version we compiled, and the
result passes our own EDIFACT validator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edigate.canonical.model import CustomsResponse, ResponseReason
from edigate.edifact.validator import EdifactValidator
from edigate.mappings.cusres import render_cusres

DIRECTORIES = ["D95B", "D96B", "D99A", "D00B", "D01B", "D03B", "D04B", "D13B"]
NOW = datetime(2024, 6, 17, 11, 0, tzinfo=UTC)
REASON = ResponseReason(code="R001", text="Container POLU2406019: wrong check digit; 1:2 + O'NEILL")


def render(directory: str, status: str, syntax: tuple[str, str] = ("UNOC", "3")) -> bytes:
    response = CustomsResponse(
        status=status,  # type: ignore[arg-type]
        response_to="POCL024E-HKG-01",
        customs_reference="HKC2024X1",
        reasons=[REASON] if status == "rejected" else [],
    )
    return render_cusres(response, directory=directory, sender=["HKCUSTOMS", "ZZZ"],
                         recipient=["POCLHKG", "ZZZ"], interchange_reference="R1",
                         syntax=syntax, now=NOW)  # fmt: skip


@pytest.mark.parametrize("status", ["accepted", "rejected", "held", "released"])
@pytest.mark.parametrize("directory", DIRECTORIES)
def test_cusres_is_valid_in_the_partners_directory(directory: str, status: str) -> None:
    (ic,) = EdifactValidator(keep_segments=True).validate_bytes(render(directory, status))
    assert ic.valid, [f.as_dict() for f in ic.all_findings()]
    (msg,) = ic.messages
    assert msg.identifier[:4] == ["CUSRES", "D", directory[1:], "UN"]
    segs = {s.tag: s for s in reversed(msg.segments or [])}  # first of each tag
    document_code = "963" if status == "rejected" else "962"
    assert segs["BGM"].value(1, 1) == document_code
    processing = {"accepted": "1", "rejected": "2", "held": "5", "released": "4"}[status]
    if "GIS" in segs:
        assert segs["GIS"].value(1, 1) == processing
    else:
        assert segs["GEI"].value(2, 1) == processing
    refs = [(s.value(1, 1), s.value(1, 2)) for s in msg.segments or [] if s.tag == "RFF"]
    assert ("ACW", "POCL024E-HKG-01") in refs and ("ABO", "HKC2024X1") in refs
    if status == "rejected":
        erc = [s for s in msg.segments or [] if s.tag == "ERC"]
        assert [s.value(1, 1) for s in erc] == ["R001"]
        ftx = [s for s in msg.segments or [] if s.tag == "FTX"]
        assert ftx and ftx[0].value(4, 1) == REASON.text  # escaped on write, unescaped on read


def test_envelope_uses_the_partners_syntax() -> None:
    (ic,) = EdifactValidator().validate_bytes(render("D01B", "accepted", ("UNOW", "4")))
    assert ic.valid and ic.syntax_identifier == "UNOW" and ic.syntax_version == "4"
    assert ic.header is not None
    assert ic.header.value(2) == "HKCUSTOMS" and ic.header.value(3) == "POCLHKG"
    assert ic.header.value(4, 1) == "20240617"  # syntax 4: CCYYMMDD
