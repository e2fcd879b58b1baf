"""Rule sets and partner profiles are data (gateway/rules/*.toml): selection, overrides, checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edigate.canonical.model import CanonicalDocument
from edigate.edifact.validator import EdifactValidator, MessageReport
from edigate.mappings.engine import map_message, mapping_for
from edigate.rules import (
    RULES,
    RULES_DIR,
    RuleSetError,
    check_document,
    load_rule_set,
    rule_set_for_partner,
)
from edigate.rules import ruleset as ruleset_module
from edigate.rules.ruleset import DOCUMENT_TYPES

from .conftest import FIXTURES, REPO

NOW = datetime(2024, 6, 17, 12, 0, tzinfo=UTC)
# CUSCAR fixture with a wrong container check digit (R001) and a gross mass total 1000 kg off
# the items (R010): see test_rules_positions.py
BAD = ((FIXTURES / "cuscar_d95b_sea.edi").read_bytes()
       .replace(b"POLU2406018", b"POLU2406019")
       .replace(b"CNT+7:12480.5:KGM", b"CNT+7:13480.5:KGM"))  # fmt: skip


def first_document(data: bytes) -> CanonicalDocument:
    for r in EdifactValidator(keep_segments=True).validate([data]):
        if isinstance(r, MessageReport):
            assert r.valid and r.segments is not None and r.spec is not None
            mapping = mapping_for(r.type, r.directory)
            assert mapping is not None
            return map_message(r.segments, r.spec, mapping)
    raise AssertionError("no message")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped data -----------------------------------------------------------------------------


def test_default_covers_every_document_type_and_rule() -> None:
    rs = load_rule_set("default")
    assert rs.name == "default" and rs.source == (RULES_DIR / "default.toml").resolve()
    assert set(rs.document_types) == set(DOCUMENT_TYPES)
    used = {code for codes in rs.document_types.values() for code in codes}
    assert used == set(RULES)
    assert "R014" in rs.rules_for("declaration") and "R014" not in rs.rules_for("cargo_report")


@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_rule_set_loads(path: Path) -> None:
    rs = load_rule_set(path)
    assert rs.document_types


def test_documentation_lists_every_rule() -> None:
    doc = (REPO / "docs" / "canonical.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| (R\d{3}) \|", doc, flags=re.M))
    assert listed == set(RULES)
    for code, rule in RULES.items():
        row = next(line for line in doc.splitlines() if line.startswith(f"| {code} |"))
        assert f"| {rule.severity} |" in row, code


def test_codes_are_stable_and_well_formed() -> None:
    assert all(re.fullmatch(r"R\d{3}", c) for c in RULES)
    assert sorted(RULES) == [f"R{n:03}" for n in range(1, len(RULES) + 1)]


# -- a partner profile changes the default --------------------------------------------------------


def test_profile_disables_a_rule(tmp_path: Path) -> None:
    doc = first_document(BAD)
    default = check_document(doc, load_rule_set("default"), now=NOW)
    assert [f.code for f in default] == ["R001", "R010"]
    profile = write(tmp_path, "pocl.toml", """
[rule_set]
name = "pocl"
extends = "default"
partners = ["POCLHKG"]

[document_types.cargo_report]
disable = ["R001"]
""")
    rs = load_rule_set(profile)
    assert "R001" not in rs.rules_for("cargo_report")
    assert "R001" in rs.rules_for("declaration")  # only the cargo report changed
    assert [f.code for f in check_document(doc, rs, now=NOW)] == ["R010"]


def test_profile_switches_a_rule_off_everywhere_and_changes_parameters(tmp_path: Path) -> None:
    profile = write(tmp_path, "p.toml", """
[rule_set]
extends = "default"

[rules.R001]
enabled = false

[rules.R010]
tolerance_percent = 10   # 10 % of 13480.5 kg: the 1000 kg difference is tolerated
""")
    rs = load_rule_set(profile)
    assert rs.name == "p"  # the file name when [rule_set] has no name
    assert all("R001" not in codes for codes in rs.document_types.values())
    assert rs.parameters["R010"]["tolerance_kg"] == 1  # inherited
    assert check_document(first_document(BAD), rs, now=NOW) == []


def test_profile_changes_severity(tmp_path: Path) -> None:
    profile = write(tmp_path, "p.toml", """
[rule_set]
extends = "default"
[rules.R001]
severity = "warning"
""")
    found = check_document(first_document(BAD), load_rule_set(profile), now=NOW)
    assert [(f.code, f.severity) for f in found] == [("R001", "warning"), ("R010", "error")]


def test_profile_replaces_or_extends_a_list(tmp_path: Path) -> None:
    only = write(tmp_path, "only.toml", """
