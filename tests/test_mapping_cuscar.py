"""CUSCAR D.95B -> canonical cargo report, value by value, from the hand-written fixture."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from edigate.canonical.model import CanonicalDocument, from_json, to_json
from edigate.edifact.validator import EdifactValidator, MessageReport
from edigate.mappings.engine import map_message, mapping_for

from .conftest import FIXTURES

HKT = timezone(timedelta(hours=8))


def mapped(name: str) -> list[CanonicalDocument]:
    data = (FIXTURES / name).read_bytes()
    docs = []
    for r in EdifactValidator(keep_segments=True).validate([data]):
        if isinstance(r, MessageReport):
            assert r.valid and r.segments is not None and r.spec is not None
            mapping = mapping_for(r.type, r.directory)
            assert mapping is not None
            docs.append(map_message(r.segments, r.spec, mapping))
    return docs


@pytest.fixture(scope="module")
def sea() -> list[CanonicalDocument]:
    return mapped("cuscar_d95b_sea.edi")


def test_header_and_vessel(sea: list[CanonicalDocument]) -> None:
    doc = sea[0]
    assert doc.schema_version == "1.0"
    h = doc.header
    assert (h.type, h.type_code, h.identifier, h.function) == (
        "cargo_report", "85", "POCL024E-HKG-01", "9")  # fmt: skip
    assert h.issue_time == datetime(2024, 6, 17, 10, 30, tzinfo=HKT)
    assert [(r.type_code, r.identifier) for r in h.references] == [("AFB", "POCL024E-HKG")]
    btm = doc.border_transport_means
    assert btm is not None
    assert (btm.mode, btm.identifier, btm.name, btm.nationality, btm.journey_id) == (
        "1", "9704611", "HARBOUR PIONEER", "PA", "024E")  # fmt: skip
    assert btm.identifier_type == "IMO"  # C222 1131 = 146
    assert btm.eta == datetime(2024, 6, 18, 14, 0, tzinfo=HKT)
    assert btm.carrier is not None and btm.carrier.identifier == "POCL"
    assert [(loc.code, loc.function) for loc in btm.itinerary] == [
        ("HKHKG", "arrival"), ("CNSHA", "last_port_of_call")]  # fmt: skip


def test_equipment(sea: list[CanonicalDocument]) -> None:
    eq = sea[0].transport_equipment
    assert [(e.identifier, e.size_type, e.loaded) for e in eq] == [
        ("POLU2406018", "45G1", True), ("POLU2406023", "22G1", True)]  # fmt: skip
    assert eq[0].gross_mass is not None
    assert (eq[0].gross_mass.value, eq[0].gross_mass.unit) == (Decimal("10080.5"), "KGM")
    assert [s.identifier for s in eq[0].seals] == ["POL4417021"]


def test_consignments_parties_items(sea: list[CanonicalDocument]) -> None:
    c1, c2 = sea[0].consignments
    assert c1.transport_document is not None
    assert (c1.transport_document.identifier, c1.transport_document.type) == (
        "POCLSHA0240601", "BL")  # fmt: skip
    assert c1.total_packages == 520
    assert c1.total_gross_mass is not None and c1.total_gross_mass.value == Decimal("12480.5")
    assert [(p.role, p.name) for p in c1.parties] == [
        ("CZ", "SHANGHAI BRIGHTSTAR ELECTRONICS CO."),
        ("CN", "KOWLOON DIGITAL TRADING LTD"),
        ("N1", "KOWLOON DIGITAL TRADING LTD"),
    ]
    consignee = c1.parties[1]
    assert consignee.address is not None
    assert consignee.address.street == ["UNIT 1203, 12/F, TOWER A", "8 HUNG TO ROAD, KWUN TONG"]
    assert (consignee.address.city, consignee.address.country) == ("HONG KONG", "HK")
    assert [(loc.code, loc.function) for loc in c1.locations] == [
        ("CNSHA", "loading"), ("HKHKG", "unloading")]  # fmt: skip
    i1, i2 = c1.items
    assert (i1.sequence, i1.hs_code, i1.equipment_refs) == (1, "847130", ["POLU2406018"])
    assert i1.description == ["NOTEBOOK COMPUTERS 14 INCH", "STACKED 50+ CARTONS PER PALLET"]
    assert [(p.count, p.type_code) for p in i1.packaging] == [(320, "CT")]
    assert i1.gross_mass is not None and i1.gross_mass.value == Decimal("6480.5")
    assert i2.equipment_refs == ["POLU2406018", "POLU2406023"]
    # release characters are gone from mapped values
    assert c2.parties[1].name == "O'NEILL HARDWARE (HK) LTD"
    assert c2.items[0].description == ["EPOXY RESIN ADHESIVE KIT, MIX RATIO 1:2, NON-HAZARDOUS"]


def test_provenance_points_at_the_source(sea: list[CanonicalDocument]) -> None:
    prov = sea[0].provenance
    assert prov is not None and prov.source_format == "edifact" and prov.message_type == "CUSCAR"
    pos = prov.fields["consignments[0].transport_document.identifier"]
    assert (pos.segment_tag, pos.segment_position, pos.element, pos.component) == ("CNI", 19, 2, 1)
    pos = prov.fields["consignments[0].items[1].hs_code"]
    assert (pos.segment_tag, pos.element, pos.component, pos.line) == ("CST", 2, 1, 46)


def test_json_round_trip_keeps_decimals_and_times(sea: list[CanonicalDocument]) -> None:
    data = to_json(sea[0])
    assert b'"value":"12480.5"' in data and b"+08:00" in data
    assert from_json(data) == sea[0]


def test_committed_json_schema_is_current() -> None:
    import json

    from edigate.canonical.model import json_schema

    from .conftest import REPO

    committed = json.loads((REPO / "docs" / "canonical-schema.json").read_text())
    assert committed == json.loads(json.dumps(json_schema())), (
        "regenerate docs/canonical-schema.json (see docs/canonical.md)"
    )
