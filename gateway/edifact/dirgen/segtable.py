"""Parser for a message specification: its identification and its segment table (4.3.1).

The segment table draws the segment groups as boxes on the right:

* D.95B to D.01B (code page 437): a group line ends with ``┐`` (opens one group); a segment line
  that closes groups ends with one ``┘`` or ``┴`` per closed group (``────┴┴┴┘`` closes four);
* D.03B on (ASCII): a group line ends with ``-----+``; a segment line that closes groups ends
  with one ``+`` per closed group (``----++`` closes two).

The table ends with UNT, which must be at the top level. In the draft directories an
"Informative annex: extended segment table" follows UNT; it is not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:
    from edigate.edifact.dirgen.dirparse import ParseError, map_status
except ImportError:  # run as a plain script: the sibling modules are on sys.path
    from dirparse import ParseError, map_status  # type: ignore[no-redef]

__all__ = ["MessageSpec", "iter_segments", "parse_message"]

Warn = Callable[[str], None]
Node = dict[str, Any]

_IND = r"[-+*#|X]{1,3}"
_TAIL = r"[\s─┐┘┴┤│+|-]*"
_GROUP_RE = re.compile(
    rf"^(?P<pos>\d{{4,5}})?\s*(?:(?P<ind>{_IND})\s+)?[─-]+\s*Segment group\s+(?P<num>\d+)\s*[─-]+"
    rf"\s+(?P<st>[A-Z])\s+(?P<rep>\d+)(?P<tail>{_TAIL})$"
)
_SEGMENT_RE = re.compile(
    rf"^(?P<pos>\d{{4,5}})?\s*(?:(?P<ind>{_IND})\s+)?(?P<tag>[A-Z]{{3}})\s+(?P<name>.*\S)"
    rf"\s+(?P<st>[A-Z])\s+(?P<rep>\d+)(?P<tail>{_TAIL})$"
)
_TABLE_HEAD_RE = re.compile(r"^(?:\d+(?:\.\d+)*\s+)?Segment table\s*$", re.IGNORECASE)
_FIELD_RES = {
    "message": re.compile(r"^\s*Message Type\s*:\s*(\S+)"),
    "version": re.compile(r"^\s*Version\s*:\s*(\S+)"),
    "release": re.compile(r"^\s*Release\s*:\s*(\S+)"),
    "agency": re.compile(r"^\s*Contr\. Agency\s*:\s*(\S+)"),
}


@dataclass
class MessageSpec:
    message: str
    version: str
    release: str
    agency: str
    name: str
    structure: list[Node]
    group_count: int = 0
    tags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "version": self.version,
            "release": self.release,
            "agency": self.agency,
            "name": self.name,
            "structure": self.structure,
        }


def _closers(tail: str) -> int:
    return tail.count("┘") + tail.count("┴") + tail.count("+")


def _openers(tail: str) -> int:
    return tail.count("┐") + tail.count("+")


def _header(lines: list[str], table_at: int) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines[:table_at]:
        for key, regex in _FIELD_RES.items():
            match = regex.match(line)
            if match and key not in found:
                found[key] = match.group(1)
    for index, line in enumerate(lines[:table_at]):
        if line.strip() == "CONTENTS":
            title = next((x.strip() for x in lines[index + 1 : table_at] if x.strip()), "")
            found["name"] = title
            break
    return found


def _find_table(lines: list[str]) -> int:
    # the table of contents lists "4.3.1 Segment table" indented; the heading is in column 0
    for index, line in enumerate(lines):
        if line[:1].strip() and _TABLE_HEAD_RE.match(line.strip()):
            return index
    raise ParseError("no segment table heading")


def parse_message(text: str, warn: Warn, label: str = "") -> MessageSpec:
    """Parse a message specification. ``warn`` receives the self-check findings."""
    lines = [line.rstrip() for line in text.split("\n")]
    table_at = _find_table(lines)
    head = _header(lines, table_at)
    missing = [key for key in ("message", "version", "release", "agency") if key not in head]
    if missing:
        raise ParseError(f"message identification without {', '.join(missing)}")
    label = label or head["message"]

    root: list[Node] = []
    stack: list[tuple[list[Node], Node | None]] = [(root, None)]
    groups: list[Node] = []
    tags: list[str] = []
    finished = False
    index = table_at + 1
    while index < len(lines) and not finished:
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("Pos "):
            continue
        group = _GROUP_RE.match(line)
        segment = None if group else _SEGMENT_RE.match(line)
        if not group and not segment and re.match(r"^\d{4,5}\s", line) and index < len(lines):
            joined = f"{line} {lines[index].strip()}"  # an entry split over two lines
            group = _GROUP_RE.match(joined)
            segment = None if group else _SEGMENT_RE.match(joined)
            if group or segment:
                index += 1
        if group:
            if not group["pos"]:
                raise ParseError(f"{label}: group line without position: {line.strip()!r}")
            status = map_status(group["st"])
            if status is None:
                raise ParseError(f"{label}: segment group {group['num']} has status X")
            if _openers(group["tail"]) != 1:
                warn(f"{label}: group {group['num']} line does not open exactly one box")
            node: Node = {
                "group": int(group["num"]),
                "status": status,
                "max": int(group["rep"]),
                "pos": group["pos"],
                "children": [],
            }
            stack[-1][0].append(node)
            stack.append((node["children"], node))
            groups.append(node)
            continue
        if segment:
            closes = _closers(segment["tail"])
            if not segment["pos"]:
                # a deleted entry ("-"), listed without position: not part of the message
                if closes:
                    raise ParseError(f"{label}: unnumbered line closes a group: {line.strip()!r}")
                continue
            status = map_status(segment["st"])
            if status is not None:
                stack[-1][0].append(
                    {
                        "tag": segment["tag"],
                        "status": status,
                        "max": int(segment["rep"]),
                        "pos": segment["pos"],
                    }
                )
                tags.append(segment["tag"])
            for _ in range(closes):
                if len(stack) == 1:
                    raise ParseError(f"{label}: {segment['pos']} closes more groups than are open")
                stack.pop()
            if segment["tag"] == "UNT":
                if len(stack) != 1:
                    raise ParseError(f"{label}: UNT inside segment group {stack[-1][1]}")
                finished = True
            continue
        if set(line.strip()) <= set("│|"):
            continue  # a box side drawn on an empty line
        if re.match(r"^\s+[A-Z ]+SECTION\s*$", line):
            continue  # HEADER / DETAIL / SUMMARY SECTION captions
        raise ParseError(f"{label}: cannot read segment table line {line.strip()!r}")
    if not finished:
        raise ParseError(f"{label}: segment table does not end with UNT")
    spec = MessageSpec(
        message=head["message"],
        version=head["version"],
        release=head["release"],
        agency=head["agency"],
        name=head.get("name", ""),
        structure=root,
        group_count=len(groups),
        tags=tags,
    )
    _self_check(spec, groups, warn, label)
    return spec


def _self_check(spec: MessageSpec, groups: list[Node], warn: Warn, label: str) -> None:
    if not spec.structure or spec.structure[0].get("tag") != "UNH":
        warn(f"{label}: the first segment is not UNH")
    if spec.structure[-1].get("tag") != "UNT":
        warn(f"{label}: the last entry is not UNT")
    numbers = [g["group"] for g in groups]
    if numbers != list(range(1, len(numbers) + 1)):
        warn(f"{label}: segment groups are not numbered 1..{len(numbers)} in order: {numbers}")
    for g in groups:
        first = g["children"][0] if g["children"] else None
        if first is None or "tag" not in first:
            warn(f"{label}: segment group {g['group']} does not start with a segment")
        elif first["status"] != "M" or first["max"] != 1:
            warn(
                f"{label}: segment group {g['group']} trigger {first['tag']} is "
                f"{first['status']}{first['max']}, not M1"
            )
    positions = [node["pos"] for node in _walk(spec.structure)]
    if positions != sorted(positions):
        warn(f"{label}: positions are not in ascending order")


def _walk(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        out.append(node)
        if "children" in node:
            out.extend(_walk(node["children"]))
    return out


def iter_segments(nodes: list[Node]) -> list[Node]:
    """All segment entries of a structure, depth first, in table order."""
    return [node for node in _walk(nodes) if "tag" in node]
