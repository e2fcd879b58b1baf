"""Rule findings point at the source: variants of the CUSCAR fixture, edited byte by byte.

tests/fixtures/edifact/cuscar_d95b_sea.edi has one UNA line, then UNB, then message 1 from UNH
(line 3, segment position 1): a finding on segment position N of message 1 is on line N + 2.
The positions asserted below are read off the fixture by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime

from edigate.canonical.model import CanonicalDocument
from edigate.edifact.validator import EdifactValidator, MessageReport
from edigate.mappings.engine import map_message, mapping_for
from edigate.rules import RuleFinding, check_document, load_rule_set

from .conftest import FIXTURES

SEA = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
NOW = datetime(2024, 6, 17, 12, 0, tzinfo=UTC)


def edited(*replacements: tuple[bytes, bytes]) -> bytes:
    data = SEA
    for old, new in replacements:
        assert data.count(old) >= 1, old
        data = data.replace(old, new)
    return data


def documents(data: bytes) -> list[CanonicalDocument]:
    docs = []
    for r in EdifactValidator(keep_segments=True).validate([data]):
        if isinstance(r, MessageReport):
            assert r.valid, [f.as_dict() for f in r.findings]
            assert r.segments is not None and r.spec is not None
            mapping = mapping_for(r.type, r.directory)
            assert mapping is not None
            docs.append(map_message(r.segments, r.spec, mapping))
    return docs


def findings(data: bytes, now: datetime = NOW) -> list[list[RuleFinding]]:
    rs = load_rule_set("default")
    return [check_document(doc, rs, now=now) for doc in documents(data)]


def where(f: RuleFinding) -> tuple[str, str, int | None, str | None, int | None, int | None,
                                   int | None]:  # fmt: skip
    s = f.source
    assert s is not None, f
    return (f.code, f.path, s.segment_position, s.segment_tag, s.element, s.component, s.line)


def test_fixture_itself_passes_every_rule() -> None:
    assert findings(SEA) == [[], []]


def test_wrong_container_check_digit_points_at_eqd() -> None:
    # every occurrence (EQD and the SGPs naming it), so the references stay consistent
    first, second = findings(edited((b"POLU2406018", b"POLU2406019")))
    assert second == []
    assert [where(f) for f in first] == [
        ("R001", "transport_equipment[0].identifier", 12, "EQD", 2, 1, 14)]  # fmt: skip
    assert first[0].value == "POLU2406019"
    assert first[0].severity == "error"


def test_undeclared_container_points_at_sgp() -> None:
    # only the EQD changes: the goods items' SGP references no longer match any equipment
    first, _ = findings(edited((b"EQD+CN+POLU2406018+", b"EQD+CN+POLU2406050+")))
    assert [where(f) for f in first] == [
        ("R016", "consignments[0].items[0].equipment_refs[0]", 35, "SGP", 1, 1, 37),
        # item 2 names POLU2406018 in its first SGP (segment 41) of two; provenance records a
        # list of plain values at its first value
        ("R016", "consignments[0].items[1].equipment_refs[0]", 41, "SGP", 1, 1, 43),
    ]
    assert {f.severity for f in first} == {"warning"}


def test_wrong_imo_number_points_at_tdt_in_each_message() -> None:
    docs = documents(edited((b"9704611:146", b"9704612:146")))
    rs = load_rule_set("default")
    got = []
    for doc in docs:
        btm = doc.border_transport_means
        assert btm is not None and btm.identifier == "9704612"
        # R002 checks identifiers typed IMO: C222 1131 = 146 (ship identification) in the mapping
        assert btm.identifier_type == "IMO"
        got.append([where(f) for f in check_document(doc, rs, now=NOW)])
    # message 2 starts on line 61 (UNH): its TDT is segment 6 too, on line 66
    assert got == [[("R002", "border_transport_means.identifier", 6, "TDT", 8, 1, 8)],
                   [("R002", "border_transport_means.identifier", 6, "TDT", 8, 1, 66)]]


def test_short_hs_code_points_at_cst() -> None:
    first, _ = findings(edited((b"CST+2+850440:", b"CST+2+85044:")))
    assert [where(f) for f in first] == [
        ("R005", "consignments[0].items[1].hs_code", 44, "CST", 2, 1, 46)]  # fmt: skip


def test_bad_locode_and_country() -> None:
    first, _ = findings(edited((b"LOC+125+CNSHA:", b"LOC+125+CNSH1:"),
                               (b"+HONG KONG+++HK'\nCTA", b"+HONG KONG+++UK'\nCTA")))  # fmt: skip
    assert [where(f) for f in first] == [
        ("R004", "border_transport_means.itinerary[1].code", 8, "LOC", 2, 1, 10),
        ("R006", "consignments[0].parties[1].address.country", 27, "NAD", 9, None, 29),
    ]


def test_totals_inconsistent_with_items_point_at_cnt() -> None:
    first, _ = findings(edited((b"CNT+7:12480.5:KGM", b"CNT+7:13480.5:KGM"),
                               (b"CNT+11:520'", b"CNT+11:521'")))  # fmt: skip
    assert [where(f) for f in first] == [
        # a measure: the position of its value (CNT C270 component 2)
        ("R010", "consignments[0].total_gross_mass", 21, "CNT", 1, 2, 23),
        ("R011", "consignments[0].total_packages", 22, "CNT", 1, 2, 24),
    ]
    assert "differs from the sum of the items' gross masses (12480.5 kg) by 1000 kg" in \
        first[0].text  # fmt: skip


def test_negative_mass_and_zero_packages() -> None:
    # "-6000" is a valid EDIFACT numeric value: a rule, not the syntax check, refuses it
    first, _ = findings(edited((b"MEA+WT+G+KGM:6000'", b"MEA+WT+G+KGM:-6000'"),
                               (b"GID+2+200:PK", b"GID+2+0:PK")))  # fmt: skip
    got = [where(f) for f in first]
    assert ("R008", "consignments[0].items[1].gross_mass", 40, "MEA", 3, 2, 42) in got
    assert ("R009", "consignments[0].items[1].packaging[0].count", 38, "GID", 2, 1, 40) in got
    assert {f.code for f in first} == {"R008", "R009", "R010", "R011"}


def test_issue_time_and_eta() -> None:
    first, _ = findings(edited((b"DTM+132:202406181400", b"DTM+132:202412181400")),
                        now=datetime(2024, 6, 15, 0, 0, tzinfo=UTC))  # fmt: skip
    assert [where(f) for f in first] == [
        ("R012", "header.issue_time", 3, "DTM", 1, 2, 5),
        ("R013", "border_transport_means.eta", 9, "DTM", 1, 2, 11),
    ]
    assert [f.severity for f in first] == ["error", "warning"]
