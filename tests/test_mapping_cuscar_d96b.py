"""CUSCAR D.96B -> canonical cargo report, value by value, from cuscar_d96b_sea.edi."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from edigate.canonical.model import CanonicalDocument, from_json, to_json

from .conftest import FIXTURES
from .test_mapping_engine import map_file

HKT = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def doc() -> CanonicalDocument:
    (d,) = map_file(FIXTURES / "cuscar_d96b_sea.edi")
    return d


def test_header_carrier_and_vessel(doc: CanonicalDocument) -> None:
    h = doc.header
    assert (h.type, h.type_code, h.identifier, h.function) == (
        "cargo_report", "85", "POCL118N-HKG-01", "9")  # fmt: skip
    assert h.issue_time == datetime(2024, 7, 2, 8, 15, tzinfo=HKT)
    assert [(r.type_code, r.identifier) for r in h.references] == [("AFB", "POCL118N-HKG")]
    (carrier,) = doc.parties  # SG2 NAD+CA with SG3 CTA/COM
    assert (carrier.role, carrier.identifier, carrier.name) == (
        "CA", "POCL", "PACIFIC ORIENT CONTAINER LINE")  # fmt: skip
    assert carrier.address is not None
    assert carrier.address.street == ["88 CONNAUGHT ROAD CENTRAL"]
    assert [(c.channel, c.value) for c in carrier.contacts] == [
        ("TE", "85225551234"), ("EM", "MANIFEST@POCL.EXAMPLE.HK")]  # fmt: skip
    btm = doc.border_transport_means
    assert btm is not None
    assert (btm.mode, btm.identifier, btm.identifier_type, btm.name, btm.nationality) == (
        "1", "9517343", "IMO", "ORIENT STAR", "SG")  # fmt: skip
    assert btm.journey_id == "118N"
    assert btm.eta == datetime(2024, 7, 3, 16, 0, tzinfo=HKT)
    assert btm.etd == datetime(2024, 7, 1, 12, 30, tzinfo=HKT)  # DTM+186 (no 133 given)
    assert btm.carrier is not None and btm.carrier.identifier == "POCL"
    assert [(loc.code, loc.function) for loc in btm.itinerary] == [
        ("HKHKG", "arrival"), ("TWKHH", "last_port_of_call")]  # fmt: skip


def test_equipment(doc: CanonicalDocument) -> None:
    eq = doc.transport_equipment
    assert [(e.identifier, e.type, e.size_type, e.loaded) for e in eq] == [
        ("POLU2407020", "CN", "45R1", True),
        ("TGHU8812348", "CN", "22G1", True),
        ("POLU2407035", "CN", "22G1", True),
    ]
    assert [e.gross_mass.value for e in eq if e.gross_mass] == [
        Decimal("25680.4"), Decimal("10475"), Decimal("5950")]  # fmt: skip
    assert [(s.identifier, s.party) for s in eq[1].seals] == [
        ("POL6610232", "CA"), ("SLK0702118", "SH")]  # fmt: skip


def test_consignment_with_its_own_bill_of_lading(doc: CanonicalDocument) -> None:
    c1 = doc.consignments[0]
    assert c1.sequence == 1
    assert c1.transport_document is not None
    assert (c1.transport_document.identifier, c1.transport_document.type) == (
        "POCLKHH1180001", "BL")  # fmt: skip
    assert c1.master_document is None
    # totals given right after CNI (SG7 level)
    assert c1.total_packages == 1600
    assert c1.total_gross_mass is not None
    assert (c1.total_gross_mass.value, c1.total_gross_mass.unit) == (Decimal("25680.4"), "KGM")
    assert [(r.type_code, r.identifier) for r in c1.references] == [("BM", "POCLKHH1180001")]
    assert [(loc.code, loc.function) for loc in c1.locations] == [
        ("TWKHH", "loading"), ("HKHKG", "unloading")]  # fmt: skip
    assert [(p.role, p.name) for p in c1.parties] == [
        ("CZ", "FORMOSA PRIME MEATS CORP."),
        ("CN", "HARBOUR FRESH FOODS (HK) LTD"),
        ("N1", "HARBOUR FRESH FOODS (HK) LTD"),
    ]
    shipper, consignee = c1.parties[0], c1.parties[1]
    assert shipper.address is not None
    assert shipper.address.street == ["NO. 6, ZHONGHAI ROAD", "QIANZHEN DISTRICT"]
    assert (shipper.address.city, shipper.address.postcode, shipper.address.country) == (
        "KAOHSIUNG", "806", "TW")  # fmt: skip
    assert [(c.channel, c.value) for c in consignee.contacts] == [("TE", "85223456789")]
    (item,) = c1.items
    assert (item.sequence, item.hs_code, item.equipment_refs) == (1, "020319", ["POLU2407020"])
    assert item.description == ["FROZEN PORK BELLY, BONELESS, 15 KG NET PER CARTON"]
    assert [(p.count, p.type_code, p.marks) for p in item.packaging] == [
        (1600, "CT", ["FPM/HKG/118", "C/NO. 1-1600"])]  # fmt: skip
    assert item.gross_mass is not None and item.gross_mass.value == Decimal("25680.4")
    assert item.volume is not None
    assert (item.volume.value, item.volume.unit) == (Decimal("58.2"), "MTQ")
    assert [(d.type_code, d.identifier) for d in item.documents] == [
        ("853", "TW-VC-2407-00318")]  # fmt: skip


def test_house_bill_under_a_master_bill(doc: CanonicalDocument) -> None:
    c2 = doc.consignments[1]
    assert c2.transport_document is not None and c2.master_document is not None
    assert (c2.transport_document.identifier, c2.transport_document.type) == (
        "SLKHKG24070021", "HBL")  # fmt: skip
    assert (c2.master_document.identifier, c2.master_document.type) == ("POCLKHH1180002", "BL")
    assert c2.total_packages == 420
    assert c2.total_gross_mass is not None and c2.total_gross_mass.value == Decimal("13090")
    assert [loc.function for loc in c2.locations] == ["loading", "unloading", "delivery"]
    assert [p.role for p in c2.parties] == ["FW", "CZ", "CN"]
    assert c2.parties[0].name == "SWIFTLINK LOGISTICS (TW) CO LTD"
    i1, i2 = c2.items
    assert (i1.sequence, i1.hs_code, i1.equipment_refs) == (1, "392690", ["TGHU8812348"])
    assert [(p.count, p.type_code) for p in i1.packaging] == [(300, "CT")]
    assert i1.gross_mass is not None and i1.gross_mass.value == Decimal("7860")
    assert (i2.sequence, i2.hs_code) == (2, "950300")
    assert i2.equipment_refs == ["TGHU8812348", "POLU2407035"]
    assert i2.description == ["CHILDREN'S WOODEN PUZZLES AND BUILDING BLOCKS"]  # ?' released
    assert i2.gross_mass is not None and i2.gross_mass.value == Decimal("5230")


def test_dangerous_goods_consignment(doc: CanonicalDocument) -> None:
    c3 = doc.consignments[2]
    assert c3.transport_document is not None
    assert (c3.sequence, c3.transport_document.identifier) == (3, "POCLKHH1180003")
    assert c3.master_document is None
    (item,) = c3.items
    assert item.hs_code == "320890"
    assert [(p.count, p.type_code) for p in item.packaging] == [(80, "DR")]
    assert [(d.un_number, d.hazard_class) for d in item.dangerous_goods] == [("1263", "3")]
    assert item.gross_mass is not None and item.gross_mass.value == Decimal("3335")


def test_provenance_and_json(doc: CanonicalDocument) -> None:
    assert doc.provenance is not None and doc.provenance.message_type == "CUSCAR"
    fields = doc.provenance.fields
    pos = fields["consignments[1].master_document.identifier"]  # RFF+MB:POCLKHH1180002
    assert (pos.segment_tag, pos.segment_position, pos.element, pos.component) == ("RFF", 51, 1, 2)
    pos = fields["consignments[1].total_packages"]  # CNT+11:420, right after CNI+2
    assert (pos.segment_tag, pos.segment_position, pos.line) == ("CNT", 50, 52)
    assert from_json(to_json(doc)) == doc