[rule_set]
extends = "default"
[document_types]
cargo_report = ["R010"]
stowage_plan = { enable = ["R005"], disable = ["R013"] }
""")
    rs = load_rule_set(only)
    assert rs.rules_for("cargo_report") == ("R010",)
    default = load_rule_set("default").rules_for("stowage_plan")
    assert set(rs.rules_for("stowage_plan")) == (set(default) | {"R005"}) - {"R013"}


def test_extends_chain_and_relative_base(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", """
[rule_set]
extends = "default"
[rules.R010]
tolerance_percent = 5
""")
    child = write(tmp_path, "child.toml", """
[rule_set]
extends = "base"     # found next to this file before gateway/rules
[rules.R010]
tolerance_kg = 2
""")
    params = load_rule_set(child).parameters["R010"]
    assert (params["tolerance_percent"], params["tolerance_kg"]) == (5, 2)


def test_standalone_rule_set(tmp_path: Path) -> None:
    path = write(tmp_path, "alone.toml", """
[document_types]
cargo_report = ["R002", "R005"]
[rules.R005]
lengths = [8]
""")
    rs = load_rule_set(path)
    assert rs.rules_for("cargo_report") == ("R002", "R005")
    assert rs.rules_for("declaration") == ()
    found = check_document(first_document(BAD), rs, now=NOW)
    assert [(f.code, f.value) for f in found] == [
        ("R005", "847130"), ("R005", "850440"), ("R005", "350610")]  # fmt: skip


# -- partner selection by sender ------------------------------------------------------------------


def test_partner_selected_by_sender(tmp_path: Path) -> None:
    write(tmp_path, "pocl.toml", """
[rule_set]
name = "pocl"
extends = "default"
partners = ["POCLHKG", "POCLSHA"]
""")
    assert rule_set_for_partner("POCLHKG", tmp_path).name == "pocl"
    assert rule_set_for_partner("OTHER", tmp_path).name == "default"
    assert rule_set_for_partner(None, tmp_path).name == "default"
    # the shipped example lists no partner
    assert rule_set_for_partner("POCLHKG").name == "default"


def test_partner_directory_can_be_configured(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    write(tmp_path, "x.toml", '[rule_set]\nextends = "default"\npartners = ["POCLHKG"]\n')
    monkeypatch.setattr(ruleset_module, "PROFILES_DIR", tmp_path)
    assert rule_set_for_partner("POCLHKG").name == "x"


def test_two_profiles_for_one_partner_is_an_error(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write(tmp_path, f"{name}.toml", '[rule_set]\nextends = "default"\npartners = ["P1"]\n')
    with pytest.raises(RuleSetError, match="several profiles"):
        rule_set_for_partner("P1", tmp_path)


# -- malformed data is refused when loaded --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[document_types]\ncargo_report = ["R999"]', "unknown rule code"),
        ('[document_types]\nbill_of_lading = ["R001"]', "not a document type"),
        ('[document_types]\ncargo_report = "R001"', "a list of codes or a table"),
        ('[document_types.cargo_report]\ndisable = ["R001"]\nonly = []', "a list of codes or"),
        ('[rule_set]\nextends = "default"\n[rules.R999]\nseverity = "error"', "unknown rule code"),
        ('[rule_set]\nextends = "default"\n[rules.R010]\ntolerance = 1', "unknown key"),
        ('[rule_set]\nextends = "default"\n[rules.R010]\ntolerance_kg = "1"', "expected number"),
        ('[rule_set]\nextends = "default"\n[rules.R011]\ntolerance = 0.5', "expected int"),
        ('[rule_set]\nextends = "default"\n[rules.R005]\nlengths = ["8"]', "expected list[int]"),
        ('[rule_set]\nextends = "default"\n[rules.R001]\nseverity = "fatal"', "severity is one"),
        ('[rule_set]\nextends = "default"\n[rules.R001]\nenabled = true', "enabled = false"),
        ('[document_types]\ncargo_report = ["R010"]', "parameters ['tolerance_percent'"),
        ('[rule_set]\nextends = "nowhere"', "extends 'nowhere'"),
        ('[rule_set]\nextends = "loop"', "cycle"),
        ('[rule_set]\npartner = ["X"]', "keys are"),
        ('[rules]\nR001 = 1', "expected a table"),
        ("[checks]\n", "unknown sections"),
        ("[document_types\n", "loop.toml"),  # not TOML at all
    ],
)
def test_malformed_rule_sets_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "loop.toml", text)
    with pytest.raises(RuleSetError, match=re.escape(message)):
        load_rule_set(path)


def test_missing_rule_set_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_rule_set(tmp_path / "absent.toml")
    with pytest.raises(OSError):
        load_rule_set("no-such-rule-set")
