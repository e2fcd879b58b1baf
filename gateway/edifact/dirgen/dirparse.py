"""Parsers for the directory chapters: data elements, composites, segments, code lists.

Layouts handled (all observed in D.95B ... D.13B and the syntax 4 service directories):

* data element directory (TRED/EDED): one entry per block, ``1004  Document/message number  [C]``
  then ``Repr: an..35``;
* composite directory (TRCD/EDCD): ``C002  DOCUMENT/MESSAGE NAME`` then component lines
  ``010   1001  Document/message name, coded   C  an..3``;
* segment directory (TRSD/EDSD): ``BGM  BEGINNING OF MESSAGE`` then position lines
  ``010   C002  DOCUMENT/MESSAGE NAME   C`` (D.95B-D.99A) or ``... C    1`` with a repetition
  column (D.00B on), each composite followed by its component lines;
* service segment directory (Ss40000.txt): like the segment directory but in fixed columns given
  by the ``Pos   TAG   Name   S R   Repr.    Notes`` heading of every segment, with names that
  may wrap onto a second line and a notes column;
* code lists (UNCL, UNSL, sl40210.txt): ``1153  Reference qualifier`` then, after ``Repr:``, one
  line per code (``AAA    Name``) followed by the indented description.

Change indicators (``+ * # | - X``) may stand before an entry's id or after a position number;
they are ignored, except that a code marked ``-`` (deleted) is left out. Entries marked ``X``
(marked for deletion) are still part of their directory and are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

try:
    from edigate.edifact.dirgen.textfiles import split_blocks
except ImportError:  # run as a plain script: the sibling modules are on sys.path
    from textfiles import split_blocks  # type: ignore[no-redef]

__all__ = [
    "CodeList",
    "CompositeDef",
    "ElementDef",
    "ParseError",
    "SegmentDef",
    "map_status",
    "parse_code_lists",
    "parse_composites",
    "parse_elements",
    "parse_repr",
    "parse_segments",
    "parse_service_segments",
]

Warn = Callable[[str], None]
Repr = tuple[str, int, int]

IND = r"[-+*#|X]{1,3}"
REPR_PATTERN = r"(?:an|a|n)(?:\.\.)?\d+"
_REPR_RE = re.compile(r"^(an|a|n)(\.\.)?(\d+)$")


class ParseError(ValueError):
    """A chapter or message file does not have the expected layout."""


def parse_repr(text: str) -> Repr:
    """``an..35`` -> ("an", 1, 35); ``n6`` -> ("n", 6, 6)."""
    match = _REPR_RE.match(text.strip())
    if not match:
        raise ParseError(f"unknown representation {text!r}")
    kind, dots, length = match.groups()
    size = int(length)
    return (kind, 1 if dots else size, size)


# Status letters: M and C in UN/EDIFACT; the others are accepted in case a table uses an
# implementation-guide notation (R required, O optional, D dependent, N not recommended, X not
# used). None means the entry is absent.
_STATUS = {"M": "M", "R": "M", "C": "C", "O": "C", "D": "C", "N": "C", "X": None}


def map_status(raw: str) -> str | None:
    try:
        return _STATUS[raw.strip().upper()]
    except KeyError:
        raise ParseError(f"unknown status {raw!r}") from None


@dataclass
class ElementDef:
    id: str
    name: str
    repr: Repr


@dataclass
class CompositeDef:
    id: str
    name: str
    components: list[tuple[str, str]]  # (component data element id, status)


@dataclass
class SegmentDef:
    tag: str
    name: str
    entries: list[tuple[str, str, int]]  # (element or composite id, status, max repetitions)
    # What the segment chapter repeats about its composites and elements, for cross-checks and
    # (service segments) as the only definition there is.
    inline_composites: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    inline_reprs: dict[str, Repr] = field(default_factory=dict)
    inline_names: dict[str, str] = field(default_factory=dict)
    composite_names: dict[str, str] = field(default_factory=dict)


@dataclass
class CodeList:
    id: str
    name: str
    repr: Repr | None
    codes: list[str]
    names: dict[str, str]  # code -> code name


def _first_line(block: list[str]) -> tuple[int, str]:
    for index, line in enumerate(block):
        if line.strip():
            return index, line
    return -1, ""


_LEADING_INDICATOR_RE = re.compile(r"^[-+*#|X]{1,3}(?= )")


def _strip_indicator(line: str) -> str:
    """Blank out a change indicator standing in column 0 (``X    AMK   ...``, ``|  UNOA ...``)."""
    match = _LEADING_INDICATOR_RE.match(line)
    if match:
        return " " * match.end() + line[match.end() :]
    return line


# --------------------------------------------------------------------------- data elements

_ELEMENT_HEAD_RE = re.compile(rf"^\s*(?:{IND}\s+)?(\d{{4}})\s+(.+?)(?:\s+\[[A-Z]?\])?\s*$")
_REPR_LINE_RE = re.compile(rf"^\s*(?:{IND}\s+)?Repr:\s*(\S+)")
_DESC_RE = re.compile(rf"^\s*(?:{IND}\s+)?(?:Desc|Repr|Note):")


def parse_elements(text: str, warn: Warn) -> dict[str, ElementDef]:
    elements: dict[str, ElementDef] = {}
    for block in split_blocks(text):
        start, head = _first_line(block)
        match = _ELEMENT_HEAD_RE.match(head)
        if not match:
            continue
        element_id, name = match.groups()
        # a long name may continue on the next line, before "Desc:"
        for line in block[start + 1 :]:
            if not line.strip() or _DESC_RE.match(line):
                break
            name = f"{name} {line.strip()}"
        name = re.sub(r"\s+\[[A-Z]?\]$", "", name)
        reprs = [m.group(1) for m in map(_REPR_LINE_RE.match, block) if m]
        if not reprs:
            warn(f"data element {element_id}: no Repr line")
            continue
        if element_id in elements:
            warn(f"data element {element_id} defined twice")
        elements[element_id] = ElementDef(element_id, name, parse_repr(reprs[0]))
    return elements


# --------------------------------------------------------------------------- composites

_COMPOSITE_HEAD_RE = re.compile(rf"^\s*(?:{IND}\s+)?([A-Z]\d{{3}})\s+(\S.*?)\s*$")
_COMPONENT_RE = re.compile(
    rf"^(?:(?P<pos>\d{{3}})\s*)?(?:(?P<ind>{IND})\s+)?(?P<id>\d{{4}})\s+(?P<name>.+?)"
    rf"\s+(?P<st>[A-Z])\s+(?P<repr>{REPR_PATTERN})$"
)
_COMPONENT_START_RE = re.compile(rf"^\d{{3}}\s*(?:{IND}\s+)?\d{{4}}\s+\S")


def _joined(
    lines: list[str], index: int, full: re.Pattern[str]
) -> tuple[re.Match[str] | None, int]:
    """Match ``full`` on line ``index``, joining up to two continuation lines when the entry
    is split over several lines. Returns the match and the number of lines consumed."""
    text = _strip_indicator(lines[index]).strip()
    for extra in range(3):
        match = full.match(text)
        if match:
            return match, extra + 1
        nxt = index + extra + 1
        if nxt >= len(lines) or not lines[nxt].strip():
            break
        text = f"{text} {lines[nxt].strip()}"
    return None, 1


def parse_composites(text: str, warn: Warn) -> dict[str, CompositeDef]:
    composites: dict[str, CompositeDef] = {}
    for block in split_blocks(text):
        start, head = _first_line(block)
        match = _COMPOSITE_HEAD_RE.match(head)
        if not match:
            continue
        composite_id, name = match.groups()
        components: list[tuple[str, str]] = []
        index = start + 1
        while index < len(block):
            line = block[index].rstrip()
            if _COMPONENT_START_RE.match(line):
                comp, used = _joined(block, index, _COMPONENT_RE)
                if comp is None:
                    warn(f"composite {composite_id}: cannot read {line!r}")
                else:
                    status = map_status(comp["st"])
                    if status is not None:
                        components.append((comp["id"], status))
                index += used
            else:
                index += 1
        if not components:
            warn(f"composite {composite_id}: no components")
            continue
        composites[composite_id] = CompositeDef(composite_id, name, components)
    return composites


# --------------------------------------------------------------------------- segments

_SEGMENT_HEAD_RE = re.compile(rf"^\s*(?:{IND}\s+)?([A-Z]{{3}})\s+(\S.*?)\s*$")
_POSITION_RE = re.compile(
    rf"^(?P<pos>\d{{3}})\s*(?:(?P<ind>{IND})\s+)?(?P<id>[A-Z]\d{{3}}|\d{{4}})\s+(?P<name>.+?)"
    rf"\s+(?P<st>[A-Z])(?:\s+(?P<rep>\d+))?(?:\s+(?P<repr>{REPR_PATTERN}))?$"
)
_POSITION_START_RE = re.compile(rf"^\d{{3}}\s*(?:{IND}\s+)?(?:[A-Z]\d{{3}}|\d{{4}})\s+\S")
_INLINE_COMPONENT_RE = re.compile(
    rf"^(?:(?P<ind>{IND})\s+)?(?P<id>\d{{4}})\s+(?P<name>.+?)\s+(?P<st>[A-Z])"
    rf"\s+(?P<repr>{REPR_PATTERN})$"
)


def parse_segments(text: str, warn: Warn) -> tuple[dict[str, SegmentDef], bool]:
    """Parse a segment directory. Returns the segments and whether it has a repetition column."""
    segments: dict[str, SegmentDef] = {}
    has_r_column = False
    for block in split_blocks(text):
        start, head = _first_line(block)
        match = _SEGMENT_HEAD_RE.match(head)
        if not match or head.lstrip().startswith(("Function", "Note")):
            continue
        tag, name = match.groups()
        segment = SegmentDef(tag, name, [])
        current: list[tuple[str, str]] | None = None
        index = start + 1
        while index < len(block):
            raw = block[index]
            line = raw.rstrip()
            if _POSITION_START_RE.match(line):
                pos, used = _joined(block, index, _POSITION_RE)
                if pos is None:
                    raise ParseError(f"segment {tag}: cannot read {line.strip()!r}")
                index += used
                status = map_status(pos["st"])
                if pos["rep"] is not None:
                    has_r_column = True
                item_id = pos["id"]
                if status is None:
                    current = None
                    continue
                segment.entries.append((item_id, status, int(pos["rep"] or 1)))
                if item_id[0].isalpha():
                    segment.composite_names[item_id] = pos["name"]
                    current = segment.inline_composites.setdefault(item_id, [])
                    current.clear()
                else:
                    current = None
                    segment.inline_names.setdefault(item_id, pos["name"])
                    if pos["repr"]:
                        segment.inline_reprs[item_id] = parse_repr(pos["repr"])
                continue
            stripped = _strip_indicator(line).strip()
            if current is not None and re.match(rf"^(?:{IND}\s+)?\d{{4}}\s", stripped):
                comp, used = _joined(block, index, _INLINE_COMPONENT_RE)
                if comp is None:
                    raise ParseError(f"segment {tag}: cannot read {stripped!r}")
                index += used
                status = map_status(comp["st"])
                if status is not None:
                    current.append((comp["id"], status))
                segment.inline_names.setdefault(comp["id"], comp["name"])
                segment.inline_reprs[comp["id"]] = parse_repr(comp["repr"])
                continue
            if not stripped:
                current = None
            index += 1
        if not segment.entries:
            warn(f"segment {tag}: no data elements")
            continue
        segments[tag] = segment
    return segments, has_r_column


# --------------------------------------------------------------------------- service segments

_SERVICE_HEADING_RE = re.compile(r"^Pos\s+TAG\s+Name\s+S R\s+Repr\.\s+Notes\s*$")
_SERVICE_ID_RE = re.compile(
    rf"^(?:(?P<pos>\d{{3}})\s*)?(?:(?P<ind>{IND})\s+)?(?P<id>[A-Z]\d{{3}}|\d{{4}})\s"
)
_SERVICE_END_RE = re.compile(r"^\s*(?:DEPENDENCY NOTES|OTHER NOTES|NOTES):")


def parse_service_segments(text: str, warn: Warn) -> dict[str, SegmentDef]:
    """Parse the service segment directory layout (Ss40000.txt and our syntax 3 transcription).

    Columns are taken from each segment's ``Pos TAG Name S R Repr. Notes`` heading. A name too
    long for its column continues on the next line, which holds the status and representation.
    """
    segments: dict[str, SegmentDef] = {}
    for block in split_blocks(text):
        _, head = _first_line(block)
        match = _SEGMENT_HEAD_RE.match(head)
        heading = next((i for i, line in enumerate(block) if _SERVICE_HEADING_RE.match(line)), -1)
        if not match or heading < 0:
            continue
        tag, name = match.groups()
        cols = block[heading]
        s_col = cols.index(" S R") + 1
        r_col = s_col + 2
        repr_col = cols.index("Repr.")
        notes_col = cols.index("Notes")
        segment = SegmentDef(tag, name, [])
        current: list[tuple[str, str]] | None = None
        index = heading + 1
        while index < len(block):
            raw = block[index]
            index += 1
            if _SERVICE_END_RE.match(raw):
                break
            is_position = raw[:3].isdigit()
            line = raw if is_position else _strip_indicator(raw)
            found = _SERVICE_ID_RE.match(line if is_position else line.lstrip())
            if not found:
                continue  # blank line, or a continuation of the notes column
            item_id = found["id"]
            item_name = line[:s_col].split(item_id, 1)[1].strip()
            columns = line
            if len(columns) <= s_col or not columns[s_col].strip():
                # the name wraps: the next line ends it and holds the other columns
                if index >= len(block):
                    raise ParseError(f"service segment {tag}: {item_id} has no status")
                columns = block[index]
                index += 1
                item_name = f"{item_name} {columns[:s_col].strip()}"
            status = map_status(columns[s_col : s_col + 1])
            rep_text = columns[r_col:repr_col].strip()
            repr_text = columns[repr_col:notes_col].strip()
            if found["pos"]:
                current = None
                if status is None:
                    continue
                segment.entries.append((item_id, status, int(rep_text or 1)))
                if item_id[0].isalpha():
                    segment.composite_names[item_id] = item_name
                    current = segment.inline_composites.setdefault(item_id, [])
                else:
                    segment.inline_names.setdefault(item_id, item_name)
                    segment.inline_reprs[item_id] = parse_repr(repr_text)
                continue
            if current is None:
                raise ParseError(f"service segment {tag}: component {item_id} outside a composite")
            if status is not None:
                current.append((item_id, status))
            segment.inline_names.setdefault(item_id, item_name)
            segment.inline_reprs[item_id] = parse_repr(repr_text)
        if not segment.entries:
            warn(f"service segment {tag}: no data elements")
            continue
        segments[tag] = segment
    return segments


# --------------------------------------------------------------------------- code lists

_CODE_HEAD_RE = re.compile(rf"^(?:{IND})?\s*(\d{{4}})\s+(.+?)(?:\s+\[[A-Z]?\])?\s*$")
_CODE_LINE_RE = re.compile(r"^( +)(\S+)( +)(\S.*)$")
_MAX_CODE_COLUMN = 8  # codes start in column 3..8; names and descriptions are indented further


def parse_code_lists(text: str, warn: Warn) -> dict[str, CodeList]:
    lists: dict[str, CodeList] = {}
    for block in split_blocks(text):
        _, head = _first_line(block)
        match = _CODE_HEAD_RE.match(head)
        if not match:
            continue
        element_id, name = match.groups()
        repr_line = next((i for i, line in enumerate(block) if _REPR_LINE_RE.match(line)), -1)
        if repr_line < 0:
            continue
        repr_match = _REPR_LINE_RE.match(block[repr_line])
        try:
            list_repr: Repr | None = parse_repr(repr_match.group(1)) if repr_match else None
        except ParseError:
            warn(f"code list {element_id}: unreadable Repr line")
            list_repr = None
        codes: list[str] = []
        names: dict[str, str] = {}
        code = ""
        name_col = -1
        name_open = False  # the current code's name may continue on the next line
        in_note = False
        for raw in block[repr_line + 1 :]:
            if not raw.strip():
                in_note = name_open = False
                continue
            line = _strip_indicator(raw)
            if line.lstrip().startswith("Note:"):
                in_note, name_open = True, False
                continue
            if in_note:
                continue
            found = _CODE_LINE_RE.match(line)
            if found and len(found.group(1)) <= _MAX_CODE_COLUMN:
                code = found.group(2)
                name_col = len(found.group(1)) + len(code) + len(found.group(3))
                name_open = not raw.startswith("- ")  # "-": deleted from this directory
                if not name_open:
                    continue
                if code in names:
                    warn(f"code list {element_id}: code {code} listed twice")
                else:
                    codes.append(code)
                names[code] = found.group(4).strip()
            elif name_open and len(line) - len(line.lstrip()) == name_col:
                names[code] = f"{names[code]} {line.strip()}"
            else:
                name_open = False  # the description starts
        lists[element_id] = CodeList(element_id, name, list_repr, codes, names)
    return lists
