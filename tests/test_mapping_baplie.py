"""BAPLIE D.95B and D.04B -> canonical stowage plan, value by value, from the third-party
samples (../shared/samples/edifact). Both samples have validation findings (see
test_samples.py); a message's body is mapped whatever the validator said, the caller decides
what to do with a message of a rejected interchange."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from edigate.edifact.validator import EdifactValidator

from .conftest import SAMPLES
from .test_mapping_engine import map_file

HKT = timezone(timedelta(hours=8))  # the mappings' time zone for times without one
D95B = SAMPLES / "php-edifact" / "D95BBAPLIE.edi"
D04B = SAMPLES / "edifact-types" / "d04b_baplie.edi"


def test_d95b_vessel_and_voyage() -> None:
    (doc,) = map_file(D95B, valid=False)  # RFF+042: 042 is no 1153 code
    h = doc.header
    assert (h.type, h.identifier, h.type_code, h.function) == (
        "stowage_plan", "391651645", None, None)  # BGM++391651645  # fmt: skip
    assert h.issue_time is None  # DTM+137::201 carries no date
    btm = doc.border_transport_means
    assert btm is not None
    # TDT+20+042+++:172:182+++VRIB3:103:ZZZ:OOCL BEIJING
    assert (btm.journey_id, btm.identifier, btm.identifier_type, btm.name) == (
        "042", "VRIB3", "CALL_SIGN", "OOCL BEIJING")  # fmt: skip
    assert btm.carrier is None  # C040 names no carrier code
    assert btm.eta == datetime(2016, 4, 14, 0, 0, tzinfo=HKT)  # DTM+178 (actual arrival)
    assert btm.etd == datetime(2016, 4, 1, 11, 35, tzinfo=HKT)  # DTM+133
    assert [(loc.code, loc.function) for loc in btm.itinerary] == [("USLGB", "departure")]


def test_d95b_stowage() -> None:
    (doc,) = map_file(D95B, valid=False)
    eq = doc.transport_equipment
    assert [(e.identifier, e.type, e.size_type, e.loaded, e.location) for e in eq] == [
        ("OOLU4293959", "CN", "4200", False, "0780690"),
        ("MOEU0710945", "CN", "L5G1", False, "0060886"),
        ("OOLU8757889", "CN", "4500", True, "0100114"),
    ]
    assert [(e.gross_mass.value, e.gross_mass.unit) for e in eq if e.gross_mass] == [
        (Decimal("3833"), "KGM"), (Decimal("3983"), "KGM"), (Decimal("26000"), "KGM")]  # fmt: skip
    assert [[(loc.code, loc.function) for loc in e.locations] for e in eq] == [
        [("USLGB", "loading"), ("CNYTN", "unloading")],
        [("USLGB", "loading"), ("CNXMN", "unloading")],
        [("USLGB", "loading"), ("TWKHH", "unloading")],
    ]
    assert [[(p.role, p.identifier) for p in e.parties] for e in eq] == [
        [("CA", "OOL")], [("CA", "MOL")], [("CA", "OOL")]]  # fmt: skip
    assert [(r.type_code, r.identifier) for r in eq[0].references] == [("BM", "1")]
    assert doc.provenance is not None
    pos = doc.provenance.fields["transport_equipment[1].location"]  # LOC+147+0060886::5
    assert (pos.segment_tag, pos.segment_position, pos.element, pos.component) == ("LOC", 16, 2, 1)


def test_d04b_envelope_errors_do_not_stop_the_mapping() -> None:
    (ic,) = EdifactValidator().validate_bytes(D04B.read_bytes())
    assert not ic.valid
    (msg,) = ic.messages
    # only the envelope is wrong: UNB date (interchange) and UNH S009 (message); no body finding
    assert [(f.level, f.segment_tag) for f in ic.findings] == [("interchange", "UNB")]
    assert [(f.level, f.segment_tag) for f in msg.findings] == [("message", "UNH")]

    (doc,) = map_file(D04B, valid=False)
    h = doc.header
    assert (h.type, h.identifier, h.function) == ("stowage_plan", "2343", "9")
    assert h.issue_time == datetime(2009, 10, 30, 12, 0, tzinfo=HKT)  # 0910301200, format 201
    btm = doc.border_transport_means
    assert btm is not None
    # TDT+20+RFN234++:103::MEAN TRANS++++IMONUMBER:146 (C001 is no vessel name)
    assert (btm.journey_id, btm.identifier, btm.identifier_type, btm.name) == (
        "RFN234", "IMONUMBER", "IMO", None)  # fmt: skip
    assert btm.eta == datetime(2009, 10, 30, 12, 30, tzinfo=HKT)  # DTM+178
    assert btm.etd == datetime(2009, 10, 1, 12, 30, tzinfo=HKT)  # DTM+133
    assert [(loc.code, loc.function) for loc in btm.itinerary] == [
        ("DEPARTPLACE", "departure"), ("NEXTPORTOFCALL", "next_port_of_call")]  # fmt: skip
    (e,) = doc.transport_equipment
    # EQD+CN+CONTAINER+:::2210+++5: the size/type only in the description 8154
    assert (e.identifier, e.type, e.size_type, e.loaded, e.location) == (
        "CONTAINER", "CN", "2210", True, "0050302")  # fmt: skip
    assert e.gross_mass is not None and e.gross_mass.value == Decimal("23000")
    assert [(loc.code, loc.function) for loc in e.locations] == [
        ("WARDBED", "other"), ("PORTOFDISCHARGE", "unloading"), ("PLACEOFDELIVERY", "delivery")]
    assert [(r.type_code, r.identifier) for r in e.references] == [("BM", "1")]
    assert [(p.role, p.identifier) for p in e.parties] == [("CA", "TSL")]
