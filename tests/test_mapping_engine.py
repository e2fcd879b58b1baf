"""The mapping engine's options, each on a small mapping written for the test: field and
``from`` alternatives, conditions (``when``, ``!=``), paths from the root, repeated composites
(``C213#2``), syntax 4 repetitions (``repeat``), ``[derived]`` values, items the model would
refuse, and the compile-time checks against the directory and the canonical model.

``map_file`` is shared by the other test_mapping_* modules."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edigate.canonical.model import CanonicalDocument
from edigate.edifact.validator import EdifactValidator, MessageReport
from edigate.mappings.engine import Mapping, MappingError, load_mapping, map_message, mapping_for

from .conftest import FIXTURES

HKT = timezone(timedelta(hours=8))


def map_file(path: Path | bytes, *, valid: bool | None = True,
             mapping: Mapping | None = None) -> list[CanonicalDocument]:  # fmt: skip
    """Validate ``path`` (a file or its bytes) and map each message with its mapping (or
    ``mapping``). ``valid``: every message must be valid (True) or invalid (False); None: either
    (the segments of a message are mapped whatever the validator said of it)."""
    data = path if isinstance(path, bytes) else path.read_bytes()
    docs = []
    for r in EdifactValidator(keep_segments=True).validate([data]):
        if isinstance(r, MessageReport):
            if valid is not None:
                assert r.valid == valid, [f.as_dict() for f in r.findings]
            assert r.segments is not None and r.spec is not None
            m = mapping or mapping_for(r.type, r.directory)
            assert m is not None, f"no mapping for {r.type} {r.directory}"
            docs.append(map_message(r.segments, r.spec, m))
    return docs


def compile_toml(tmp_path: Path, body: str, message: str = "CUSCAR",
                 directory: str = "D96B") -> Mapping:  # fmt: skip
    path = tmp_path / "test_mapping.toml"
    path.write_text(
        f'[mapping]\nmessage = "{message}"\ndirectories = ["{directory}"]\n'
        f'document_type = "cargo_report"\ntimezone = "Asia/Hong_Kong"\n\n{body}'
    )
    return load_mapping(path, directory)


CUSCAR_D96B = FIXTURES / "cuscar_d96b_sea.edi"


def test_alternatives_when_and_negated_conditions(tmp_path: Path) -> None:
    m = compile_toml(tmp_path, """
[objects.border_transport_means]
from = "SG4[TDT/8051=20]"
[objects.border_transport_means.fields]
# no DTM 178 in the file: the second alternative (132) is used
"eta" = ["DTM[C507/2005=178]/C507/2380 | datetime(C507/2379)",
         "DTM[C507/2005=132]/C507/2380 | datetime(C507/2379)"]
# the condition holds for the first alternative only in a D.95B file: skipped here
"journey_id" = [{ when = "/BGM[C002/1001=999]", value = "=NEVER" }, "TDT/8028"]
"name" = [{ when = "/BGM[C002/1001=85]", value = "TDT/C222/8212" }, "=OTHER"]
[[objects.border_transport_means.lists]]
target = "itinerary"
from = "LOC[3227!=60]"
[objects.border_transport_means.lists.fields]
"code" = "C517/3225"
""")
    (doc,) = map_file(CUSCAR_D96B, mapping=m)
    btm = doc.border_transport_means
    assert btm is not None
    assert btm.eta == datetime(2024, 7, 3, 16, 0, tzinfo=HKT)
    assert (btm.journey_id, btm.name) == ("118N", "ORIENT STAR")
    assert [loc.code for loc in btm.itinerary] == ["TWKHH"]  # LOC+60+HKHKG left out
    assert doc.provenance is not None
    pos = doc.provenance.fields["border_transport_means.eta"]
    assert (pos.segment_tag, pos.segment_position, pos.element, pos.component) == ("DTM", 13, 1, 2)


def test_items_missing_a_required_field_are_left_out(tmp_path: Path) -> None:
    # Only TGHU8812348 has a shipper's seal: the other equipment groups give no identifier and
    # are left out (TransportEquipment requires one); the list's positions stay contiguous.
    m = compile_toml(tmp_path, """
