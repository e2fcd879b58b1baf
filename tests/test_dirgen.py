"""Tests of the directory compiler (edigate.edifact.dirgen) and of its committed output.

The expected values are read from the original UNECE text files in ../shared/unedifact (always
present next to the repository in CI) with simple regular expressions that do not share code with
the compiler, and compared with the JSON committed in gateway/edifact/directories.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from edigate.edifact.dirgen import compiler, dirparse, segtable, textfiles

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "unedifact"
OUT = REPO / "gateway" / "edifact" / "directories"
VERSIONS = ["D95B", "D96B", "D99A", "D00B", "D01B", "D03B", "D04B", "D13B"]
MESSAGES = compiler.message_list()


@cache
def source_text(rel: str) -> str:
    return textfiles.read_text(SOURCE / rel)


@cache
def output(rel: str) -> Any:
    return json.loads((OUT / rel).read_text(encoding="utf-8"))


def message_file(version: str, message: str) -> str:
    folder = SOURCE / version.lower()
    path = textfiles.find_message(folder, message)
    assert path is not None, f"{message} {version}"
    return path.relative_to(SOURCE).as_posix()


def table_lines(text: str) -> list[str]:
    """The lines of the segment table: from the column-0 "4.3.1  Segment table" heading to the
    first UNT line (independent of the compiler's parser)."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if re.match(r"^4\.3\.1\s+Segment table", line))
    out = []
    for line in lines[start + 1 :]:
        out.append(line)
        if re.match(r"^\d{4,5}\s+(?:\S\s+)?UNT\s", line):
            return out
    raise AssertionError("no UNT in the segment table")


def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for node in nodes:
        out.append(node)
        out.extend(walk(node.get("children", [])))
    return out


def entry_block(text: str, head: str) -> list[str]:
    """The lines of the directory entry whose first line matches ``head`` (between rule lines)."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if re.match(head, line))
    block = []
    for line in lines[start:]:
        if re.match(r"^\s*(?:─{20,}|-{20,})\s*$", line):
            break
        block.append(line)
    return block


# --------------------------------------------------------------------------- the run itself


@pytest.fixture(scope="module")
def fresh() -> tuple[dict[str, str], compiler.Report]:
    report = compiler.Report()
    files = compiler.compile_all(SOURCE, report)
    return files, report


def test_committed_output_is_up_to_date(fresh: tuple[dict[str, str], compiler.Report]) -> None:
    files, _ = fresh
    assert compiler.check_outputs(OUT, files) == []


def test_every_combination_compiles_without_problems(
    fresh: tuple[dict[str, str], compiler.Report],
) -> None:
    _, report = fresh
    assert report.errors == []
    assert report.absent == []
    assert report.warnings == []
    assert report.compiled == {
        **{v: MESSAGES for v in VERSIONS},
        "syntax4": ["CONTRL"],
        "syntax3": ["CONTRL"],
    }
    assert len(fresh[0]) == 8 * (1 + len(MESSAGES)) + 4


def test_output_is_compact_and_sorted() -> None:
    text = (OUT / "D99A" / "messages" / "CUSCAR.json").read_text(encoding="utf-8")
    obj = json.loads(text)
    assert text == json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"


def test_message_list_is_read_from_the_toml_file() -> None:
    assert MESSAGES[:3] == ["APERAK", "BAPLIE", "COARRI"]
    assert len(MESSAGES) == 19 and "CUSCAR" in MESSAGES and "ORDERS" in MESSAGES


def test_runs_as_a_plain_script() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = REPO / "gateway" / "edifact" / "dirgen" / "__main__.py"
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--source" in done.stdout


# --------------------------------------------------------------------------- message structures


def test_cuscar_d99a_group_14_against_the_text() -> None:
    lines = table_lines(source_text("d99a/Edmd/CUSCAR_D.99A"))
    group_line = next(line for line in lines if line.startswith("0610"))
    assert re.search(r"Segment group 14\s+─+\s+M\s+9999─", group_line)
    gid_line = next(line for line in lines if line.startswith("0620"))
    assert re.match(r"^0620\s+GID Goods item details\s+M\s+1\s", gid_line)

    structure = output("D99A/messages/CUSCAR.json")["structure"]
    groups = {node["group"]: node for node in walk(structure) if "group" in node}
    g14 = groups[14]
    assert (g14["pos"], g14["status"], g14["max"]) == ("0610", "M", 9999)
    assert g14["children"][0] == {"tag": "GID", "status": "M", "max": 1, "pos": "0620"}
    assert [c["group"] for c in g14["children"] if "group" in c] == [15, 16]
    assert [c["tag"] for c in groups[16]["children"]] == ["QTY", "FTX"]
    # group 14 sits in group 8 inside group 7 (the box closes with "┴┴┴┘" at 0820)
    g8 = groups[8]
    assert g14 in g8["children"] and g8 in groups[7]["children"]
    assert structure[-1] == {"tag": "UNT", "status": "M", "max": 1, "pos": "0870"}
    assert structure[0]["tag"] == "UNH"


def test_cuscar_identification() -> None:
    doc = output("D99A/messages/CUSCAR.json")
    assert {k: doc[k] for k in ("message", "version", "release", "agency", "name")} == {
        "message": "CUSCAR",
        "version": "D",
        "release": "99A",
        "agency": "UN",
        "name": "Customs cargo report message",
    }
    assert output("D13B/messages/IFTMIN.json")["release"] == "13B"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_segment_line_against_the_text(version: str) -> None:
    """Each message's segments (position, tag, status, repetitions) and groups, in table order,
    equal what a plain regular expression finds in the segment table."""
    seg_re = re.compile(r"^(\d{4,5})\s+(?:[-+*#|X]\s+)?([A-Z]{3})\s.*?\s([MC])\s+(\d+)")
    grp_re = re.compile(
        r"^(\d{4,5})\s+(?:[-+*#|X]\s+)?[─-]+ Segment group\s+(\d+)\s.*?\s([MC])\s+(\d+)"
    )
    for message in MESSAGES:
        expected = []
        for line in table_lines(source_text(message_file(version, message))):
            if m := grp_re.match(line):
                expected.append(("group", m[1], int(m[2]), m[3], int(m[4])))
            elif m := seg_re.match(line):
                expected.append(("tag", m[1], m[2], m[3], int(m[4])))
        nodes = walk(output(f"{version}/messages/{message}.json")["structure"])
        found = [
            ("group", n["pos"], n["group"], n["status"], n["max"])
            if "group" in n
            else ("tag", n["pos"], n["tag"], n["status"], n["max"])
            for n in nodes
        ]
        assert found == expected, f"{message} {version}"


def test_group_counts() -> None:
    expected = {
        ("CUSCAR", "D95B"): 13,
        ("CUSCAR", "D99A"): 17,
        ("CUSDEC", "D99A"): 50,
        ("CUSDEC", "D13B"): 52,
        ("IFCSUM", "D13B"): 78,
        ("ORDERS", "D99A"): 60,
        ("BAPLIE", "D95B"): 4,
        ("BAPLIE", "D13B"): 12,
        ("APERAK", "D99A"): 5,
    }
    for (message, version), count in expected.items():
        text_count = sum(
            1
            for line in table_lines(source_text(message_file(version, message)))
            if "Segment group" in line
        )
        nodes = walk(output(f"{version}/messages/{message}.json")["structure"])
        groups = [n["group"] for n in nodes if "group" in n]
        assert text_count == count
        assert groups == list(range(1, count + 1)), f"{message} {version}"


def test_every_group_starts_with_a_mandatory_single_trigger() -> None:
    for version in VERSIONS:
        for message in MESSAGES:
            doc = output(f"{version}/messages/{message}.json")
            for node in walk(doc["structure"]):
                if "group" in node:
                    first = node["children"][0]
                    assert "tag" in first, (message, version, node["group"])
                    assert first["status"] == "M" and first["max"] == 1, (message, version)
            assert doc["structure"][-1]["tag"] == "UNT"


# --------------------------------------------------------------------------- directory contents


def test_element_1004_against_the_text() -> None:
    block = entry_block(source_text("d95b/TRED/TRED.95B"), r"^\s*[-+*#|X]{0,3}\s*1004\s")
    assert re.search(r"^\s*Repr:\s*an\.\.35\s*$", "\n".join(block), re.M)
    assert output("D95B/segments.json")["elements"]["1004"] == ["an", 1, 35]
    assert output("D95B/segments.json")["names"]["elements"]["1004"] == "Document/message number"
    block = entry_block(source_text("d13b/EDED/EDED.13B"), r"^\s*[-+*#|X]{0,3}\s*1004\s")
    assert re.search(r"^\s*Repr:\s*an\.\.70\s*$", "\n".join(block), re.M)
    assert output("D13B/segments.json")["elements"]["1004"] == ["an", 1, 70]


def test_fixed_length_element() -> None:
    block = entry_block(source_text("d99a/Eded/EDED.99A"), r"^\s*[-+*#|X]{0,3}\s*3207\s")
    assert "Repr: an..3" in "\n".join(block)
    assert output("syntax4/segments.json")["elements"]["0001"] == ["a", 4, 4]
    assert output("syntax4/segments.json")["elements"]["0017"] == ["n", 8, 8]
    assert output("syntax3/segments.json")["elements"]["0017"] == ["n", 6, 6]


@pytest.mark.parametrize(
    ("version", "chapter"), [("D99A", "d99a/Edcd/EDCD.99A"), ("D13B", "d13b/EDCD/EDCD.13B")]
)
def test_composite_c002_against_the_text(version: str, chapter: str) -> None:
    block = entry_block(source_text(chapter), r"^\s*[-+*#|X]{0,3}\s*C002\s")
    expected = [
        [m[1], m[2]]
        for m in (re.match(r"^\d{3}\s+(\d{4})\s.*\s([MC])\s+an", line) for line in block)
        if m
    ]
    assert expected == [["1001", "C"], ["1131", "C"], ["3055", "C"], ["1000", "C"]]
    doc = output(f"{version}/segments.json")
    assert doc["composites"]["C002"] == expected
    assert doc["names"]["composites"]["C002"] == "DOCUMENT/MESSAGE NAME"


def test_segment_bgm_and_repetition_column() -> None:
    block = entry_block(source_text("d99a/Edsd/EDSD.99A"), r"^\s*[-+*#|X]{0,3}\s*BGM\s")
    ids = [m[1] for m in (re.match(r"^\d{3}\s+(\S{4})\s", line) for line in block) if m]
    doc = output("D99A/segments.json")
    assert [e[0] for e in doc["segments"]["BGM"]] == ids
    assert all(e[2] == 1 for e in doc["segments"]["BGM"])  # no R column before D.00B
    # D.00B on: COM's C076 repeats 3 times ("010    C076 ... M    3")
    block = entry_block(source_text("d13b/EDSD/EDSD.13B"), r"^\s*[-+*#|X]{0,3}\s*COM\s")
    assert any(re.match(r"^010\s+C076\s.*\sM\s+3\s*$", line) for line in block)
    assert output("D13B/segments.json")["segments"]["COM"] == [["C076", "M", 3]]


def test_qualifier_code_lists() -> None:
    doc = output("D99A/segments.json")
    assert doc["names"]["elements"]["1153"] == "Reference qualifier"
    codes = doc["codes"]["1153"]
    assert {"AAA", "BM", "IV", "ON", "ZZZ"} <= set(codes)
    assert "AMK" in codes  # marked for deletion (X) in D.99A but still part of it
    block = entry_block(source_text("d99a/Uncl/UNCL.99A"), r"^[-+*#|X]{0,3}\s*1153\s")
    code_lines = [
        line for line in block if re.match(r"^[-+*#|X ]{0,3}\s{0,6}[0-9A-Z]{1,3}\s+\S", line)
    ]
    assert len(codes) == len(code_lines) == len(set(codes))
    assert {"BY", "SU", "CN", "CZ"} <= set(doc["codes"]["3035"])  # Party qualifier
    assert {"137", "132"} <= set(doc["codes"]["2005"])  # Date/time/period qualifier
    for name_id, name in doc["names"]["elements"].items():
        assert (name_id in doc["codes"]) <= ("qualifier" in name.lower())


def test_only_what_the_messages_use() -> None:
    for version in VERSIONS:
        doc = output(f"{version}/segments.json")
        assert set(doc) == {
            "directory",
            "sources",
            "elements",
            "composites",
            "segments",
            "codes",
            "names",
        }
        assert doc["directory"] == version
        tags = {
            n["tag"]
            for m in MESSAGES
            for n in walk(output(f"{version}/messages/{m}.json")["structure"])
            if "tag" in n
        }
        assert set(doc["segments"]) == tags - {"UNH", "UNT", "UNS"}
        items = {e[0] for entries in doc["segments"].values() for e in entries}
        assert set(doc["composites"]) == {i for i in items if i[0].isalpha()}
        components = {c[0] for comps in doc["composites"].values() for c in comps}
        assert set(doc["elements"]) == {i for i in items if i.isdigit()} | components
        for kind, low, high in doc["elements"].values():
            assert kind in ("a", "n", "an") and 1 <= low <= high
        statuses = {e[1] for entries in doc["segments"].values() for e in entries}
        statuses |= {c[1] for comps in doc["composites"].values() for c in comps}
        assert statuses == {"M", "C"}
        assert all((SOURCE / rel).is_file() for rel in doc["sources"])


# --------------------------------------------------------------------------- service directories


def test_syntax4_service_segments() -> None:
    doc = output("syntax4/segments.json")
    text = source_text("syntax4/Ss40000.txt")
    tags = re.findall(r"^\s{4,8}([A-Z]{3})\s{2,}[A-Z]", text, re.M)
    assert len(tags) == 34 and sorted(doc["segments"]) == sorted(tags)
    for tag in ("UNB", "UNG", "UNH", "UNT", "UNE", "UNZ", "UCI", "UCM", "UCF", "UCS", "UCD"):
        assert tag in doc["segments"]
    assert doc["segments"]["UCD"] == [["0085", "M", 1], ["S011", "M", 1]]
    assert doc["composites"]["S011"] == [["0098", "M"], ["0104", "C"], ["0136", "C"]]
    assert doc["segments"]["UCS"] == [["0096", "M", 1], ["0085", "C", 1]]
    assert doc["elements"]["0096"] == ["n", 1, 6]
    assert doc["composites"]["S001"] == [["0001", "M"], ["0002", "M"], ["0080", "C"], ["0133", "C"]]
    assert doc["names"]["elements"]["0098"] == "Erroneous data element position in segment"


def test_syntax4_codes() -> None:
    doc = output("syntax4/segments.json")
    text = source_text("syntax4/sl40210.txt")
    listed = re.findall(r"^[-+*#|X ]{0,3}\s*(\d{4})\s{2}\S", text, re.M)
    assert sorted(doc["codes"]) == sorted(set(listed))
    assert doc["codes"]["0001"][0] == "UNOA" and doc["codes"]["0001"][-1] == "UNOY"
    assert {"UNOB", "UNOC", "UNOW", "UNOX"} <= set(doc["codes"]["0001"])
    assert doc["code_names"]["0085"]["12"] == "Invalid value"
    assert doc["code_names"]["0085"]["13"] == "Missing"
    assert doc["code_names"]["0085"]["16"] == "Too many constituents"
    assert set(doc["code_names"]["0083"]) == {"4", "7", "8"}
    assert doc["code_names"]["0083"]["7"] == (
        "This level acknowledged and all lower levels acknowledged if not explicitly rejected"
    )
    assert set(doc["code_names"]["0085"]) == set(doc["codes"]["0085"])


def test_syntax3_codes_from_unsl_99a() -> None:
    doc = output("syntax3/segments.json")
    assert doc["codes"]["0001"] == ["UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF"]
    assert doc["codes"]["0013"][:2] == ["UCD", "UCF"]
    assert doc["code_names"]["0085"]["12"] == "Invalid value"
    assert doc["code_names"]["0085"]["1"] == "UNA not supported"
    assert doc["code_names"]["0083"]["4"] == "This level and all lower levels rejected"
    assert doc["sources"][1] == "d99a/Unsl/UNSL.99A"


def d422_annex_b() -> dict[str, list[tuple[str, str, str]]]:
    """(id, repr, status) of each service segment in ISO 9735 Annex B (d99a/Part4/D422.TXT)."""
    text = source_text("d99a/Part4/D422.TXT")
    annex = text[text.index("ANNEX B (Normative)") : text.index("ANNEX C (Informative)")]
    segments: dict[str, list[tuple[str, str, str]]] = {}
    current: list[tuple[str, str, str]] = []
    for line in annex.split("\n"):
        if m := re.match(r"^\s*Segment: ([A-Z]{3}),", line):
            current = segments.setdefault(m[1], [])
        elif m := re.match(r"^\s*(S\d{3}|\d{4})\s+((?:an|a|n)(?:\.\.)?\d+)?\s+([MC])\s", line):
            current.append((m[1], m[2] or "", m[3]))
    return segments


def test_syntax3_transcription_against_iso_9735_annex_b() -> None:
    doc = output("syntax3/segments.json")

    def text_repr(element: str) -> str:
        kind, low, high = doc["elements"][element]
        return f"{kind}{'..' if low != high else ''}{high}"

    annex = d422_annex_b()
    for tag in ("UNB", "UNG", "UNH", "UNT", "UNE", "UNZ", "UNS"):
        ours: list[tuple[str, str, str]] = []
        for item, status, _ in doc["segments"][tag]:
            if item.startswith("S"):
                ours.append((item, "", status))
                ours.extend((c, text_repr(c), s) for c, s in doc["composites"][item])
            else:
                ours.append((item, text_repr(item), status))
        assert ours == annex[tag], tag
    assert doc["segments"]["UCI"] == [
        ["0020", "M", 1],
        ["S002", "M", 1],
        ["S003", "M", 1],
        ["0083", "M", 1],
        ["0085", "C", 1],
        ["0013", "C", 1],
        ["S011", "C", 1],
    ]
    assert doc["segments"]["UCD"] == [["0085", "M", 1], ["S011", "M", 1]]
    assert doc["composites"]["S011"] == [["0098", "M"], ["0104", "C"]]
    assert doc["elements"]["0013"] == ["a", 3, 3]  # UNSL.99A: "Repr: a3"
    assert doc["elements"]["0051"] == ["an", 1, 2]


CONTRL_TABLE = [
    ("tag", "0010", "UNH", "M", 1),
    ("tag", "0020", "UCI", "M", 1),
    ("group", "0030", 1, "C", 999999),
    ("tag", "0040", "UCM", "M", 1),
    ("group", "0050", 2, "C", 999),
    ("tag", "0060", "UCS", "M", 1),
    ("tag", "0070", "UCD", "C", 99),
    ("group", "0080", 3, "C", 999999),
    ("tag", "0090", "UCF", "M", 1),
    ("group", "0100", 4, "C", 999999),
    ("tag", "0110", "UCM", "M", 1),
    ("group", "0120", 5, "C", 999),
    ("tag", "0130", "UCS", "M", 1),
    ("tag", "0140", "UCD", "C", 99),
    ("tag", "0150", "UNT", "M", 1),
]


@pytest.mark.parametrize(
    ("folder", "version", "release"), [("syntax4", "4", "1"), ("syntax3", "D", "3")]
)
def test_contrl(folder: str, version: str, release: str) -> None:
    doc = output(f"{folder}/messages/CONTRL.json")
    assert (doc["message"], doc["version"], doc["release"], doc["agency"]) == (
        "CONTRL",
        version,
        release,
        "UN",
    )
    flat = [
        ("group", n["pos"], n["group"], n["status"], n["max"])
        if "group" in n
        else ("tag", n["pos"], n["tag"], n["status"], n["max"])
        for n in walk(doc["structure"])
    ]
    assert flat == CONTRL_TABLE
    top = [n.get("tag", n.get("group")) for n in doc["structure"]]
    assert top == ["UNH", "UCI", 1, 3, "UNT"]
    sg3 = doc["structure"][3]
    assert [n.get("tag", n.get("group")) for n in sg3["children"]] == ["UCF", 4]
    assert [n.get("tag", n.get("group")) for n in sg3["children"][1]["children"]] == ["UCM", 5]
    segments = output(f"{folder}/segments.json")["segments"]
    assert all(n["tag"] in segments for n in walk(doc["structure"]) if "tag" in n)


# --------------------------------------------------------------------------- parser units


def test_decode_code_pages() -> None:
    assert textfiles.decode(b"a\xc4\xc4\xbf \x92x\r\n\x1a") == "a──┐ ’x\n"
    assert textfiles.decode(b"Caf\xe9 \x92\r\n") == "Café ’\n"


def test_repr_and_status() -> None:
    assert dirparse.parse_repr("an..35") == ("an", 1, 35)
    assert dirparse.parse_repr("n6") == ("n", 6, 6)
    assert dirparse.parse_repr("a..3") == ("a", 1, 3)
    assert [dirparse.map_status(s) for s in "MRCODNX"] == ["M", "M", "C", "C", "C", "C", None]
    with pytest.raises(dirparse.ParseError):
        dirparse.parse_repr("x..3")


HEADER = """
                                           Message Type : TESTME
                                           Version      : D
                                           Release      : 99A
                                           Contr. Agency: UN

                                  CONTENTS

                        Test message

4.3.1  Segment table

Pos    Tag Name                                      S   R

"""


def test_box_style_nesting() -> None:
    table = (
        "0010   UNH Message header                            M   1     \n"
        "0020       ───── Segment group 1  ────────────────── C   9───────────┐\n"
        "0030   RFF Reference                                 M   1           │\n"
        "                                                                     │\n"
        "0040       ───── Segment group 2  ────────────────── C   9──────────┐│\n"
        "0050   CTA Contact information                       M   1          ││\n"
        "0060   COM Communication contact                     C   9──────────┴┘\n"
        "0070   UNT Message trailer                           M   1     \n"
        "     - XYZ Deleted in the annex                      C   1     \n"
    )
    warnings: list[str] = []
    spec = segtable.parse_message(HEADER + table, warnings.append)
    assert warnings == []
    assert spec.group_count == 2 and spec.name == "Test message"
    g1 = spec.structure[1]
    assert g1["group"] == 1 and g1["children"][1]["group"] == 2
    assert [c["tag"] for c in g1["children"][1]["children"]] == ["CTA", "COM"]
    assert spec.structure[-1]["tag"] == "UNT"


def test_ascii_style_nesting_split_line_and_trigger_warning() -> None:
    table = (
        "0010   UNH Message header                            M   1     \n"
        "0020       ----- Segment group 1  ------------------ C   9-----------+\n"
        "0030   RFF Reference                                 C   1           |\n"
        "0040       ----- Segment group 2  ------------------ C   9----------+|\n"
        "0050   CTA Contact\n"
        "           information                               M   1          ||\n"
        "0060   COM Communication contact                     C   9----------++\n"
        "0070   UNT Message trailer                           M   1     \n"
    )
    warnings: list[str] = []
    spec = segtable.parse_message(HEADER + table, warnings.append)
    assert spec.structure[1]["children"][1]["children"][0]["tag"] == "CTA"
    assert warnings == ["TESTME: segment group 1 trigger RFF is C1, not M1"]


def test_unbalanced_table_is_an_error() -> None:
    table = (
        "0010   UNH Message header                            M   1     \n"
        "0020       ----- Segment group 1  ------------------ C   9-----------+\n"
        "0030   RFF Reference                                 M   1           |\n"
        "0040   UNT Message trailer                           M   1     \n"
    )
    with pytest.raises(dirparse.ParseError, match="UNT inside segment group"):
        segtable.parse_message(HEADER + table, lambda _: None)
