"""``edigate map`` and the business-rule part of ``edigate validate``: output and exit status.

Exit status of both commands: 0 when every file is fine, 1 when any is not (map: a message not
mapped; validate: a syntax error or an error-severity rule finding), 2 on usage or I/O errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edigate.canonical.model import from_json
from edigate.cli import main
from edigate.pipeline import edifact as stage

from .conftest import FIXTURES

SEA = FIXTURES / "cuscar_d95b_sea.edi"  # 1 interchange from POCLHKG, 2 CUSCAR D:95B messages
MULTI = FIXTURES / "cuscar_d95b_multi.edi"  # 2 interchanges, 1 message each
TOO_LONG = FIXTURES / "invalid_39_too_long.edi"  # message with syntax error 39 (RFF, segment 14)
NO_UNZ = FIXTURES / "invalid_13_missing_unz.edi"  # valid message, interchange error 13


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def variant(tmp_path: Path, name: str, *replacements: tuple[bytes, bytes]) -> Path:
    data = SEA.read_bytes()
    for old, new in replacements:
        assert old in data
        data = data.replace(old, new)
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def no_d13b_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure CUSCAR D.13B has no mapping, whatever mappings/ holds by then."""
    real = stage.mapping_for

    def mapping_for(message: str, directory: str, timezone: str | None = None) -> Any:
        return None if directory == "D13B" else real(message, directory, timezone)

    monkeypatch.setattr(stage, "mapping_for", mapping_for)


def d13b(tmp_path: Path) -> Path:
    """The small CUSCAR fixture declared as D.13B: valid there too, but not mapped."""
    data = (FIXTURES / "cuscar_d95b_small_unoa.edi").read_bytes()
    path = tmp_path / "d13b.edi"
    path.write_bytes(data.replace(b"CUSCAR:D:95B:UN", b"CUSCAR:D:13B:UN"))
    return path


# -- map ------------------------------------------------------------------------------------------


def test_map_json_one_canonical_document_per_message(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "map", "--json", SEA)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2
    docs = [from_json(line) for line in lines]  # each line is a whole canonical document
    assert [d.header.identifier for d in docs] == ["POCL024E-HKG-01", "POCL024E-HKG-02"]
    assert [d.header.type for d in docs] == ["cargo_report", "cargo_report"]
    prov = docs[1].provenance
    assert prov is not None
    assert (prov.message_type, prov.message_version, prov.message_reference) == (
        "CUSCAR", "D:95B:UN", "CSR0002")  # fmt: skip
    assert (prov.sender, prov.recipient, prov.interchange_reference) == (
        "POCLHKG", "HKCUSTOMS", "POC240617001")  # fmt: skip
    pos = prov.fields["transport_equipment[0].identifier"]
    assert (pos.segment_tag, pos.segment_position, pos.line) == ("EQD", 11, 71)
    # decimals stay strings, times keep their offset
    assert '"value":"12480.5"' in lines[0] and "+08:00" in lines[0]


def test_map_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "map", SEA)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"{SEA}: 2 message(s), 2 mapped"
    assert lines[1] == ("  interchange 1, message 1 (CSR0001, CUSCAR:D:95B:UN) -> cargo_report "
                        "POCL024E-HKG-01, issued 2024-06-17T10:30:00+08:00")  # fmt: skip
    assert "    2 consignment(s), 3 item(s), 2 equipment" in lines
    assert "    consignment 1: BL POCLSHA0240601, 520 package(s), 12480.5 KGM" in lines
    assert any(line.startswith("  interchange 1, message 2 (CSR0002") for line in lines)


def test_map_several_files_and_interchanges(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "map", "--json", SEA, MULTI)
    assert status == 0
    docs = [from_json(line) for line in out.splitlines()]
    assert [d.provenance.interchange_reference for d in docs if d.provenance] == [
        "POC240617001", "POC240617001", "POC240624001", "POC240624002"]  # fmt: skip