[[lists]]
target = "transport_equipment"
from = "SG5"
[lists.fields]
"identifier" = "SEL[C215/9303=SH]/9308"
"size_type" = "EQD/C224/8155"
[lists.objects.gross_mass]   # no unit anywhere: a Measure needs one, so no gross_mass
from = "MEA"
[lists.objects.gross_mass.fields]
"value" = "C174/6314 | decimal"
""")
    (doc,) = map_file(CUSCAR_D96B, mapping=m)
    assert [(e.identifier, e.size_type, e.gross_mass) for e in doc.transport_equipment] == [
        ("SLK0702118", "22G1", None)
    ]
    assert doc.provenance is not None
    fields = doc.provenance.fields
    assert fields["transport_equipment[0].identifier"].segment_tag == "SEL"
    assert fields["transport_equipment[0].size_type"].segment_position == 20  # its EQD
    assert not [k for k in fields if k.startswith(("transport_equipment[1]", "transport_"
                                                   "equipment[0].gross_mass"))]  # fmt: skip


def test_paths_from_the_root_and_two_lists_into_one_target(tmp_path: Path) -> None:
    m = compile_toml(tmp_path, """
[[lists]]
target = "consignments"
from = "SG7"
[lists.fields]
"sequence" = "CNI/1490 | int"
[lists.objects.master_document]   # the header's reference, from every consignment
from = "/SG1/RFF"
[lists.objects.master_document.fields]
"identifier" = "C506/1154"
[[lists.lists]]
target = "references"
from = "SG8/RFF"
[lists.lists.fields]
"identifier" = "C506/1154"
[[lists.lists]]
target = "references"
from = "/SG1/RFF"
[lists.lists.fields]
"identifier" = "C506/1154"
""")
    (doc,) = map_file(CUSCAR_D96B, mapping=m)
    assert [c.master_document.identifier for c in doc.consignments if c.master_document] == [
        "POCL118N-HKG"] * 3  # fmt: skip
    assert [r.identifier for r in doc.consignments[1].references] == [
        "POCLKHH1180002", "POCL118N-HKG"]  # fmt: skip
    assert doc.provenance is not None
    pos = doc.provenance.fields["consignments[1].references[1].identifier"]
    assert (pos.segment_tag, pos.segment_position) == ("RFF", 4)  # the header's RFF


def test_derived_values_keep_their_source_position(tmp_path: Path) -> None:
    m = compile_toml(tmp_path, """
[derived]
"border_transport_means.etd" = "border_transport_means.eta | add_days(-2)"
"declaration.due_date" = "header.issue_time | add_days(14)"   # no declaration: not created

[objects.border_transport_means]
from = "SG4"
[objects.border_transport_means.fields]
"eta" = "DTM[C507/2005=132]/C507/2380 | datetime(C507/2379)"
""")
    (doc,) = map_file(CUSCAR_D96B, mapping=m)
    assert doc.border_transport_means is not None
    assert doc.border_transport_means.etd == datetime(2024, 7, 1, 16, 0, tzinfo=HKT)
    assert doc.declaration is None
    assert doc.provenance is not None
    pos = doc.provenance.fields["border_transport_means.etd"]
    assert (pos.segment_tag, pos.segment_position) == ("DTM", 13)


def test_repeated_composites_and_repetitions(tmp_path: Path) -> None:
    # COM+85223456789:TE*export@hkcargo.example.hk:EM (syntax 4): one contact per occurrence
    # with ``repeat``; without it, the first occurrence only.
    body = """
