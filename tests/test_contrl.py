"""CONTRL content, segment by segment, for hand-checked subject interchanges.

Rules asserted (ISO 9735-4, JSWG publication of the first edition, clauses 5.3-5.4; element
definitions from ISO 9735-10 as published in ../shared/unedifact/syntax4/V42-9735-10.pdf):

- 5.3: the CONTRL interchange has the subject's sender and recipient, reversed; never in a group.
- 5.4.1 UCI/UCF/UCM copy the subject's identifiers (UNB S002, S003, 0020; UNG S006, S007, 0048;
  UNH 0062, S009).
- 5.3.1: only segment group 1 (UCM) when the subject has no groups, only group 3 (UCF-UCM) when
  it has groups.
- 5.3.2: 0083 action 4 = this level and all lower levels rejected, 7 = acknowledged; explicit
  reporting of a lower level requires all levels above to be acknowledged (so no UCF/UCM under
  a rejecting UCI, no UCM under a rejecting UCF).
- 5.3.3: one error per reporting level, reported at the lowest level, never copied upwards
  (a UCM over a UCD error carries no 0085; a UCS carries 0085 only for a segment error,
  ISO 9735-10 UCS note 1).
- 0096 counts UNH as 1; 0098 counts the segment tag as 1 (the first data element is 2);
  0136 is the occurrence of a repeating data element (syntax 4 only).
- Syntax 4 answers with UNH S009 CONTRL:4:1:UN (5.4.1) and an 8-digit UNB date; syntax 3 with
  CONTRL:D:3:UN, 6-digit date, and 0013 (segment tag) where syntax 4 has 0135.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edigate.edifact.contrl import build_contrl
from edigate.edifact.validator import EdifactValidator, InterchangeReport

from .conftest import FIXTURES

NOW = datetime(2024, 6, 18, 9, 5, tzinfo=UTC)
REF = "ACK0001"

# Envelopes of the CONTRL answering the two small bases (sender/recipient reversed).
S3_HEAD = ["UNB+UNOA:3+HKCUSTOMS:ZZZ+POCLHKG:ZZZ+240618:0905+ACK0001", "UNH+1+CONTRL:D:3:UN"]
S3_UCI = "UCI+POC240617009+POCLHKG:ZZZ+HKCUSTOMS:ZZZ"
S3_UCM = "UCM+CSR0091+CUSCAR:D:95B:UN"
S4_HEAD = ["UNB+UNOW:4+HKTRADESW:ZZZ+HKCARGO:ZZZ+20240618:0905+ACK0001", "UNH+1+CONTRL:4:1:UN"]
S4_UCI = "UCI+HKC0618000008+HKCARGO:ZZZ+HKTRADESW:ZZZ"
S4_UCM = "UCM+HKEXP240618008+CUSDEC:D:01B:UN"


def tail(body: list[str]) -> list[str]:
    """UNT and UNZ after ``body`` (the segments between UNH and UNT): UNT counts UNH, the
    body and itself."""
    return [f"UNT+{len(body) + 2}+1", f"UNZ+1+{REF}"]


def subject(name: str | Path, index: int = 1) -> InterchangeReport:
    data = name.read_bytes() if isinstance(name, Path) else (FIXTURES / name).read_bytes()
    reports = EdifactValidator().validate_bytes(data)
    return reports[index - 1]


def contrl_segments(ic: InterchangeReport, **kwargs: bool) -> tuple[str, list[str]]:
    contrl = build_contrl(ic, REF, NOW, **kwargs)
    assert contrl is not None
    codec = "utf-8" if ic.syntax_identifier in ("UNOW", "UNOY") else "latin-1"
    text = contrl.decode(codec)
    una, body = text[:9], text[9:]
    assert "?" not in body  # no released characters in these cases: a plain split is exact
    assert body.endswith("'")
    return una, body[:-1].split("'")


def check_common(ic: InterchangeReport, una: str, segs: list[str]) -> None:
    """Envelope rules every CONTRL must meet, computed independently of the expected text."""
    syntax4 = ic.syntax_version == "4"
    assert una == ("UNA:+.?*'" if syntax4 else "UNA:+.? '")
    assert ic.header is not None
    unb = segs[0].split("+")
    subject_unb = ic.header.raw.split(ic.delimiters.element)
    comp = ic.delimiters.component
    # 5.3: the subject's sender and recipient, reversed
    assert unb[2] == subject_unb[3].replace(comp, ":")
    assert unb[3] == subject_unb[2].replace(comp, ":")
    assert unb[2].split(":")[0] == ic.header.value(3, 1)
    assert unb[3].split(":")[0] == ic.header.value(2, 1)
    assert unb[4] == ("20240618:0905" if syntax4 else "240618:0905")
    assert segs[1].startswith("UNH+1+")
    # UNT: number of segments UNH..UNT, and the UNH reference
    tags = [s[:3] for s in segs]
    assert tags.count("UNH") == tags.count("UNT") == 1
    assert "UNG" not in tags  # 5.3: never in a group
    unh, unt = tags.index("UNH"), tags.index("UNT")
    assert segs[unt] == f"UNT+{unt - unh + 1}+1"
    assert segs[-1] == f"UNZ+1+{REF}" and unb[5] == REF
    # The CONTRL is a clean interchange for our own validator, in the subject's syntax version.
    contrl = build_contrl(ic, REF, NOW)
    assert contrl is not None
    (ack,) = EdifactValidator().validate_bytes(contrl)
    assert ack.valid, [f.as_dict() for f in ack.all_findings()]
    assert ack.syntax_version == ic.syntax_version
    assert [m.type for m in ack.messages] == ["CONTRL"]


S3_SEA = ["UNB+UNOC:3+HKCUSTOMS:ZZZ+POCLHKG:ZZZ+240618:0905+ACK0001", "UNH+1+CONTRL:D:3:UN"]

# (id, fixture, interchange index, UNB+UNH of the CONTRL, segments between UNH and UNT);
# the CONTRL must be exactly head + body + UNT (UNH..UNT counted) + UNZ.
CASES: list[tuple[str, str, int, list[str], list[str]]] = [
    # -- acknowledged: UCI 7 and a UCM 7 per message (5.3.5 allows the redundant UCMs) ---------
    ("valid_syntax3_two_messages", "cuscar_d95b_sea.edi", 1, S3_SEA,
     ["UCI+POC240617001+POCLHKG:ZZZ+HKCUSTOMS:ZZZ+7", "UCM+CSR0001+CUSCAR:D:95B:UN+7",
      "UCM+CSR0002+CUSCAR:D:95B:UN+7"]),
    ("valid_syntax3_unoa", "cuscar_d95b_small_unoa.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+7"]),
    # -- element errors: UCM 4 (no 0085), UCS with the position (no 0085), UCD 0085 + S011 -------
    # RFF (segment 14) C506 component 2 too long: 0098 = 1 + 1
    ("element_component_39", "invalid_39_too_long.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+14", "UCD+39+2:2"]),
    # LOC (segment 16) simple element 3227 empty: no component position
    ("element_simple_13", "invalid_13_missing_element.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+16", "UCD+13+2"]),
    # DTM (segment 3) C507 with a 4th component: the first superfluous one, 4
    ("element_too_many_components", "invalid_16_too_many_components.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+3", "UCD+16+2:4"]),
    # SEL (segment 11) with a 4th data element where 3 are defined: 0098 = 4 + 1
    ("element_too_many_elements", "invalid_16_too_many_elements.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+11", "UCD+16+5"]),
    # -- segment errors: UCS with 0085 (ISO 9735-10 UCS note 1), no UCD ---------------------------
    ("segment_misplaced_15", "invalid_15_segment_position.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+3+15"]),
    ("segment_unknown_tag_15", "invalid_15_unknown_segment_tag.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+22+15"]),
    ("segment_repeated_35", "invalid_35_segment_repetitions.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+25+35"]),
    ("group_repeated_36", "invalid_36_group_repetitions.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4", "UCS+26+36"]),
    # -- message (UNH/UNT) errors in UCM: 0085, 0013 names the segment, S011 0098 = element + 1 --
    ("message_unt_count", "invalid_29_unt_count.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4+29+UNT+2"]),
    ("message_unt_reference", "invalid_28_unt_ref.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4+28+UNT+3"]),
    # the first message stays acknowledged; only the duplicate is rejected
    ("message_duplicate_reference", "invalid_26_duplicate_message_ref.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+7", f"{S3_UCM}+4+26+UNH+2"]),
    # a missing UNT: segment identified, no element
    ("message_without_unt", "invalid_13_unh_without_unt.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", f"{S3_UCM}+4+13+UNT", "UCM+CSR0092+CUSCAR:D:95B:UN+7"]),
    # -- interchange errors: UCI 4 with 0085, 0013/0135 and S011; nothing below it (5.3.2) -----
    ("interchange_unz_reference", "invalid_28_unz_ref.edi", 1, S3_HEAD,
     [f"{S3_UCI}+4+28+UNZ+3"]),
    ("interchange_unz_missing", "invalid_13_missing_unz.edi", 1, S3_HEAD,
     [f"{S3_UCI}+4+13+UNZ"]),
    # 30 concerns the interchange as a whole: no segment identified (5.4.1 UCI)
    ("interchange_groups_and_messages_mixed", "invalid_30_group_and_message_mixed.edi", 1,
     S3_HEAD, [f"{S3_UCI}+4+30"]),
    # syntax 4: 0135; UNB S004 is data element 4, so 0098 = 5, component 1 (the date)
    ("interchange_syntax4_unb_date", "invalid_40_unb_date_v4.edi", 1, S4_HEAD,
     [f"{S4_UCI}+4+40+UNB+5:1"]),
    # -- groups: only segment group 3 (UCF and the group's UCMs) when the subject has groups ----
    # (the subject writes UNG|...|POCLHKG;ZZZ|HKCUSTOMS;ZZZ|...: copied with CONTRL's separators)
    ("group_acknowledged", "cuscar_d95b_multi.edi", 2, S3_SEA,
     ["UCI+POC240624002+POCLHKG:ZZZ+HKCUSTOMS:ZZZ+7",
      "UCF+GRP0624002+POCLHKG:ZZZ+HKCUSTOMS:ZZZ+7", "UCM+TRK0418+CUSCAR:D:95B:UN+7"]),
    ("no_group_in_first_interchange", "cuscar_d95b_multi.edi", 1, S3_SEA,
     ["UCI+POC240624001+POCLHKG:ZZZ+HKCUSTOMS:ZZZ+7", "UCM+TRK0417+CUSCAR:D:95B:UN+7"]),
    # UNE reference wrong: the group is rejected with the UNE error, its message implicitly
    ("group_une_reference", "invalid_28_une_ref.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", "UCF+G0091+POCLHKG:ZZZ+HKCUSTOMS:ZZZ+4+28+UNE+3"]),
    # empty group: 32 names no segment
    ("group_empty", "invalid_32_empty_group.edi", 1, S3_HEAD,
     [f"{S3_UCI}+7", "UCF+G0091+POCLHKG:ZZZ+HKCUSTOMS:ZZZ+4+32"]),
    # -- syntax 4 ------------------------------------------------------------------------------
    ("valid_syntax4", "cusdec_d01b_small_unow.edi", 1, S4_HEAD,
     [f"{S4_UCI}+7", f"{S4_UCM}+7"]),
    # COM (segment 8) C076 repeated 4 times, 3 allowed: occurrence 4 in S011 (0104 empty)
    ("syntax4_repetition_occurrence", "invalid_35_element_repetitions.edi", 1, S4_HEAD,
     [f"{S4_UCI}+7", f"{S4_UCM}+4", "UCS+8", "UCD+35+2::4"]),
    # UNS (segment 9) 0081 'X'
    ("syntax4_element_12", "invalid_12_section_identification.edi", 1, S4_HEAD,
     [f"{S4_UCI}+7", f"{S4_UCM}+4", "UCS+9", "UCD+12+2"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fixture", "index", "head", "body"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_contrl_content(fixture: str, index: int, head: list[str], body: list[str]) -> None:
    ic = subject(fixture, index)
    una, segs = contrl_segments(ic)
    assert segs == [*head, *body, *tail(body)]
    check_common(ic, una, segs)


def test_several_element_errors_grouped_by_segment_in_order() -> None:
    # Base A with three defective segments: MEA (10) decimal comma where UNA declares '.', SEL (11)
    # 9308 an..10 and C215/9303 an..3 both too long, RFF (14) C506/1154 over 35 characters.
    data = (
        (FIXTURES / "cuscar_d95b_small_unoa.edi")
        .read_bytes()
        .replace(
            b"MEA+WT+G+KGM:6480.5'\nSEL+POL4417021+CA'",
            b"MEA+WT+G+KGM:6480,5'\nSEL+POL44170219999+CAXX'",
        )
        .replace(b"RFF+BM:POCLSHA0240601", b"RFF+BM:" + b"POCLSHA0240601" * 3)
    )
    (ic,) = EdifactValidator().validate_bytes(data)
    una, segs = contrl_segments(ic)
    body = [
        f"{S3_UCI}+7",
        f"{S3_UCM}+4",
        "UCS+10",
        "UCD+19+4:2",
        "UCS+11",
        "UCD+39+2",
        "UCD+39+3:1",
        "UCS+14",
        "UCD+39+2:2",
    ]
    assert segs == [*S3_HEAD, *body, *tail(body)]
    check_common(ic, una, segs)


def test_syntax4_error_in_second_occurrence_names_it() -> None:
    # COM C076 second occurrence with 3155 'XX' (not a code): component 2 of occurrence 2.
    data = (
        (FIXTURES / "cusdec_d01b_small_unow.edi")
        .read_bytes()
        .replace(b"example.hk:EM'", b"example.hk:XX'")
    )
    (ic,) = EdifactValidator().validate_bytes(data)
    una, segs = contrl_segments(ic)
    body = [f"{S4_UCI}+7", f"{S4_UCM}+4", "UCS+8", "UCD+12+2:2:2"]
    assert segs == [*S4_HEAD, *body, *tail(body)]
    check_common(ic, una, segs)


def test_accepted_messages_can_be_left_implicit() -> None:
    # 5.3.2: a message is implicitly acknowledged by UCI 7 when no UCM rejects it.
    ic = subject("invalid_26_duplicate_message_ref.edi")
    una, segs = contrl_segments(ic, report_accepted_messages=False)
    body = [f"{S3_UCI}+7", f"{S3_UCM}+4+26+UNH+2"]
    assert segs == [*S3_HEAD, *body, *tail(body)]
    check_common(ic, una, segs)
    ic = subject("cuscar_d95b_sea.edi")
    _, segs = contrl_segments(ic, report_accepted_messages=False)
    assert [s[:3] for s in segs] == ["UNB", "UNH", "UCI", "UNT", "UNZ"]


def test_no_contrl_without_a_subject_unb() -> None:
    # 5.3.4: without UNB there are no identifiers to copy.
    ic = subject("invalid_32_no_message.edi")
    assert ic.header is not None  # has a UNB: answered
    assert build_contrl(ic, REF, NOW) is not None
    bare = b"UNH+1+CUSCAR:D:95B:UN'BGM+85+X+9'UNT+3+1'"
    (ic,) = EdifactValidator().validate_bytes(bare)
    assert ic.header is None
    assert build_contrl(ic, REF, NOW) is None


# -- missing segments: ISO 9735-10 0096 ------------------------------------------------------------

# "To report that a segment is missing, this is the numerical count position of the last segment
# that was processed before the position where the missing segment was expected to be. A missing
# segment group is denoted by identifying the first segment in the group as missing."
MISSING: list[tuple[str, str, int]] = [
    # BGM removed: UNH (1) is the last segment processed before BGM's place.
    ("missing_bgm", "invalid_13_missing_bgm.edi", 1),
    # mandatory goods item group (GID) missing at the end of the consignment: the last segment
    # processed before its place is segment 19 (UNT arrives as 20).
    ("missing_group_trigger", "invalid_13_missing_group_trigger.edi", 19),
]


@pytest.mark.parametrize("fixture", [m[1] for m in MISSING], ids=[m[0] for m in MISSING])
def test_missing_segment_reported_in_ucs(fixture: str) -> None:
    """What holds whichever position convention is used: UCM 4, one UCS with 13, no UCD."""
    ic = subject(fixture)
    una, segs = contrl_segments(ic)
    assert segs[:3] == [*S3_HEAD, f"{S3_UCI}+7"]
    assert segs[3] == f"{S3_UCM}+4"  # no 0085 in UCM: the error is reported in UCS
    (ucs,) = [s for s in segs if s.startswith("UCS+")]
    assert ucs.split("+")[2] == "13"
    assert not [s for s in segs if s.startswith("UCD+")]
    check_common(ic, una, segs)


@pytest.mark.parametrize(
    ("fixture", "position"), [m[1:] for m in MISSING], ids=[m[0] for m in MISSING]
)
def test_missing_segment_position_per_0096(fixture: str, position: int) -> None:
    ic = subject(fixture)
    _, segs = contrl_segments(ic)
    (ucs,) = [s for s in segs if s.startswith("UCS+")]
    assert ucs == f"UCS+{position}+13"


def test_no_contrl_for_an_interchange_of_contrl_messages() -> None:
    ack = build_contrl(subject("cuscar_d95b_small_unoa.edi"), REF, NOW)
    assert ack is not None
    (ic,) = EdifactValidator().validate_bytes(ack)
    assert ic.valid and [m.type for m in ic.messages] == ["CONTRL"]
    assert build_contrl(ic, "ACK0002", NOW) is None
