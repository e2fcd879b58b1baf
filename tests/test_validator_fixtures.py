"""Every fixture is reported exactly: valid ones with no finding, each invalid one with exactly
the defect it was written with (code, level and position), nothing more."""

from __future__ import annotations

import json

import pytest

from edigate.edifact.contrl import build_contrl
from edigate.edifact.validator import EdifactValidator, Finding

from .conftest import FIXTURES

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


def key(f: Finding) -> tuple:
    return (f.code, f.level, f.interchange, f.message or None, f.segment_tag or None,
            f.segment_position or None, f.element or None, f.component or None)  # fmt: skip


def expected_key(e: dict) -> tuple:
    return (e["code"], e["level"], e["interchange"], e["message"], e["segment_tag"],
            e["segment_position"], e["element"], e["component"])  # fmt: skip


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"])
def test_fixture_reported_exactly(entry: dict) -> None:
    data = (FIXTURES / entry["file"]).read_bytes()
    reports = EdifactValidator().validate_bytes(data)
    found = sorted(key(f) for ic in reports for f in ic.all_findings())
    assert found == sorted(expected_key(e) for e in entry["expected"]), [
        f.as_dict() for ic in reports for f in ic.all_findings()
    ]
    assert all(ic.valid for ic in reports) == entry["valid"]
    if entry["valid"]:
        types = [m.type for ic in reports for m in ic.messages]
        assert types == entry["messages"]


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"])
def test_contrl_answers_in_the_input_syntax_and_passes_our_validator(entry: dict) -> None:
    data = (FIXTURES / entry["file"]).read_bytes()
    for ic in EdifactValidator().validate_bytes(data):
        contrl = build_contrl(ic, "ACK1")
        if contrl is None:
            # ISO 9735-4 5.3.4: only when the UNB identifiers cannot be copied.
            assert ic.header is None or not ic.valid
            continue
        (ack,) = EdifactValidator(keep_segments=True).validate_bytes(contrl)
        assert ack.valid, [f.as_dict() for f in ack.all_findings()]
        assert ack.syntax_version == (ic.syntax_version if ic.syntax_version in "1234" else "3")
        (msg,) = ack.messages
        assert msg.type == "CONTRL"
        segs = {s.tag: s for s in msg.segments or []}
        action = segs["UCI"].value(4)
        interchange_errors = [f for f in ic.findings]
        assert action == ("4" if interchange_errors else "7")