def test_map_does_not_map_a_message_with_syntax_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "map", SEA, TOO_LONG)
    assert (status, err) == (1, "")
    assert f"{TOO_LONG}: 1 message(s), 0 mapped" in out
    assert ("  interchange 1, message 1 (CSR0091, CUSCAR:D:95B:UN): not mapped: 1 syntax error(s); "
            "first: [39] RFF (segment 14), element 1.2, line 16: RFF: 1154") in out  # fmt: skip
    assert f"{SEA}: 2 message(s), 2 mapped" in out  # the good file is still mapped


def test_map_json_keeps_stdout_for_documents(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "map", "--json", TOO_LONG, SEA)
    assert status == 1
    assert len(out.splitlines()) == 2 and all(from_json(x) for x in out.splitlines())
    assert err.startswith(f"edigate: {TOO_LONG}: interchange 1, message 1 (CSR0091, "
                          "CUSCAR:D:95B:UN): not mapped: 1 syntax error(s)")  # fmt: skip


def test_map_envelope_error_blocks_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "map", "--json", NO_UNZ)
    assert (status, out) == (1, "")
    assert "not mapped: its interchange has 1 syntax error(s); first: [13]" in err


def test_map_message_without_mapping(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     no_d13b_mapping: None) -> None:  # fmt: skip
    path = d13b(tmp_path)
    status, out, _ = run(capsys, "map", path)
    assert status == 1
    assert out.splitlines() == [
        f"{path}: 1 message(s), 0 mapped",
        "  interchange 1, message 1 (CSR0091, CUSCAR:D:13B:UN): not mapped: no mapping for "
        "CUSCAR in directory D13B",
    ]


def test_map_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.edi"
    empty.write_bytes(b"")
    status, out, _ = run(capsys, "map", empty)
    assert status == 1
    assert out.splitlines()[0] == f"{empty}: 0 message(s), 0 mapped"
    assert out.splitlines()[1].startswith("  interchange 1: no message: [13]")


def test_map_io_error_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, "map", "--json", tmp_path / "nope.edi", SEA)
    assert status == 2
    assert "nope.edi" in err
    assert len(out.splitlines()) == 2  # the readable file is still mapped


@pytest.mark.parametrize("argv", [["map"], ["map", "--bogus", str(SEA)],
                                  ["map", "--profile"]], ids=["no-file", "option", "no-value"])
def test_map_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert "usage: edigate" in err


