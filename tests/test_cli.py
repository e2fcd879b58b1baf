"""``edigate validate``: exit status, text and JSON output, ``--ack`` (README "CLI").

Exit status: 0 when every file is valid, 1 when any is invalid, 2 on usage or I/O errors. The
expected findings come from the fixture manifest (tests/fixtures/edifact/manifest.json) and the
sample descriptions (../shared/samples/SOURCES.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edigate.cli import main
from edigate.edifact.tokenizer import Segment
from edigate.edifact.validator import EdifactValidator

from .conftest import FIXTURES, SAMPLES

VALID = FIXTURES / "cuscar_d95b_small_unoa.edi"  # 1 CUSCAR D:95B message, syntax 3, UNOA
VALID_V4 = FIXTURES / "cusdec_d01b_small_unow.edi"  # 1 CUSDEC D:01B message, syntax 4, UNOW
MULTI = FIXTURES / "cuscar_d95b_multi.edi"  # 2 interchanges
TOO_LONG = FIXTURES / "invalid_39_too_long.edi"  # RFF (segment 14) C506/1154: 36 characters
ISSUE188 = SAMPLES / "edi-net" / "edifact.Issue188.edi"  # IFTMIN + INVOIC D:96A
COPRAR = SAMPLES / "edifact-types" / "d95b_coprar.edi"  # bare message, no UNB


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def parse_contrl(text: str) -> dict[str, list[Segment]]:
    """Validate an acknowledgement with our own validator; return its segments by tag."""
    reports = EdifactValidator(keep_segments=True).validate_bytes(text.encode("utf-8"))
    assert len(reports) == 1
    (ack,) = reports
    assert ack.valid, [f.as_dict() for f in ack.all_findings()]
    (msg,) = ack.messages
    assert msg.type == "CONTRL"
    by_tag: dict[str, list[Segment]] = {}
    assert ack.header is not None
    by_tag["UNB"] = [ack.header]
    for seg in msg.segments or []:
        by_tag.setdefault(seg.tag, []).append(seg)
    return by_tag


# -- exit status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("files", [[VALID], [VALID, VALID_V4, MULTI]], ids=["one", "three"])
def test_all_valid_exits_0(capsys: pytest.CaptureFixture[str], files: list[Path]) -> None:
    status, out, err = run(capsys, "validate", *files)
    assert status == 0
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == len(files)
    for path, line in zip(files, lines, strict=True):
        assert line.startswith(f"{path}: valid (")


def test_text_output_names_file_counts_and_types(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "validate", MULTI)
    assert out == f"{MULTI}: valid (2 interchange(s), 2 message(s): CUSCAR:D:95B:UN)\n"


def test_any_invalid_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "validate", VALID, TOO_LONG, VALID_V4)
    assert status == 1
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"{VALID}: valid")
    assert lines[1] == f"{TOO_LONG}: INVALID (1 interchange(s), 1 message(s): CUSCAR:D:95B:UN)"
    # RFF is segment 14 of the message and line 16 of the file (UNA, UNB, then UNH = segment 1).
    assert lines[2].startswith(
        "  [39] interchange 1, message 1, RFF (segment 14), element 1.2, line 16: RFF: 1154"
    )
    assert lines[3].startswith(f"{VALID_V4}: valid")
    assert len(lines) == 4


def test_missing_file_exits_2_and_still_reports_the_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.edi"
    status, out, err = run(capsys, "validate", missing, VALID)
    assert status == 2
    assert str(missing) in err
    assert out.startswith(f"{VALID}: valid")


def test_io_error_wins_over_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "validate", TOO_LONG, tmp_path)  # a directory: not readable
    assert status == 2
    assert str(tmp_path) in err


@pytest.mark.parametrize(
    "argv",
    [[], ["validate"], ["validate", "--bogus", str(VALID)], ["frobnicate", str(VALID)]],
    ids=["no-command", "no-file", "unknown-option", "unknown-command"],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2
    assert "usage: edigate" in err
    assert out == ""


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "validate", "--help")
    assert status == 0
    assert "--profile" in out and "--ack" in out and "--json" in out


def test_empty_file_is_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.edi"
    empty.write_bytes(b"")
    status, out, _ = run(capsys, "validate", "--json", empty)
    assert status == 1
    (result,) = json_lines(out)
    assert result["valid"] is False
    assert [(e["code"], e["segment_tag"]) for e in result["errors"]] == [("13", "UNB")]


# -- --json --------------------------------------------------------------------------------------


def test_json_one_object_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "validate", "--json", VALID, TOO_LONG, ISSUE188)
    assert status == 1
    results = json_lines(out)
    assert len(out.splitlines()) == 3
    assert [r["file"] for r in results] == [str(VALID), str(TOO_LONG), str(ISSUE188)]
    for r in results:
        assert {"file", "format", "message_types", "valid", "errors"} <= r.keys()
        assert r["format"] == "edifact"
        for e in r["errors"]:
            assert {"code", "position", "segment_tag", "text"} <= e.keys()

    valid, too_long, issue188 = results
    assert valid["valid"] is True
    assert valid["errors"] == []
    assert valid["message_types"] == ["CUSCAR:D:95B:UN"]

    assert too_long["valid"] is False
    (e,) = too_long["errors"]
    assert (e["code"], e["segment_tag"]) == ("39", "RFF")
    p = e["position"]
    assert (p["interchange"], p["message"], p["segment_position"]) == (1, 1, 14)
    assert (p["element"], p["component"], p["line"]) == (1, 2, 16)
    assert "1154" in e["text"]

    # IFTMIN and INVOIC alternate over 4 messages: each type listed once, in order of appearance.
    assert issue188["message_types"] == ["IFTMIN:D:96A:UN", "INVOIC:D:96A:UN"]
    codes = sorted(e["code"] for e in issue188["errors"])
    # 4x14 (D96A), 4x29 (UNT counts), 2x28 (UNT refs), 26 (duplicate ref 44), 29 (UNZ count)
    assert codes == sorted(["14"] * 4 + ["29"] * 5 + ["28"] * 2 + ["26"])


def test_json_keeps_non_ascii_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "報告.edi"
    path.write_bytes(VALID.read_bytes())
    status, out, _ = run(capsys, "validate", "--json", path)
    assert status == 0
    assert "報告.edi" in out  # written as UTF-8, not as \\u escapes
    (result,) = json_lines(out)
    assert result["file"] == str(path)


# -- --ack ---------------------------------------------------------------------------------------


def test_ack_prints_contrl_after_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "validate", "--ack", TOO_LONG)
    assert status == 1
    report, ack = out.split("\nUNA", 1)
    assert report.startswith(f"{TOO_LONG}: INVALID")
    segs = parse_contrl("UNA" + ack)
    subject = EdifactValidator().validate_bytes(TOO_LONG.read_bytes())[0].header
    assert subject is not None
    # reversed sender/recipient; UCI copies the subject's sender, recipient and reference
    (unb,) = segs["UNB"]
    assert (unb.elements[1], unb.elements[2]) == (subject.elements[2], subject.elements[1])
    (uci,) = segs["UCI"]
    assert uci.elements[:4] == [["POC240617009"], ["POCLHKG", "ZZZ"], ["HKCUSTOMS", "ZZZ"], ["7"]]
    (ucm,) = segs["UCM"]
    assert ucm.elements == [["CSR0091"], ["CUSCAR", "D", "95B", "UN"], ["4"]]
    assert [s.elements for s in segs["UCS"]] == [[["14"]]]
    assert [s.elements for s in segs["UCD"]] == [[["39"], ["2", "2"]]]


def test_ack_one_contrl_per_interchange(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "validate", "--json", "--ack", MULTI)
    assert status == 0
    (result,) = json_lines(out)
    assert len(result["ack"]) == 2
    refs = []
    for ack, subject_ref in zip(result["ack"], ["POC240624001", "POC240624002"], strict=True):
        segs = parse_contrl(ack)
        (uci,) = segs["UCI"]
        assert uci.value(1) == subject_ref
        assert uci.value(4) == "7"
        refs.append(segs["UNB"][0].value(5))
    assert len(set(refs)) == 2, "each CONTRL interchange needs its own control reference"
    # interchange 2 used a group: UCF for it, no UCM outside it (ISO 9735-4 5.3.1)
    assert "UCF+GRP0624002+" in result["ack"][1]


def test_ack_syntax4_answers_in_syntax4(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "validate", "--ack", VALID_V4)
    assert status == 0
    ack = "UNA" + out.split("\nUNA", 1)[1]
    segs = parse_contrl(ack)
    (unb,) = segs["UNB"]
    assert unb.elements[0] == ["UNOW", "4"]
    assert len(unb.value(4, 1)) == 8  # CCYYMMDD in syntax 4
    (unh,) = segs["UNH"]
    assert unh.elements[1] == ["CONTRL", "4", "1", "UN"]


def test_ack_without_unb_prints_no_contrl(capsys: pytest.CaptureFixture[str]) -> None:
    # ISO 9735-4 5.3.4: identifiers to copy are missing, so no CONTRL can be built.
    status, out, _ = run(capsys, "validate", "--json", "--ack", COPRAR)
    assert status == 1
    (result,) = json_lines(out)
    assert result["ack"] == []


def test_ack_references_unique_for_ten_interchanges(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "ten.edi"
    path.write_bytes(VALID.read_bytes() * 10)
    status, out, _ = run(capsys, "validate", "--json", "--ack", path)
    assert status == 0
    (result,) = json_lines(out)
    refs = [parse_contrl(a)["UNB"][0].value(5) for a in result["ack"]]
    assert len(refs) == 10
    assert len(set(refs)) == 10


# -- the real console entry ------------------------------------------------------------------------


def test_module_entry_point_as_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edigate.cli", "validate", "--json", str(VALID), str(TOO_LONG)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    first, second = json_lines(proc.stdout)
    assert (first["file"], first["valid"]) == (str(VALID), True)
    assert (second["file"], second["valid"]) == (str(TOO_LONG), False)
    assert [(e["code"], e["segment_tag"]) for e in second["errors"]] == [("39", "RFF")]

    usage = subprocess.run(
        [sys.executable, "-m", "edigate.cli", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert usage.returncode == 2
    assert "usage: edigate" in usage.stderr
