"""COARRI D.95B (third-party sample) and CODECO D.96B (our fixture) -> canonical equipment
reports, value by value."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from edigate.canonical.model import CanonicalDocument

from .conftest import FIXTURES, SAMPLES
from .test_mapping_engine import map_file

HKT = timezone(timedelta(hours=8))  # the mappings' time zone for times without one


@pytest.fixture(scope="module")
def coarri() -> list[CanonicalDocument]:
    return map_file(SAMPLES / "php-edifact" / "D95BCOARRI.edi")


def test_coarri_discharge_report(coarri: list[CanonicalDocument]) -> None:
    doc = coarri[0]
    h = doc.header
    assert (h.type, h.type_code, h.identifier, h.function) == (
        "equipment_report", "44", "35961879700001", "9")  # fmt: skip
    btm = doc.border_transport_means
    assert btm is not None
    # TDT+20+031W+1+13+COS:172:20+++3ERX3:103::COSCO AFRICA
    assert (btm.mode, btm.journey_id, btm.identifier, btm.identifier_type, btm.name) == (
        "1", "031W", "3ERX3", "CALL_SIGN", "COSCO AFRICA")  # fmt: skip
    assert btm.carrier is not None and btm.carrier.identifier == "COS"
    assert [(loc.code, loc.function) for loc in btm.itinerary] == [("ITGOA", "unloading")]
    assert btm.eta == datetime(2016, 2, 2, 0, 0, tzinfo=HKT)
    assert btm.etd == datetime(2016, 2, 4, 16, 52, tzinfo=HKT)
    assert [(p.role, p.identifier) for p in doc.parties] == [("CF", "COE")]
    first, second = doc.transport_equipment
    assert (first.identifier, first.size_type, first.loaded, first.location) == (
        "FCIU9908030", "45G1", True, "380886")  # fmt: skip
    assert first.event_time == datetime(2016, 2, 3, 9, 13, tzinfo=HKT)  # DTM+203
    assert [(loc.code, loc.function) for loc in first.locations] == [("TRKMX", "loading")]
    assert first.gross_mass is not None
    assert (first.gross_mass.value, first.gross_mass.unit) == (Decimal("8914"), "KGM")  # EGW
    assert [(s.identifier, s.party) for s in first.seals] == [("SI", "CA")]  # SEL+SI+CA
    # on-carriage TDT+30++9+31 then LOC+7+ITGOA
    tm = first.transport_means
    assert tm is not None
    assert (tm.mode, tm.identifier, tm.identifier_type) == ("9", None, None)
    assert [(loc.code, loc.function) for loc in tm.itinerary] == [("ITGOA", "delivery")]
    assert (second.identifier, second.location) == ("MAGU5591240", "380686")
    assert second.event_time == datetime(2016, 2, 3, 9, 11, tzinfo=HKT)
    assert second.gross_mass is not None and second.gross_mass.value == Decimal("9528")


def test_coarri_loading_report(coarri: list[CanonicalDocument]) -> None:
    doc = coarri[1]
    assert (doc.header.type_code, doc.header.identifier) == ("46", "35961881700001")
    btm = doc.border_transport_means
    assert btm is not None and btm.journey_id == "032E"
    assert [(loc.code, loc.function) for loc in btm.itinerary] == [("ITGOA", "loading")]
    eq = doc.transport_equipment
    assert len(eq) == 19  # CNT+16:19
    first = eq[0]
    assert (first.identifier, first.size_type, first.location) == (
        "CBHU6192031", "42G1", "261386")  # fmt: skip
    assert [(r.type_code, r.identifier) for r in first.references] == [("BN", "9000157890")]
    assert first.event_time == datetime(2016, 2, 4, 14, 38, tzinfo=HKT)
    assert [(loc.code, loc.function) for loc in first.locations] == [
        ("GRPIR", "unloading"), ("GRPIR", "delivery")]  # fmt: skip
    assert first.gross_mass is not None and first.gross_mass.value == Decimal("21500")
    assert [(s.identifier, s.party) for s in first.seals] == [("H53175", "SH")]
    assert first.transport_means is None
    (dg,) = [e for e in eq if e.dangerous_goods]
    assert (dg.identifier, dg.location) == ("CBHU6411248", "101682")
    assert [(d.un_number, d.hazard_class) for d in dg.dangerous_goods] == [("2735", "8")]
    (no_booking,) = [e for e in eq if not e.references]
    assert no_booking.identifier == "CBHU8131755"
    assert [e.identifier for e in eq[-2:]] == ["FSCU5025633", "CAXU3190016"]
    assert eq[-1].gross_mass is not None and eq[-1].gross_mass.value == Decimal("17300")


def test_codeco_gate_in() -> None:
    (doc,) = map_file(FIXTURES / "codeco_d96b_gatein.edi")
    h = doc.header
    assert (h.type, h.type_code, h.identifier) == (
        "equipment_report", "34", "KCT9-GI-20240704-031")  # fmt: skip
    assert h.issue_time == datetime(2024, 7, 4, 17, 45, tzinfo=HKT)
    assert [(r.type_code, r.identifier) for r in h.references] == [("VON", "119S")]
    btm = doc.border_transport_means
    assert btm is not None
    assert (btm.identifier, btm.identifier_type, btm.name, btm.journey_id) == (
        "9517343", "IMO", "ORIENT STAR", "119S")  # fmt: skip
    assert btm.etd == datetime(2024, 7, 6, 18, 0, tzinfo=HKT)
    assert [(p.role, p.identifier, p.name) for p in doc.parties] == [
        ("MS", "KCT9", "KWAI CHUNG TERMINAL 9 OPERATIONS"),
        ("CF", "POCL", "PACIFIC ORIENT CONTAINER LINE"),
    ]
    assert [(c.channel, c.value) for c in doc.parties[0].contacts] == [("TE", "85224101888")]

    full, empty = doc.transport_equipment
    assert (full.identifier, full.size_type, full.loaded) == ("POLU2407040", "45G1", True)
    assert full.event_time == datetime(2024, 7, 4, 15, 12, tzinfo=HKT)  # DTM+7
    assert [(r.type_code, r.identifier) for r in full.references] == [("BN", "POCLBKG2407112")]
    assert [(loc.code, loc.function) for loc in full.locations] == [
        ("HKHKG", "loading"), ("AUSYD", "unloading")]  # fmt: skip
    assert full.gross_mass is not None
    assert (full.gross_mass.value, full.gross_mass.unit) == (Decimal("21840"), "KGM")  # not T
    assert [(s.identifier, s.party) for s in full.seals] == [("POL7012554", "CA")]
    assert [(p.role, p.name) for p in full.parties] == [("CZ", "TAI HING HOUSEHOLD SUPPLIES LTD")]
    truck = full.transport_means
    assert truck is not None and truck.carrier is not None
    assert (truck.mode, truck.identifier, truck.identifier_type, truck.nationality) == (
        "3", "UV2381", "REGISTRATION", "HK")  # fmt: skip
    assert (truck.carrier.identifier, truck.carrier.name) == ("CKH", "CHEUNG KEE HAULAGE")

    assert (empty.identifier, empty.size_type, empty.loaded) == ("POLU2407056", "22G1", False)
    assert empty.event_time == datetime(2024, 7, 4, 16, 34, tzinfo=HKT)
    assert [(r.type_code, r.identifier) for r in empty.references] == [("AAJ", "POCLREL2407088")]
    assert [(loc.code, loc.function) for loc in empty.locations] == [("HKHKG", "empty_return")]
    assert empty.gross_mass is None  # only the tare is given
    assert empty.transport_means is not None and empty.transport_means.identifier == "LK5517"