def test_map_unreadable_profile_exits_2(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:  # fmt: skip
    status, _, err = run(capsys, "map", "--profile", tmp_path / "nope.toml", SEA)
    assert status == 2 and "cannot read profile" in err


def test_help_lists_map(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "map" in out and "validate" in out


# -- validate: business rules -------------------------------------------------------------------


def test_validate_reports_rule_errors_apart_from_syntax(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:  # fmt: skip
    bad = variant(tmp_path, "bad.edi", (b"POLU2406018", b"POLU2406019"))
    status, out, err = run(capsys, "validate", "--json", bad, SEA)
    assert (status, err) == (1, "")
    result, good = json_lines(out)
    assert (result["valid"], result["syntax_valid"], result["errors"]) == (False, True, [])
    assert result["rules_checked"] == 2 and result["rules_not_checked"] == []
    (f,) = result["rule_findings"]
    assert f == {
        "code": "R001",
        "severity": "error",
        "text": "container 'POLU2406019': check digit 9 is wrong (ISO 6346 gives 8)",
        "path": "transport_equipment[0].identifier",
        "value": "POLU2406019",
        "rule_set": "default",
        "position": {"interchange": 1, "group": None, "message": 1,
                     "message_reference": "CSR0001", "segment_tag": "EQD",
                     "segment_position": 12, "element": 2, "component": 1, "line": 14},
    }  # fmt: skip
    assert (good["valid"], good["rule_findings"]) == (True, [])


def test_validate_text_has_a_business_rules_section(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:  # fmt: skip
    bad = variant(tmp_path, "bad.edi", (b"POLU2406018", b"POLU2406019"))
    status, out, _ = run(capsys, "validate", bad)
    assert status == 1
    assert out.splitlines() == [
        f"{bad}: INVALID (1 interchange(s), 2 message(s): CUSCAR:D:95B:UN)",
        "  business rules:",
        "    [R001 error] interchange 1, message 1, EQD (segment 12), element 2.1, line 14, "
        "transport_equipment[0].identifier: container 'POLU2406019': check digit 9 is wrong "
        "(ISO 6346 gives 8)",
    ]


def test_validate_rule_warnings_keep_the_file_valid(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:  # fmt: skip
    # ETA six months after the issue time: R013 is a warning
    late = variant(tmp_path, "late.edi", (b"DTM+132:202406181400", b"DTM+132:202412181400"))
    status, out, _ = run(capsys, "validate", "--json", late)
    assert status == 0
    (result,) = json_lines(out)
    assert result["valid"] is True
    assert [(f["code"], f["severity"], f["position"]["message"]) for f in
            result["rule_findings"]] == [("R013", "warning", 1), ("R013", "warning", 2)]
    status, out, _ = run(capsys, "validate", late)
    assert status == 0
    assert out.splitlines()[0].startswith(f"{late}: valid (")
    assert out.splitlines()[1] == "  business rules:"
    assert out.splitlines()[2].startswith("    [R013 warning] interchange 1, message 1, DTM")


def test_validate_syntax_errors_and_rules(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:  # fmt: skip
    status, out, _ = run(capsys, "validate", "--json", TOO_LONG)
    assert status == 1
    (result,) = json_lines(out)
    # the only message fails syntax: it is neither mapped nor rule-checked
    assert result["syntax_valid"] is False
    assert (result["rules_checked"], result["rule_findings"]) == (0, [])


def test_validate_rules_option_selects_a_profile(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:  # fmt: skip
    bad = variant(tmp_path, "bad.edi", (b"POLU2406018", b"POLU2406019"))
    profile = tmp_path / "pocl.toml"
    profile.write_text('[rule_set]\nname = "pocl"\nextends = "default"\n'
                       '[document_types.cargo_report]\ndisable = ["R001"]\n')  # fmt: skip
    status, out, _ = run(capsys, "validate", "--json", "--rules", profile, bad)
    assert status == 0
    (result,) = json_lines(out)
    assert (result["valid"], result["rule_findings"], result["rules_checked"]) == (True, [], 2)


def test_validate_profile_chosen_by_sender(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from edigate.rules import ruleset

    bad = variant(tmp_path, "bad.edi", (b"POLU2406018", b"POLU2406019"))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "pocl.toml").write_text(
        '[rule_set]\nname = "pocl"\nextends = "default"\npartners = ["POCLHKG"]\n'
        '[rules.R001]\nseverity = "warning"\n'
    )  # fmt: skip
    monkeypatch.setattr(ruleset, "PROFILES_DIR", profiles)
    status, out, _ = run(capsys, "validate", "--json", bad)
    assert status == 0  # R001 is only a warning for this sender
    (result,) = json_lines(out)
    assert [(f["code"], f["severity"], f["rule_set"]) for f in result["rule_findings"]] == [
        ("R001", "warning", "pocl")]  # fmt: skip


def test_validate_no_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = variant(tmp_path, "bad.edi", (b"POLU2406018", b"POLU2406019"))
    status, out, _ = run(capsys, "validate", "--json", "--no-rules", bad)
    assert status == 0
    (result,) = json_lines(out)
    assert (result["rule_findings"], result["rules_checked"]) == ([], 0)


def test_validate_message_without_mapping_is_not_rule_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_d13b_mapping: None
) -> None:
    path = d13b(tmp_path)
    status, out, _ = run(capsys, "validate", "--json", path)
    assert status == 0  # no mapping is no error for validate
    (result,) = json_lines(out)
    assert result["rules_checked"] == 0
    assert result["rules_not_checked"] == [
        {"interchange": 1, "message": 1, "message_reference": "CSR0091",
         "reason": "no mapping for CUSCAR in directory D13B"}]  # fmt: skip
    status, out, _ = run(capsys, "validate", path)
    assert out.splitlines() == [f"{path}: valid (1 interchange(s), 1 message(s): CUSCAR:D:13B:UN)"]


@pytest.mark.parametrize("text", [None, '[document_types]\ncargo_report = ["R999"]\n'],
                         ids=["missing", "malformed"])  # fmt: skip
def test_validate_bad_rule_set_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       text: str | None) -> None:  # fmt: skip
    path = tmp_path / "rules.toml"
    if text is not None:
        path.write_text(text)
    status, out, err = run(capsys, "validate", "--rules", path, SEA)
    assert (status, out) == (2, "")
    assert "cannot read rule set" in err


# -- the real console entry -----------------------------------------------------------------------


def test_subprocess_map_and_validate(tmp_path: Path) -> None:
    bad = variant(tmp_path, "bad.edi", (b"CST+2+850440:", b"CST+2+85044:"))

    def edigate(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edigate.cli", *map(str, argv)],
                              capture_output=True, text=True, timeout=120,
                              env=os.environ.copy(), check=False)  # fmt: skip

    mapped = edigate("map", "--json", SEA, TOO_LONG)
    assert mapped.returncode == 1, mapped.stderr
    assert [from_json(x).header.identifier for x in mapped.stdout.splitlines()] == [
        "POCL024E-HKG-01", "POCL024E-HKG-02"]  # fmt: skip
    assert "not mapped: 1 syntax error(s)" in mapped.stderr and "Traceback" not in mapped.stderr

    checked = edigate("validate", "--json", bad)
    assert checked.returncode == 1 and checked.stderr == ""
    (result,) = json_lines(checked.stdout)
    assert [(f["code"], f["path"], f["position"]["segment_tag"], f["position"]["line"])
            for f in result["rule_findings"]] == [
        ("R005", "consignments[0].items[1].hs_code", "CST", 46)]  # fmt: skip

    usage = edigate("map")
    assert usage.returncode == 2 and "usage: edigate map" in usage.stderr


def test_mapping_failure_is_reported(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    def broken(*args: object, **kwargs: object) -> Any:
        raise ValueError("cannot convert")

    monkeypatch.setattr(stage, "map_message", broken)
    status, out, _ = run(capsys, "map", SEA)
    assert status == 1
    assert ("  interchange 1, message 1 (CSR0001, CUSCAR:D:95B:UN): not mapped: mapping "
            "cuscar_d95b failed: cannot convert") in out.splitlines()  # fmt: skip
    # validate: syntax is fine; the messages are listed as not rule-checked, not as invalid
    status, out, _ = run(capsys, "validate", SEA)
    assert status == 0
    assert out.splitlines()[1:] == [
        "  business rules:",
        "    not checked: interchange 1, message 1 (CSR0001, CUSCAR:D:95B:UN): mapping "
        "cuscar_d95b failed: cannot convert",
        "    not checked: interchange 1, message 2 (CSR0002, CUSCAR:D:95B:UN): mapping "
        "cuscar_d95b failed: cannot convert",
    ]
    status, out, _ = run(capsys, "validate", "--json", SEA)
    (result,) = json_lines(out)
    assert result["valid"] is True and result["rules_checked"] == 0
    assert [r["message_reference"] for r in result["rules_not_checked"]] == ["CSR0001", "CSR0002"]


def test_broken_partner_profile_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from edigate.rules import ruleset

    (tmp_path / "broken.toml").write_text('[rule_set]\nextends = "default"\n[rules.R999]\n')
    monkeypatch.setattr(ruleset, "PROFILES_DIR", tmp_path)
    status, out, err = run(capsys, "validate", SEA)
    assert (status, out) == (2, "")
    assert "cannot read rule set" in err and "R999" in err
