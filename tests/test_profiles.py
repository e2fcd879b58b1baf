"""Implementation-guide profiles: the shipped example ``hk_cuscar_d95b.toml`` narrows CUSCAR D.95B.

Every variant below is the small valid CUSCAR fixture with one change (UNT recounted). Each one is
first checked to be valid under the plain directory, so that the finding expected under the
profile can only come from the profile's restriction. Positions follow the project's finding
conventions (tests/fixtures/edifact/README.md): ``segment_position`` counts UNH as 1, a missing
segment or group is named (its trigger) at the position of the segment received in its place,
``element`` counts the first data element after the tag as 1. (For a missing segment ISO 9735-10
0096 asks for the position of the last segment processed before it, one less; that concerns the
CONTRL and is tested, as a known deviation, in test_contrl.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edigate.cli import main
from edigate.edifact.directory import (
    DirectoryError,
    Node,
    apply_profile,
    load_profile,
    message_spec,
)
from edigate.edifact.validator import EdifactValidator, Finding

from .conftest import FIXTURES, REPO

PROFILE_PATH = REPO / "gateway" / "edifact" / "profiles" / "hk_cuscar_d95b.toml"
BASE_NAME = "cuscar_d95b_small_unoa.edi"
BASE = (FIXTURES / BASE_NAME).read_bytes()

Key = tuple[str, str, str | None, int | None, int | None, int | None]


def key(f: Finding) -> Key:
    return (
        f.code,
        f.level,
        f.segment_tag or None,
        f.segment_position or None,
        f.element or None,
        f.component or None,
    )


def findings(data: bytes, profiled: bool) -> list[Key]:
    profiles = [load_profile(PROFILE_PATH)] if profiled else []
    reports = EdifactValidator(profiles).validate_bytes(data)
    return sorted(key(f) for ic in reports for f in ic.all_findings())


def variant(data: bytes, edits: list[tuple[str, list[str]]]) -> bytes:
    """Replace a run of whole segment lines (given without terminators, joined by LF; it must
    occur exactly once) by other segments, then recount UNT.

    The base file has one segment per line, ``'`` + LF after each, and a single message.
    """
    lines = data.decode("ascii").split("\n")
    for old, new in edits:
        block = [o + "'" for o in old.split("\n")]
        n = len(block)
        matches = [i for i in range(len(lines) - n + 1) if lines[i : i + n] == block]
        assert len(matches) == 1, f"{old!r} found {len(matches)} times"
        i = matches[0]
        lines[i : i + n] = [s + "'" for s in new]
    unh = next(i for i, line in enumerate(lines) if line.startswith("UNH+"))
    unt = next(i for i, line in enumerate(lines) if line.startswith("UNT+"))
    ref = lines[unt].rstrip("'").split("+")[2]
    lines[unt] = f"UNT+{unt - unh + 1}+{ref}'"
    return "\n".join(lines).encode("ascii")


TDT = "TDT+20+024E+1++POCL:172:87+++9704611:146:54:HARBOUR PIONEER:PA"
BGM = "BGM+85+POCL024E-HKG-09+9"
DTM137 = "DTM+137:202406171030:203"
NAD_CA = "NAD+CA+POCL:172:87++PACIFIC ORIENT CONTAINER LINE"
NAD_CZ = "NAD+CZ+++SHANGHAI BRIGHTSTAR ELECTRONICS CO.+NO. 1888 ZHANGJIANG ROAD+SHANGHAI++201203+CN"
NAD_CN = "NAD+CN+++O?'NEILL HARDWARE (HK) LTD+G/F, 27 CANTON ROAD, TSIM SHA TSUI+HONG KONG+++HK"
CONSIGNMENT = [
    "CNI+1+POCLSHA0240601",
    "RFF+BM:POCLSHA0240601",
    "CNT+7:6480.5:KGM",
    "LOC+9+CNSHA:139:6",
    "LOC+11+HKHKG:139:6",
    NAD_CZ,
    NAD_CN,
    "GID+1+320:CT::6",
    "FTX+AAA+++NOTEBOOK COMPUTERS, 50?+ CARTONS PER PALLET",
    "MEA+WT+G+KGM:6480.5",
    "SGP+POLU2406018+320",
    "CST+1+847130:169:1",
]
# Base positions (UNH = 1): BGM 2, DTM 3, RFF 4, NAD 5, TDT 6, LOC+60 7, DTM+132 8, EQD 9, MEA 10,
# SEL 11, CNT 12, CNI 13, RFF+BM 14, CNT 15, LOC+9 16, LOC+11 17, NAD+CZ 18, NAD+CN 19, GID 20.

# (id, edits, the one finding expected under the profile)
VIOLATIONS: list[tuple[str, list[tuple[str, list[str]]], Key]] = [
    # -- 13: made mandatory, missing ---------------------------------------------------------
    # (ISO 9735-10 0096: reported at the last segment processed before the expected place)
    # SG1 (0070) C9 -> M1: the whole vessel group removed; EQD arrives where TDT was expected.
    (
        "sg1_transport_missing",
        [(TDT, []), ("LOC+60+HKHKG:139:6", []), ("DTM+132:202406181400:203", [])],
        ("13", "segment", "TDT", 5, None, None),
    ),
    # SG4 (0240) C9999 -> M: no consignment at all; UNT arrives at position 13.
    (
        "sg4_consignment_missing",
        [("\n".join(CONSIGNMENT), [])],
        ("13", "segment", "CNI", 12, None, None),
    ),
    # header DTM (0030) C9 -> M; RFF arrives at 3.
    ("header_dtm_missing", [(DTM137, [])], ("13", "segment", "DTM", 2, None, None)),
    # header NAD (0050) C9 -> M1; TDT arrives at 5.
    ("header_nad_missing", [(NAD_CA, [])], ("13", "segment", "NAD", 4, None, None)),
    # LOC in SG1 (0090) C99 -> M; DTM+132 arrives at 7.
    ("vessel_loc_missing", [("LOC+60+HKHKG:139:6", [])], ("13", "segment", "LOC", 6, None, None)),
    # SG7 (0400) C99 -> M3: no party in the consignment; GID arrives at 18.
    ("sg7_parties_missing", [(NAD_CZ, []), (NAD_CN, [])], ("13", "segment", "NAD", 17, None, None)),
    # BGM 1004 C -> M
    ("bgm_document_number_missing", [(BGM, ["BGM+85++9"])], ("13", "element", "BGM", 2, 2, None)),
    # RFF C506/1154 C -> M (consignment RFF)
    (
        "rff_reference_number_missing",
        [("RFF+BM:POCLSHA0240601", ["RFF+BM"])],
        ("13", "element", "RFF", 14, 1, 2),
    ),
    # DTM C507/2379 C -> M
    ("dtm_format_missing", [(DTM137, ["DTM+137:202406171030"])], ("13", "element", "DTM", 3, 1, 3)),
    # TDT 8028 voyage number C -> M
    (
        "tdt_voyage_missing",
        [(TDT, [TDT.replace("+024E+", "++")])],
        ("13", "element", "TDT", 6, 2, None),
    ),
    # TDT C222/8213 (IMO number) C -> M
    ("tdt_imo_missing", [(TDT, [TDT.replace("9704611:", ":")])], ("13", "element", "TDT", 6, 8, 1)),
    # TDT C222/8212 (vessel name) C -> M
    (
        "tdt_vessel_name_missing",
        [(TDT, [TDT.replace("HARBOUR PIONEER", "")])],
        ("13", "element", "TDT", 6, 8, 4),
    ),
    # CNI C503/1004 (B/L number) C -> M; the composite stays present through 1373.
    (
        "cni_bl_number_missing",
        [("CNI+1+POCLSHA0240601", ["CNI+1+:9"])],
        ("13", "element", "CNI", 13, 2, 1),
    ),
    # GID C213/7065 (kind of packages) C -> M
    (
        "gid_package_kind_missing",
        [("GID+1+320:CT::6", ["GID+1+320"])],
        ("13", "element", "GID", 20, 2, 2),
    ),
    # -- 12: a code outside the fixed list (each code exists in UNCL D.95B) --------------------
    # 1001 785 "Cargo manifest" instead of 85 "Customs manifest"
    (
        "bgm_document_name_785",
        [(BGM, ["BGM+785+POCL024E-HKG-09+9"])],
        ("12", "element", "BGM", 2, 1, 1),
    ),
    # 1225 7 "Duplicate"
    (
        "bgm_function_duplicate",
        [(BGM, ["BGM+85+POCL024E-HKG-09+7"])],
        ("12", "element", "BGM", 2, 3, None),
    ),
    # 2379 201 "YYMMDDHHMM"
    ("dtm_format_201", [(DTM137, ["DTM+137:2406171030:201"])], ("12", "element", "DTM", 3, 1, 3)),
    # 1153 CN "Carrier's reference number" in the consignment
    (
        "rff_qualifier_cn",
        [("RFF+BM:POCLSHA0240601", ["RFF+CN:POCLSHA0240601"])],
        ("12", "element", "RFF", 14, 1, 1),
    ),
    # 3035 SE "Seller" in place of the consignor
    (
        "nad_qualifier_seller",
        [(NAD_CZ, [NAD_CZ.replace("NAD+CZ+", "NAD+SE+")])],
        ("12", "element", "NAD", 18, 1, None),
    ),
    # 8051 10 "Pre-carriage transport"
    (
        "tdt_stage_precarriage",
        [(TDT, [TDT.replace("TDT+20+", "TDT+10+")])],
        ("12", "element", "TDT", 6, 1, None),
    ),
    # 3227 24 "Port of entry"
    (
        "loc_port_of_entry",
        [("LOC+11+HKHKG:139:6", ["LOC+24+HKHKG:139:6"])],
        ("12", "element", "LOC", 17, 1, None),
    ),
    # 8053 CH "Chassis"
    (
        "eqd_chassis",
        [("EQD+CN+POLU2406018+45G1:102:5+2+3+5", ["EQD+CH+POLU2406018+45G1:102:5+2+3+5"])],
        ("12", "element", "EQD", 9, 1, None),
    ),
    # -- 39/40: narrowed lengths ----------------------------------------------------------------
    # 1004 an..35 -> an..17: 18 characters
    (
        "bgm_document_number_18",
        [(BGM, ["BGM+85+POCL024E-HKG-09XYZ+9"])],
        ("39", "element", "BGM", 2, 2, None),
    ),
    # 8213 an..9 -> exactly 7: 8 and 6 characters
    (
        "tdt_imo_8_digits",
        [(TDT, [TDT.replace("9704611:", "97046110:")])],
        ("39", "element", "TDT", 6, 8, 1),
    ),
    (
        "tdt_imo_6_digits",
        [(TDT, [TDT.replace("9704611:", "970461:")])],
        ("40", "element", "TDT", 6, 8, 1),
    ),
    # -- 35/36: narrowed repetitions -------------------------------------------------------------
    # header NAD C9 -> M1: a second NAD at position 6
    (
        "header_nad_twice",
        [(NAD_CA, [NAD_CA, NAD_CA.replace("LINE", "LINE HK")])],
        ("35", "segment", "NAD", 6, None, None),
    ),
    # SG1 C9 -> M1: a second transport group (complete: TDT and its mandatory LOC) at position 9
    (
        "sg1_twice",
        [("DTM+132:202406181400:203", ["DTM+132:202406181400:203", TDT, "LOC+60+HKHKG:139:6"])],
        ("36", "segment", "TDT", 9, None, None),
    ),
    # SG7 C99 -> M3: a fourth party group starts at position 21
    (
        "sg7_four_parties",
        [
            (
                NAD_CN,
                [
                    NAD_CN,
                    NAD_CN.replace("NAD+CN+", "NAD+N1+"),
                    NAD_CN.replace("NAD+CN+", "NAD+N2+"),
                ],
            )
        ],
        ("36", "segment", "NAD", 21, None, None),
    ),
]


@pytest.mark.parametrize(
    ("edits", "expected"), [(e, x) for _, e, x in VIOLATIONS], ids=[v[0] for v in VIOLATIONS]
)
def test_profile_restriction_is_reported(edits: list[tuple[str, list[str]]], expected: Key) -> None:
    data = variant(BASE, edits)
    assert findings(data, profiled=False) == [], "the variant must be valid in the directory"
    assert findings(data, profiled=True) == [expected]


# Variants that stay inside the profile: the restriction is not stricter than the guide says.
CONFORMING: list[tuple[str, list[tuple[str, list[str]]]]] = [
    ("bgm_document_number_17", [(BGM, ["BGM+85+POCL024E-HKG-09XY+9"])]),
    ("bgm_replacement", [(BGM, ["BGM+85+POCL024E-HKG-09+5"])]),
    ("house_bill_of_lading", [("RFF+BM:POCLSHA0240601", ["RFF+BH:POCLSHA0240601"])]),
    ("three_parties", [(NAD_CN, [NAD_CN, NAD_CN.replace("NAD+CN+", "NAD+N1+")])]),
    (
        "loc_place_of_delivery",
        [("LOC+11+HKHKG:139:6", ["LOC+11+HKHKG:139:6", "LOC+7+HKHKG:139:6"])],
    ),
]


@pytest.mark.parametrize("edits", [e for _, e in CONFORMING], ids=[c[0] for c in CONFORMING])
def test_conforming_variant_stays_valid(edits: list[tuple[str, list[str]]]) -> None:
    data = variant(BASE, edits)
    assert findings(data, profiled=True) == []


@pytest.mark.parametrize(
    "name", ["cuscar_d95b_sea.edi", "cuscar_d95b_multi.edi", "cuscar_d95b_small_unoa.edi"]
)
def test_valid_cuscar_fixtures_conform_to_the_profile(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    reports = EdifactValidator([load_profile(PROFILE_PATH)]).validate_bytes(data)
    assert [f.as_dict() for ic in reports for f in ic.all_findings()] == []
    assert {m.type for ic in reports for m in ic.messages} == {"CUSCAR"}


@pytest.mark.parametrize("name", ["cusdec_d96b_import.edi", "cusdec_d01b_export.edi"])
def test_profile_leaves_other_message_types_alone(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    assert findings(data, profiled=True) == []


def test_profile_applies_only_to_its_directory() -> None:
    # The same message as CUSCAR D.96B with a BGM document name the profile forbids (785): the
    # profile is for D95B only, so D96B's own rules apply (1001 is not a checked code list).
    data = variant(
        BASE,
        [
            ("UNH+CSR0091+CUSCAR:D:95B:UN", ["UNH+CSR0091+CUSCAR:D:96B:UN"]),
            (BGM, ["BGM+785+POCL024E-HKG-09+9"]),
        ],
    )
    assert findings(data, profiled=False) == []
    assert findings(data, profiled=True) == []
    # ...whereas in D95B the same BGM is rejected.
    d95b = variant(BASE, [(BGM, ["BGM+785+POCL024E-HKG-09+9"])])
    assert findings(d95b, profiled=True) == [("12", "element", "BGM", 2, 1, 1)]


def test_load_and_apply_profile_narrow_a_copy() -> None:
    profile = load_profile(PROFILE_PATH)
    assert profile.message == "CUSCAR"
    assert profile.directories == ("D95B",)
    spec = message_spec("D95B", "CUSCAR")
    narrowed = apply_profile(spec, profile)

    def node(root: Node, pos: str) -> Node:
        stack = [root]
        while stack:
            n = stack.pop()
            if n.pos == pos:
                return n
            stack.extend(n.children)
        raise AssertionError(pos)

    # Structure: SG4 (0240) becomes mandatory, SG1 (0070) mandatory and at most once.
    sg4, sg4_orig = node(narrowed.root, "0240"), node(spec.root, "0240")
    assert (sg4.mandatory, sg4.max) == (True, 9999)
    assert (sg4_orig.mandatory, sg4_orig.max) == (False, 9999)
    assert (node(narrowed.root, "0070").mandatory, node(narrowed.root, "0070").max) == (True, 1)
    assert (node(spec.root, "0070").mandatory, node(spec.root, "0070").max) == (False, 9)
    # Elements: BGM 1004 mandatory an..17, 1001 fixed to 85; the cached directory spec is intact.
    bgm, bgm_orig = narrowed.segments["BGM"].elements, spec.segments["BGM"].elements
    assert bgm[1].value is not None and bgm_orig[1].value is not None
    assert (bgm[1].mandatory, bgm[1].value.max) == (True, 17)
    assert (bgm_orig[1].mandatory, bgm_orig[1].value.max) == (False, 35)
    assert bgm[0].components is not None and bgm_orig[0].components is not None
    assert bgm[0].components[0].codes == frozenset({"85"})
    assert bgm_orig[0].components[0].codes is None  # 1001 has no checked list in the directory
    # A qualifier list the directory checks (1153, 402 codes) is replaced by the profile's, per
    # position: AFB in the header RFF (0040), BM/BH in the consignment RFF (0280); the RFF
    # elsewhere keeps the directory's list, and the directory spec is unchanged.
    header, consignment = narrowed.at_position["0040"], narrowed.at_position["0280"]
    rff_orig = spec.segments["RFF"].elements[0]
    for narrowed_rff, codes in ((header, {"AFB"}), (consignment, {"BH", "BM"})):
        comps = narrowed_rff.elements[0].components
        assert comps is not None and comps[0].codes == frozenset(codes)
    other = narrowed.segments["RFF"].elements[0].components
    assert rff_orig.components is not None and other is not None
    assert other[0].codes == rff_orig.components[0].codes and len(other[0].codes or ()) > 3
    assert spec.at_position == {}


def test_profile_naming_an_unknown_position_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        textwrap.dedent("""\
        [profile]
        name = "bad"
        message = "CUSCAR"
        directories = ["D95B"]

        [[structure]]
        pos = "9999"
        status = "M"
    """)
    )
    with pytest.raises(DirectoryError, match="9999"):
        apply_profile(message_spec("D95B", "CUSCAR"), load_profile(bad))


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_profile_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["validate", "--json", "--profile", str(PROFILE_PATH), str(FIXTURES / BASE_NAME)])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["valid"] is True and out["errors"] == []


def test_cli_profile_reports_restriction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bgm785.edi"
    path.write_bytes(variant(BASE, [(BGM, ["BGM+785+POCL024E-HKG-09+9"])]))
    assert main(["validate", "--json", str(path)]) == 0
    capsys.readouterr()
    status = main(["validate", "--json", "--profile", str(PROFILE_PATH), str(path)])
    out = json.loads(capsys.readouterr().out)
    assert status == 1
    assert out["valid"] is False
    (err,) = out["errors"]
    assert err["code"] == "12"
    assert err["segment_tag"] == "BGM"
    pos = err["position"]
    assert (pos["segment_position"], pos["element"], pos["component"]) == (2, 1, 1)


def test_cli_profile_missing_file_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["validate", "--profile", str(tmp_path / "nope.toml"), str(FIXTURES / BASE_NAME)])
    assert status == 2
    assert "cannot read profile" in capsys.readouterr().err


def test_cli_profile_without_message_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "nomessage.toml"
    bad.write_text('[profile]\nname = "x"\ndirectories = ["D95B"]\n')
    status = main(["validate", "--profile", str(bad), str(FIXTURES / BASE_NAME)])
    assert status == 2
    assert "cannot read profile" in capsys.readouterr().err


# -- profile mechanism: position-scoped rules, default directories, load-time checks --------------


def test_consignment_rff_limited_to_bills_of_lading() -> None:
    data = variant(BASE, [("RFF+BM:POCLSHA0240601", ["RFF+AFB:POCLSHA0240601"])])
    assert findings(data, profiled=False) == []
    assert findings(data, profiled=True) == [("12", "element", "RFF", 14, 1, 1)]


def test_profile_without_directories_applies_to_every_directory(tmp_path: Path) -> None:
    path = tmp_path / "nodirs.toml"
    path.write_text(
        textwrap.dedent("""\
        [profile]
        name = "all-directories"
        message = "CUSCAR"

        [[element]]
        segment = "BGM"
        element = 1
        component = 1
        codes = ["785"]
    """)
    )
    reports = EdifactValidator([load_profile(path)]).validate_bytes(BASE)
    assert sorted(key(f) for ic in reports for f in ic.all_findings()) == [
        ("12", "element", "BGM", 2, 1, 1)
    ]


def test_cli_profile_with_unknown_position_is_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "badpos.toml"
    bad.write_text(
        '[profile]\nname = "bad"\nmessage = "CUSCAR"\ndirectories = ["D95B"]\n\n'
        '[[structure]]\npos = "9999"\nstatus = "M"\n'
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edigate.cli",
            "validate",
            "--profile",
            str(bad),
            str(FIXTURES / BASE_NAME),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2