[[lists]]
target = "parties"
from = "SG6"
[lists.fields]
"role" = "NAD/3035"
[[lists.lists]]
target = "contacts"
from = "COM"
{repeat}
[lists.lists.fields]
"channel" = "C076/3155"
"value" = "C076/3148"
"""
    export = FIXTURES / "cusdec_d01b_export.edi"
    for repeat, expected in (
        ('repeat = "C076"', [("TE", "85223456789"), ("EM", "export@hkcargo.example.hk")]),
        ("", [("TE", "85223456789")]),
    ):
        m = compile_toml(tmp_path, body.replace("{repeat}", repeat), "CUSDEC", "D01B")
        (doc,) = map_file(export, mapping=m)
        declarant = [p for p in doc.parties if p.role == "DT"]
        assert [(c.channel, c.value) for c in declarant[0].contacts] == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[fields]\n"header.no_such_field" = "BGM/1225"', "DocumentHeader has no field"),
        ('[fields]\n"header.references" = "BGM/1225"', "references is a list: write references[]"),
        ('[fields]\n"header.identifier[]" = "BGM/1225"', "identifier is no list"),
        ('[fields]\n"header.identifier" = "BGM/C002/1000*"', "end with | join"),
        ('[maps.t]\n"1" = "BILL"\n[objects.consignments]', "a list: build it with"),
        ('[objects.border_transport_means]\nfrom = "SG4"\n[objects.border_transport_means.fields]'
         '\n"identifier_type" = "TDT/C222/1131"', "fixed set of values"),
        ('[maps.t]\n"146" = "IMO_NUMBER"\n[objects.border_transport_means]\nfrom = "SG4"\n'
         '[objects.border_transport_means.fields]\n"identifier_type" = "TDT/C222/1131 | map(t)"',
         "map(t) gives ['IMO_NUMBER']"),
        ('[[lists]]\ntarget = "transport_equipment"\nfrom = "SG5"\n[lists.fields]\n'
         '"identifier" = "EQD/C237/8260"\n"loaded" = "=true"', "not a value of this field"),
        ('[[lists]]\ntarget = "consignments"\nfrom = "SG4/CNI"\n[lists.fields]\n'
         '"sequence" = "1490"', "SG4/CNI: CNI is not a segment of SG4"),
        ('[[lists]]\ntarget = "consignments"\nfrom = "SG7/SG14"',
         "SG14 is not a group of SG7"),
        ('[[lists]]\ntarget = "consignments"\nfrom = "SG7[RFF/C506/1153=BM]"',
         "RFF is not a segment of SG7"),
        ('[[lists]]\ntarget = "consignments"\nfrom = "SG7/CNI/1490"', "no data elements"),
        ('[[lists]]\ntarget = "consignments"\nfrom = "SG7"\nfeilds = {}', "unknown keys"),
        ('[[lists]]\ntarget = "consignments"\nfrom = "SG7"\nrepeat = "C503"', "needs a segment"),
        ('[fields]\n"header.identifier" = "BGM/C106/1004 | lower"', "unknown transform"),
        ('[fields]\n"header.issue_time" = "DTM/C507/2380 | add_days(two)"', "whole number"),
        ('[fields]\n"header.identifier" = "BGM/C002#2/1001"', "C002 occurs 1 times"),
        ('[fields]\n"header.identifier" = "BGM/C999/1004"', "C999 is not in segment BGM"),
        ('[objects.header]\nfrom = "BGM"\n[objects.header.fields]\n"type_code" = ["C002/1001", 7]',
         "a list of them"),
        ('[derived]\n"declaration.due_date" = "declaration.shipment_day | add_days(14)"',
         "Declaration has no field 'shipment_day'"),
    ],
)
def test_compile_errors_name_the_rule(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(MappingError, match=re.escape(message)) as e:
        compile_toml(tmp_path, body)
    assert "test_mapping.toml (D96B)" in str(e.value)


def test_cuscar_d95b_hazard_class_and_load_codes() -> None:
    # Two fixes to cuscar_d95b.toml: the hazard class is C205 8351 (8273 names the regulations),
    # and 8169 codes other than 4/5 (7: full, mixed consignment) no longer fail the message.
    data = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
    data = data.replace(b"POLU2406018+45G1:102:5+2+3+5'", b"POLU2406018+45G1:102:5+2+3+7'")
    data = data.replace(b"SGP+POLU2406023+42'\n", b"SGP+POLU2406023+42'\nDGS+IMD+3+1263'\n")
    data = data.replace(b"UNT+58+CSR0001'", b"UNT+59+CSR0001'")
    doc = map_file(data)[0]
    assert [e.loaded for e in doc.transport_equipment] == [True, True]
    item = doc.consignments[1].items[0]
    assert [(d.un_number, d.hazard_class) for d in item.dangerous_goods] == [("1263", "3")]
