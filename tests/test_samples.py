"""Third-party EDIFACT samples (../shared/samples/edifact), each reported exactly.

The expected findings are derived from the defects that ../shared/samples/SOURCES.md describes and
from the standard (ISO 9735 as printed in d99a/Part4/D422.TXT, the syntax 3/4 service directories,
and the UNECE directory of the message's version), not from the validator's output. Positions
follow the project's conventions (tests/fixtures/edifact/README.md): ``message`` is the 1-based
message index, ``segment_position`` counts UNH as 1 (only for segment/element level),
``element`` counts the first data element after the tag as 1, ``component`` is 1-based.

Two project policies shape the exact sets below (both documented in the code):

- Code list 0007 (partner identification code qualifier) is not checked (directory.py,
  SERVICE_CODE_LISTS), nor is 1131 (code list qualifier, UNCHECKED_QUALIFIERS). So
  ``LBCTI:01``/``OOCLIES:ZZ`` (D95BBAPLIE) and ``VTE:TER:ZZZ`` (D95BCOARRI) are not findings.
- Invalid characters (21) are reported once per segment, at the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from edigate.edifact.validator import EdifactValidator, Finding, InterchangeReport

from .conftest import SAMPLES, sample_files

Key = tuple[str, str, int | None, str | None, int | None, int | None, int | None]


def key(f: Finding) -> Key:
    return (
        f.code,
        f.level,
        f.message or None,
        f.segment_tag or None,
        f.segment_position or None,
        f.element or None,
        f.component or None,
    )


def ic_(code: str, tag: str | None, element: int | None = None, comp: int | None = None) -> Key:
    """An interchange-level finding (UCI)."""
    return (code, "interchange", None, tag, None, element, comp)


def msg(code: str, m: int, tag: str, element: int | None = None, comp: int | None = None) -> Key:
    """A message-level finding (UCM: UNH/UNT)."""
    return (code, "message", m, tag, None, element, comp)


def el(code: str, m: int, tag: str, pos: int, element: int, comp: int | None = None) -> Key:
    """A data element finding (UCS + UCD)."""
    return (code, "element", m, tag, pos, element, comp)


@dataclass(frozen=True)
class Sample:
    path: str  # relative to SAMPLES
    syntax: tuple[str, str]  # UNB S001 (identifier, version); ("", "") without UNB
    messages: list[tuple[str, str, int]]  # (type, directory, segments UNH..UNT) per message
    expected: frozenset[Key]
    # Expected findings the validator does not produce (the test of the exact set is xfail).
    disputed: frozenset[Key] = field(default_factory=frozenset)
    reason: str = ""


SAMPLE_SPECS: list[Sample] = [
    # UNT+30 is right: UNH..UNT are 30 segments. (SOURCES.md's "32 segments" counts UNB and UNZ.)
    # RFF+042 (segment 8, in SG1 after the vessel's DTMs): RFF C506/1153 is a mandatory
    # qualifier and "042" is no code of 1153 in UNCL D.95B (SMDG writes RFF+VON:042).
    Sample(
        "php-edifact/D95BBAPLIE.edi",
        ("UNOA", "2"),
        [("BAPLIE", "D95B", 30)],
        frozenset({el("12", 1, "RFF", 8, 1, 1)}),
    ),
    # Valid: 13-digit references fit 0020/0062 an..14; UNT counts 33 and 237 are right.
    Sample(
        "php-edifact/D95BCOARRI.edi",
        ("UNOA", "2"),
        [("COARRI", "D95B", 33), ("COARRI", "D95B", 237)],
        frozenset(),
    ),
    # UNB S004 999818:999 — 0019 time n4 has 3 digits (40); 0017 date n6 has 6 digits but month
    # 98 is no date (12, invalid value). The wrapped FTX (segment 6: UNH, BGM, TSR, FTX, FTX, FTX)
    # has a line feed inside C108/4440 component 1; LF is no character of level B (UNOB, D422
    # clause 5.2) -> 21. UNT+10 but 7 segments -> 29.
    Sample(
        "php-edifact/example_multiline.edi",
        ("UNOB", "2"),
        [("IFTMBC", "D00B", 7)],
        frozenset(
            {
                ic_("40", "UNB", 4, 2),
                ic_("12", "UNB", 4, 1),
                el("21", 1, "FTX", 6, 4, 1),
                msg("29", 1, "UNT", 1),
            }
        ),
    ),
    # UNT+787 but 27 segments -> 29. Not in SOURCES.md but defects by the standard:
    # GID C213/7065 is an..17 in EDED D.01B and "350114081527920321" has 18 characters
    # (segments 19 and 23, element 2, component 2); the FTX texts hold lower case letters
    # ("ForeverStrong", "Found."), which level A (UNOA, D422 clause 5.1) does not have
    # (segments 21 and 25, C108 element 4, component 1).
    Sample(
        "edi-net/edifact.D01B.IFCSUM.EDI",
        ("UNOA", "1"),
        [("IFCSUM", "D01B", 27)],
        frozenset(
            {
                el("39", 1, "GID", 19, 2, 2),
                el("39", 1, "GID", 23, 2, 2),
                el("21", 1, "FTX", 21, 4, 1),
                el("21", 1, "FTX", 25, 4, 1),
                msg("29", 1, "UNT", 1),
            }
        ),
    ),
    # No ' at all under default separators: the whole file is ONE unterminated UNB segment whose
    # elements run on through the following "segments" (split at +):
    #  7 0026 "IFCSUM<LF>UNH"  -> LF is not in level A (21; 0026 is simple: no component)
    #  8 0029 a1 "1"           -> digit in an alphabetic element (37)
    #  9 0031 n1 "IFCSUM:D:01B:UN:EAN003<LF>BGM" -> components in a simple element (16 at the
    #    first superfluous component, 2) and letters in a numeric element (37)
    # 10 0032 "610" fits an..35;  11 0035 n1 "1000505549" -> too long (39)
    # 12.. superfluous: UNB has 11 data elements (16 at element 12).
    # Then: no segment terminator at the end (13, no tag), no UNZ (13), no message (32).
    Sample(
        "edi-net/edifact.D01B.IFCSUM.NewLines.EDI",
        ("UNOA", "1"),
        [],
        frozenset(
            {
                ic_("21", "UNB", 7),
                ic_("37", "UNB", 8),
                ic_("16", "UNB", 9, 2),
                ic_("37", "UNB", 9),
                ic_("39", "UNB", 11),
                ic_("16", "UNB", 12),
                ic_("13", None),
                ic_("13", "UNZ"),
                ic_("32", None),
            }
        ),
    ),
    # D.96A is not among our directories: 14 (value not supported in this position) on UNH S009,
    # component 3 (0054 release 96A; version D itself is supported), for each of the 4 messages.
    # UNT+1 but 3 segments each (29). UNT references 42/43/43/43 against UNH 42/44/43/44:
    # messages 2 and 4 mismatch (28). Message 4 repeats reference 44 of message 2 (26, UNH 0062).
    # UNZ+1 for 4 messages (29). The UNZ reference matches.
    Sample(
        "edi-net/edifact.Issue188.edi",
        ("UNOC", "3"),
        [
            ("IFTMIN", "D96A", 3),
            ("INVOIC", "D96A", 3),
            ("IFTMIN", "D96A", 3),
            ("INVOIC", "D96A", 3),
        ],
        frozenset(
            {
                *(msg("14", m, "UNH", 2, 3) for m in (1, 2, 3, 4)),
                *(msg("29", m, "UNT", 1) for m in (1, 2, 3, 4)),
                msg("28", 2, "UNT", 2),
                msg("28", 4, "UNT", 2),
                msg("26", 4, "UNH", 1),
                ic_("29", "UNZ", 1),
            }
        ),
    ),
    # UNZ reference 2805570 != UNB 2803570 (28, UNZ 0020 = element 2). RFF+4F (segment 5, the
    # first RFF after UNH BGM DTM NAD): 1153 in UNCL D.00B has no code 4F (12).
    # (UNOC with syntax version 2 is accepted: code list 0001 ties no identifier to a version,
    # although UNOC itself came with version 3, ISO 9735 Amendment 1:1992, D422 annex D.)
    Sample(
        "edifact-types/d00b_iftsta.edi",
        ("UNOC", "2"),
        [("IFTSTA", "D00B", 31)],
        frozenset({ic_("28", "UNZ", 2), el("12", 1, "RFF", 5, 1, 1)}),
    ),
    # UNB S004 0017 "00091022": n6 in syntax versions 1-3, 8 digits -> too long (39). S009
    # "BAPLIE:D:04B:UN::A1B2C3:AA" has 7 components; syntax 2/3 S009 defines 5 (0065 0052 0054
    # 0051 0057), so 16 at the first superfluous one (component 6). UNT+19 is right.
    Sample(
        "edifact-types/d04b_baplie.edi",
        ("UNOA", "2"),
        [("BAPLIE", "D04B", 19)],
        frozenset({ic_("39", "UNB", 4, 1), msg("16", 1, "UNH", 2, 6)}),
    ),
    # No UNB and no UNZ: both mandatory envelope segments are missing (ISO 9735 clause 6.1).
    # RFF+XXX (segment 4): "XXX" is no code of 1153 in UNCL D.95B (12). UNT+56 for 29 (29).
    Sample(
        "edifact-types/d95b_coprar.edi",
        ("", ""),
        [("COPRAR", "D95B", 29)],
        frozenset(
            {
                ic_("13", "UNB"),
                ic_("13", "UNZ"),
                el("12", 1, "RFF", 4, 1, 1),
                msg("29", 1, "UNT", 1),
            }
        ),
    ),
]

BY_NAME = {s.path.rsplit("/", 1)[1]: s for s in SAMPLE_SPECS}


def validate(sample: Sample) -> list[InterchangeReport]:
    return EdifactValidator().validate_bytes((SAMPLES / sample.path).read_bytes())


def found(sample: Sample) -> set[Key]:
    return {key(f) for ic in validate(sample) for f in ic.all_findings()}


def test_every_sample_is_specified() -> None:
    assert sorted(p.relative_to(SAMPLES).as_posix() for p in sample_files()) == sorted(
        s.path for s in SAMPLE_SPECS
    )


def _exact_params() -> list[object]:
    params: list[object] = []
    for s in SAMPLE_SPECS:
        marks = [pytest.mark.xfail(strict=True, reason=s.reason)] if s.disputed else []
        params.append(pytest.param(s, id=s.path, marks=marks))
    return params


@pytest.mark.parametrize("sample", _exact_params())
def test_sample_findings_exact(sample: Sample) -> None:
    reports = validate(sample)
    got = sorted((key(f) for ic in reports for f in ic.all_findings()), key=str)
    assert got == sorted(sample.expected, key=str), [
        f.as_dict() for ic in reports for f in ic.all_findings()
    ]
    assert all(ic.valid for ic in reports) == (not sample.expected)


@pytest.mark.parametrize("sample", SAMPLE_SPECS, ids=[s.path for s in SAMPLE_SPECS])
def test_sample_findings_undisputed_part(sample: Sample) -> None:
    """Holds before and after the disputed cases are fixed: nothing unexpected is reported and
    every undisputed expected finding is."""
    got = found(sample)
    assert sample.expected - sample.disputed <= got
    assert got <= sample.expected


@pytest.mark.parametrize("sample", SAMPLE_SPECS, ids=[s.path for s in SAMPLE_SPECS])
def test_sample_envelope_and_messages(sample: Sample) -> None:
    (ic,) = validate(sample)  # every sample holds one interchange (or one bare message)
    assert (ic.syntax_identifier, ic.syntax_version) == sample.syntax
    assert (ic.header is not None) == (sample.syntax != ("", ""))
    assert [(m.type, m.directory, m.segment_count) for m in ic.messages] == sample.messages


def test_issue188_una_declares_decimal_comma_after_bom() -> None:
    (ic,) = validate(BY_NAME["edifact.Issue188.edi"])
    assert ic.una == "UNA:+,? '"
    assert ic.delimiters.decimal == ","
    assert ic.reference == "581575491"
