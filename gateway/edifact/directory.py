"""Compiled UN/EDIFACT directories: loading and the fast lookup structures the validator uses.

The JSON files under ``directories/`` are generated from the original UNECE text files by
``python -m edigate.edifact.dirgen`` (see docs/edifact-directories.md); nothing here parses
UNECE text. Directories load lazily, one message at a time, and are cached for the process.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

DIRECTORIES = Path(__file__).with_name("directories")
PROFILES = Path(__file__).with_name("profiles")

_DIRECTORY_NAME = re.compile(r"^[A-Z0-9]{1,8}$")


@dataclass(frozen=True, slots=True)
class ValueSpec:
    """A simple data element as used in one position (stand-alone or as a component)."""

    id: str
    mandatory: bool
    type: str  # "a", "n" or "an"
    min: int
    max: int
    codes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ElementSpec:
    """One data element position of a segment: simple (``components`` None) or composite."""

    id: str
    mandatory: bool
    repeat: int
    value: ValueSpec | None
    components: tuple[ValueSpec, ...] | None


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    tag: str
    name: str
    elements: tuple[ElementSpec, ...]


@dataclass(slots=True)
class Node:
    """A segment or a segment group in a message structure."""

    pos: str
    mandatory: bool
    max: int
    tag: str | None = None  # segment nodes
    group: int | None = None  # group nodes
    children: list[Node] = field(default_factory=list)

    @property
    def trigger(self) -> str:
        node = self
        while node.tag is None:
            node = node.children[0]
        return node.tag

    @property
    def label(self) -> str:
        return self.tag if self.tag is not None else f"SG{self.group}"


@dataclass(slots=True)
class MessageSpec:
    type: str
    directory: str
    name: str
    root: Node
    segments: dict[str, SegmentSpec]
    #: segment table position -> definition narrowed for that position only (profiles)
    at_position: dict[str, SegmentSpec] = field(default_factory=dict)


class DirectoryError(LookupError):
    """A directory or message is not available."""


# Code lists checked in service segments: those whose values the syntax itself fixes. Others
# (e.g. 0007 partner id qualifiers, 0054 message release: the list only names old releases) are
# left to the interchange agreement.
SERVICE_CODE_LISTS = frozenset(("0001", "0002", "0025", "0029", "0031", "0035", "0051", "0081",
                                "0083", "0085"))  # fmt: skip
# Qualifier code lists not checked in data segments: 1131 "code list qualifier" names code lists
# that implementation guides routinely define themselves (e.g. SMDG's TER for terminals).
UNCHECKED_QUALIFIERS = frozenset(("1131",))


def _value_spec(eid: str, mandatory: bool, data: dict[str, Any]) -> ValueSpec:
    try:
        typ, mn, mx = data["elements"][eid]
    except KeyError:
        typ, mn, mx = "an", 0, 99999
    codes = data.get("codes", {}).get(eid)
    if data.get("directory", "").startswith("syntax"):
        if eid not in SERVICE_CODE_LISTS:
            codes = None
    elif eid in UNCHECKED_QUALIFIERS:
        codes = None
    return ValueSpec(eid, mandatory, typ, mn, mx, frozenset(codes) if codes else None)


def _segment_spec(tag: str, data: dict[str, Any]) -> SegmentSpec:
    elements = []
    for eid, status, repeat in data["segments"][tag]:
        mandatory = status == "M"
        if eid in data["composites"]:
            comps = tuple(
                _value_spec(cid, cstatus == "M", data) for cid, cstatus in data["composites"][eid]
            )
            elements.append(ElementSpec(eid, mandatory, repeat, None, comps))
        else:
            elements.append(
                ElementSpec(eid, mandatory, repeat, _value_spec(eid, mandatory, data), None)
            )
    name = data.get("names", {}).get("segments", {}).get(tag, tag)
    return SegmentSpec(tag, name, tuple(elements))


def _node(entry: dict[str, Any]) -> Node:
    if "group" in entry:
        return Node(
            pos=entry.get("pos", ""),
            mandatory=entry["status"] == "M",
            max=entry["max"],
            group=entry["group"],
            children=[_node(c) for c in entry["children"]],
        )
    return Node(
        pos=entry.get("pos", ""),
        mandatory=entry["status"] == "M",
        max=entry["max"],
        tag=entry["tag"],
    )


@lru_cache(maxsize=64)
def _load_json(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def directory_data(name: str) -> dict[str, Any]:
    if not _DIRECTORY_NAME.match(name.upper()) and name not in ("syntax3", "syntax4"):
        raise DirectoryError(f"no directory {name!r}")
    path = DIRECTORIES / name / "segments.json"
    if not path.is_file():
        raise DirectoryError(f"directory {name} is not available")
    return _load_json(path)


@lru_cache(maxsize=16)
def service_segments(syntax: str) -> dict[str, SegmentSpec]:
    """Service segment definitions: ``syntax`` is ``"syntax3"`` (versions 1-3) or ``"syntax4"``."""
    data = directory_data(syntax)
    return {tag: _segment_spec(tag, data) for tag in data["segments"]}


def service_codes(syntax: str) -> dict[str, list[str]]:
    return directory_data(syntax).get("codes", {})  # type: ignore[no-any-return]


def code_name(syntax: str, element: str, code: str) -> str:
    return str(directory_data(syntax).get("code_names", {}).get(element, {}).get(code, ""))


@lru_cache(maxsize=256)
def message_spec(directory: str, message: str) -> MessageSpec:
    """The structure and segment definitions of one message in one directory version."""
    if not message.isalnum():
        raise DirectoryError(f"no message {message!r}")
    data = directory_data(directory)
    path = DIRECTORIES / directory / "messages" / f"{message}.json"
    if not path.is_file():
        raise DirectoryError(f"message {message} is not in directory {directory}")
    msg = _load_json(path)
    children = [_node(e) for e in msg["structure"]]
    root = Node(pos="", mandatory=True, max=1, group=0, children=children)
    segments: dict[str, SegmentSpec] = {}

    def collect(node: Node) -> None:
        tag = node.tag
        if tag is not None and tag not in segments and tag in data["segments"]:
            segments[tag] = _segment_spec(tag, data)
        for child in node.children:
            collect(child)

    collect(root)
    return MessageSpec(message, directory, msg.get("name", message), root, segments)


def available_directories() -> list[str]:
    return sorted(p.parent.name for p in DIRECTORIES.glob("*/segments.json"))


# -- implementation-guide profiles -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """Restrictions an implementation guide adds to a directory message (data, not code)."""

    name: str
    message: str
    directories: tuple[str, ...]
    raw: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        """Identifies the restrictions themselves (two loads of one file share narrowed specs)."""
        body = json.dumps(self.raw, sort_keys=True, default=str)
        return f"{self.name}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def load_profile(path: Path | str) -> Profile:
    """Read a profile and check it against every directory it names (or every available one).

    Raises DirectoryError for a rule naming a position, segment, element or component the
    message does not have, so a bad profile is refused when loaded, not mid-stream.
    """
    with Path(path).open("rb") as fh:
        raw = tomllib.load(fh)
    meta = raw.get("profile", {})
    if "message" not in meta:
        raise DirectoryError(f"profile {path}: [profile] message is missing")
    dirs = meta.get("directories") or ([meta["directory"]] if meta.get("directory") else [])
    profile = Profile(meta.get("name", Path(path).stem), meta["message"], tuple(dirs), raw)
    checked = 0
    for directory in dirs or available_directories():
        try:
            spec = message_spec(directory, profile.message)
        except DirectoryError:
            if dirs:
                raise
            continue
        apply_profile(spec, profile)
        checked += 1
    if not checked:
        raise DirectoryError(f"profile {profile.name}: {profile.message} is in no directory")
    return profile


def _find_nodes(node: Node, pos: str) -> list[Node]:
    found = [node] if node.pos == pos else []
    for child in node.children:
        found.extend(_find_nodes(child, pos))
    return found


def _copy_tree(node: Node) -> Node:
    return Node(
        node.pos, node.mandatory, node.max, node.tag, node.group,
        [_copy_tree(c) for c in node.children],
    )  # fmt: skip


def _narrow(v: ValueSpec, rule: dict[str, Any]) -> ValueSpec:
    return replace(
        v,
        mandatory=rule.get("status", "M" if v.mandatory else "C") == "M",
        max=min(v.max, int(rule.get("max_length", v.max))),
        min=max(v.min, int(rule.get("min_length", v.min))),
        codes=frozenset(rule["codes"]) if "codes" in rule else v.codes,
    )


def apply_profile(spec: MessageSpec, profile: Profile) -> MessageSpec:
    """A narrowed copy of ``spec``: mandatory segments/groups, repetitions, lengths and codes.

    Profile file format (TOML)::

        [profile]
        name = "hk-cuscar"
        message = "CUSCAR"
        directories = ["D95B"]

        [[structure]]          # a segment or group of the segment table, by its position
        pos = "0160"
        status = "M"           # optional: make it mandatory
        max = 1                # optional: fewer repetitions

        [[element]]            # a data element of a segment, by tag and 1-based positions
        segment = "BGM"
        pos = "0020"           # optional: only the segment at this table position
        element = 2
        component = 1          # optional, for composites
        status = "M"
        max_length = 17
        min_length = 1
        codes = ["85", "785"]  # fixed qualifier(s)/allowed values
    """
    root = _copy_tree(spec.root)
    for rule in profile.raw.get("structure", []):
        nodes = _find_nodes(root, str(rule["pos"]))
        if not nodes:
            raise DirectoryError(f"profile {profile.name}: no position {rule['pos']}")
        for node in nodes:
            if "status" in rule:
                node.mandatory = rule["status"] == "M"
            if "max" in rule:
                node.max = min(node.max, int(rule["max"]))
    segments = dict(spec.segments)
    at_position = dict(spec.at_position)
    for rule in profile.raw.get("element", []):
        tag = rule["segment"]
        seg = segments.get(tag)
        if seg is None:
            raise DirectoryError(f"profile {profile.name}: segment {tag} not in the message")
        pos = str(rule["pos"]) if "pos" in rule else None
        if pos is not None:
            nodes = [n for n in _find_nodes(root, pos) if n.tag == tag]
            if not nodes:
                raise DirectoryError(f"profile {profile.name}: no {tag} at position {pos}")
            seg = at_position.get(pos, seg)
        narrowed = _narrow_segment(seg, rule, profile.name)
        if pos is None:
            segments[tag] = narrowed
            # position-scoped rules already made for this tag keep this rule too
            for p, s in list(at_position.items()):
                if s.tag == tag:
                    at_position[p] = _narrow_segment(s, rule, profile.name)
        else:
            at_position[pos] = narrowed
    return MessageSpec(spec.type, spec.directory, spec.name, root, segments, at_position)


def _narrow_segment(seg: SegmentSpec, rule: dict[str, Any], profile: str) -> SegmentSpec:
    elements = list(seg.elements)
    idx = int(rule["element"]) - 1
    if not 0 <= idx < len(elements):
        raise DirectoryError(f"profile {profile}: {seg.tag} has no element {idx + 1}")
    el = elements[idx]
    comp = rule.get("component")
    if comp is None:
        if el.value is not None:
            el = replace(el, value=_narrow(el.value, rule))
        if "status" in rule:
            el = replace(el, mandatory=rule["status"] == "M")
    else:
        ci = int(comp) - 1
        if el.components is None or not 0 <= ci < len(el.components):
            raise DirectoryError(f"profile {profile}: {seg.tag} element {idx + 1} has no "
                                 f"component {ci + 1}")  # fmt: skip
        comps = list(el.components)
        comps[ci] = _narrow(comps[ci], rule)
        el = replace(el, components=tuple(comps))
        if rule.get("status") == "M":
            el = replace(el, mandatory=True)
    elements[idx] = el
    return replace(seg, elements=tuple(elements))
