"""The small language of mapping rules: where a value is in a message, and how to convert it.

    SG4/CNI/C503/1004                     group SG4 (each instance in scope), its CNI, C503, 1004
    DTM[C507/2005=137]/C507/2380 | datetime(C507/2379)
    SG1[TDT/8051=20]/TDT/8028             group instance whose TDT 8051 is 20
    LOC[3227!=147]/C517/3225              LOC segments whose 3227 is not 147 (or is empty)
    NAD[3035=CZ|CN]/C080/3036* | join     all 3036 components of C080, joined
    FTX[4451=AAA]/C108/4440*              (target ending in []) every value of every match
    GID/C213#2/7224                       the second C213 of the segment (repeated composites)
    /DTM[C507/2005=132]/C507/2380         a leading "/": from the message root, whatever the scope
    DTM[C507/2005=132]/C507/2380 | date(C507/2379) | add_days(14)
    =BL                                   a constant

A path is steps (``SGn`` or a segment tag, each with optional ``[conditions]``) then element ids
(``1004``, ``C503/1004``); a component id may end in ``*`` (all its occurrences in the composite)
or ``#n`` (the n-th), and so may the data element id (``C213#2``: the segment's second C213; a
condition reads the first one). Ids are resolved to positions against the directory's segment
definitions once, when the mapping is loaded, so a rule names data elements the way the directory
does. Paths are relative to the block's scope (a group instance or a segment) unless they start
with ``/``.

Transforms: ``int``, ``decimal``, ``datetime(fmt-element)``, ``date(fmt-element)``,
``join(sep)``, ``upper``, ``map(table)`` (a ``[maps.table]``; ``"*"`` is the default, a code
missing from a table without ``"*"`` gives no value), ``add_days(n)`` (a date or time ``n``
days later).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from edigate.edifact.directory import MessageSpec, SegmentSpec
from edigate.edifact.tokenizer import Segment

_STEP = re.compile(r"(SG\d+|[A-Z][A-Z0-9]{2})((?:\[[^\]]*\])*)")
_ELEMENT_ID = re.compile(r"^([CS]\d{3}|\d{4})(\*|#\d+)?$")


class MappingError(ValueError):
    """A mapping rule cannot be compiled against the directory."""


@dataclass(frozen=True, slots=True)
class ValueRef:
    """Where a value is within one segment: element index and component index (0-based)."""

    element: int
    component: int  # component index; 0 for a simple element
    all_components: bool = False  # "*": every component with this id in the composite
    ids: tuple[str, ...] = ()

    def read(self, seg: Segment) -> list[tuple[str, int, int]]:
        """Non-empty values as (value, element, component) with 1-based positions."""
        els = seg.elements
        if self.element >= len(els):
            return []
        el = els[self.element]
        if self.component < len(el) and el[self.component]:
            return [(el[self.component], self.element + 1, self.component + 1)]
        return []


@dataclass(frozen=True, slots=True)
class Condition:
    tag: str | None  # group steps: the segment of the group the condition reads
    ref: ValueRef
    values: frozenset[str]
    negate: bool = False  # "!=": the value (or its absence) is none of ``values``


@dataclass(frozen=True, slots=True)
class Step:
    group: int | None  # SGn
    tag: str | None  # segment tag
    conditions: tuple[Condition, ...] = ()


@dataclass(slots=True)
class Expression:
    text: str
    steps: tuple[Step, ...]
    ref: ValueRef | None
    constant: str | None = None
    transforms: list[Callable[[Any, Segment | None], Any]] = field(default_factory=list)
    many: bool = False
    absolute: bool = False  # "/...": steps start at the message root, not at the block's scope


def element_index(spec: SegmentSpec, eid: str, text: str) -> int:
    """Position (0-based) of data element ``eid`` (``C213``, ``C213#2``: the second) in ``spec``."""
    m = _ELEMENT_ID.match(eid)
    if m is None or m.group(2) == "*":
        raise MappingError(f"{text}: {eid!r} is not a data element id")
    nth = int(m.group(2)[1:]) if m.group(2) else 1
    positions = [i for i, es in enumerate(spec.elements) if es.id == m.group(1)]
    if not positions:
        raise MappingError(f"{text}: {m.group(1)} is not in segment {spec.tag}")
    if not 1 <= nth <= len(positions):
        raise MappingError(f"{text}: {m.group(1)} occurs {len(positions)} times in {spec.tag}")
    return positions[nth - 1]


def _resolve(spec: SegmentSpec, ids: list[str], text: str) -> ValueRef:
    """Element ids (``C507``, ``2005``) -> positions in ``spec``."""
    first = ids[0]
    m = _ELEMENT_ID.match(first)
    if m is None:
        raise MappingError(f"{text}: {first!r} is not a data element id")
    i = element_index(spec, first, text)
    es = spec.elements[i]
    if es.components is None:
        if len(ids) > 1:
            raise MappingError(f"{text}: {first} is not a composite in {spec.tag}")
        return ValueRef(i, 0, False, (first,))
    if len(ids) != 2:
        raise MappingError(f"{text}: name a component of {first} in {spec.tag}")
    cm = _ELEMENT_ID.match(ids[1])
    if cm is None:
        raise MappingError(f"{text}: {ids[1]!r} is not a data element id")
    cid, suffix = cm.group(1), cm.group(2) or ""
    positions = [j for j, cs in enumerate(es.components) if cs.id == cid]
    if not positions:
        raise MappingError(f"{text}: {cid} is not a component of {first} in {spec.tag}")
    if suffix == "*":
        return _AllOf(i, positions[0], True, (first, cid), tuple(positions))
    nth = int(suffix[1:]) - 1 if suffix.startswith("#") else 0
    if not 0 <= nth < len(positions):
        raise MappingError(f"{text}: {cid} occurs {len(positions)} times in {first}")
    return ValueRef(i, positions[nth], False, (first, cid))


@dataclass(frozen=True, slots=True)
class _AllOf(ValueRef):
    positions: tuple[int, ...] = ()

    def read(self, seg: Segment) -> list[tuple[str, int, int]]:
        els = seg.elements
        if self.element >= len(els):
            return []
        el = els[self.element]
        return [(el[j], self.element + 1, j + 1) for j in self.positions if j < len(el) and el[j]]


def _segment_spec(message: MessageSpec, service: dict[str, SegmentSpec], tag: str,
                  text: str) -> SegmentSpec:  # fmt: skip
    spec = message.segments.get(tag) or service.get(tag)
    if spec is None:
        raise MappingError(f"{text}: segment {tag} is not in {message.type} {message.directory}")
    return spec


def _conditions(raw: str, message: MessageSpec, service: dict[str, SegmentSpec],
                seg_tag: str | None, text: str) -> tuple[Condition, ...]:  # fmt: skip
    out = []
    for body in re.findall(r"\[([^\]]*)\]", raw):
        path, _, values = body.partition("=")
        negate = path.endswith("!")
        parts = path.removesuffix("!").split("/")
        tag = None
        if seg_tag is None:  # a group step: the condition names a segment of the group
            tag, parts = parts[0], parts[1:]
        spec = _segment_spec(message, service, tag or seg_tag or "", text)
        out.append(Condition(tag, _resolve(spec, parts, text), frozenset(values.split("|")),
                             negate))  # fmt: skip
    return tuple(out)


_TZ_SUFFIX = re.compile(r"^(\d+)([+-]\d{2})(\d{2})?$")
# UNTDID 2379 date/time formats we read.
_FORMATS = {
    "102": ("%Y%m%d", 8), "203": ("%Y%m%d%H%M", 12), "204": ("%Y%m%d%H%M%S", 14),
    "101": ("%y%m%d", 6), "201": ("%y%m%d%H%M", 10), "202": ("%y%m%d%H%M%S", 12),
}  # fmt: skip


def parse_edifact_datetime(value: str, fmt: str | None, tz: tzinfo) -> datetime | None:
    """UNTDID 2379 formats 101/102/201/202/203/204 and 303 (with a +HH zone); None if unreadable."""
    zone = tz
    if fmt == "303" or (fmt is None and _TZ_SUFFIX.match(value) and len(value) > 12):
        m = _TZ_SUFFIX.match(value)
        if m is None:
            return None
        value = m.group(1)
        zone = timezone(timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
        fmt = "203"
    if fmt is None:
        fmt = {8: "102", 12: "203", 14: "204", 6: "101", 10: "201"}.get(len(value))
    pattern = _FORMATS.get(fmt or "")
    if pattern is None or len(value) != pattern[1] or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, pattern[0]).replace(tzinfo=zone)
    except ValueError:
        return None


def _transform(name: str, arg: str | None, segment_spec: SegmentSpec | None,
               maps: dict[str, dict[str, Any]], tz: tzinfo,
               text: str) -> Callable[[Any, Segment | None], Any]:  # fmt: skip
    if name == "int":
        return lambda v, s: int(v) if isinstance(v, str) and v.isdigit() else None
    if name == "decimal":
        def to_decimal(v: Any, s: Segment | None) -> Decimal | None:
            try:
                return Decimal(v.replace(",", ".")) if isinstance(v, str) else None
            except InvalidOperation:
                return None
        return to_decimal
    if name in ("datetime", "date"):
        fmt_ref = None
        if arg:
            if segment_spec is None:
                raise MappingError(f"{text}: {name}({arg}) needs a segment")
            fmt_ref = _resolve(segment_spec, arg.split("/"), text)

        def to_datetime(v: Any, s: Segment | None) -> datetime | date | None:
            fmt = None
            if fmt_ref is not None and s is not None:
                got = fmt_ref.read(s)
                fmt = got[0][0] if got else None
            dt = parse_edifact_datetime(v, fmt, tz) if isinstance(v, str) else None
            return dt.date() if dt is not None and name == "date" else dt
        return to_datetime
    if name == "join":
        sep = arg if arg is not None else " "
        return lambda v, s: sep.join(v) if isinstance(v, list) else v
    if name == "upper":
        return lambda v, s: v.upper() if isinstance(v, str) else v
    if name == "map":
        if arg not in maps:
            raise MappingError(f"{text}: no [maps.{arg}] table")
        table = maps[arg]
        default = table.get("*")
        return lambda v, s: table.get(v, default) if isinstance(v, str) else v
    if name == "add_days":
        try:
            days = timedelta(days=int(arg or ""))
        except ValueError:
            raise MappingError(f"{text}: add_days needs a whole number of days") from None
        return lambda v, s: v + days if isinstance(v, date) else None
    raise MappingError(f"{text}: unknown transform {name!r}")


def compile_transforms(pipes: list[str], segment_spec: SegmentSpec | None,
                       maps: dict[str, dict[str, Any]], tz: tzinfo,
                       text: str) -> list[Callable[[Any, Segment | None], Any]]:  # fmt: skip
    transforms = []
    for pipe in pipes:
        m = re.fullmatch(r"(\w+)(?:\((.*)\))?", pipe)
        if m is None:
            raise MappingError(f"{text}: bad transform {pipe!r}")
        transforms.append(_transform(m.group(1), m.group(2), segment_spec, maps, tz, text))
    return transforms


def compile_expression(text: str, message: MessageSpec, service: dict[str, SegmentSpec],
                       maps: dict[str, dict[str, Any]], tz: tzinfo,
                       context_tag: str | None = None) -> Expression:  # fmt: skip
    """Compile one rule. ``context_tag``: the expression is relative to that segment when it
    starts with an element id (rules inside a list built from segments)."""
    path, *pipes = [p.strip() for p in text.split(" | ")]
    if path.startswith("="):
        return Expression(text, (), None, constant=path[1:])
    absolute = path.startswith("/")
    if absolute:
        path = path[1:]
        if not path or _ELEMENT_ID.match(path.split("/")[0]):
            raise MappingError(f"{text}: a path from the root starts with a group or segment")
    parts = path.split("/")
    steps: list[Step] = []
    k = 0
    tag: str | None = None
    # Steps: groups then at most one segment; conditions may contain "/", so re-join them.
    tokens: list[str] = []
    buf = ""
    for p in parts:
        buf = f"{buf}/{p}" if buf else p
        if buf.count("[") == buf.count("]"):
            tokens.append(buf)
            buf = ""
    if buf:
        raise MappingError(f"{text}: unbalanced brackets")
    while k < len(tokens) and tag is None:
        m = _STEP.fullmatch(tokens[k])
        if m is None or _ELEMENT_ID.match(tokens[k]):
            break
        name, conds = m.group(1), m.group(2)
        if name[2:].isdigit() and name.startswith("SG"):
            steps.append(Step(int(name[2:]), None, _conditions(conds, message, service, None,
                                                                text)))  # fmt: skip
        else:
            tag = name
            steps.append(Step(None, tag, _conditions(conds, message, service, tag, text)))
        k += 1
    ids = tokens[k:]
    many = any(i.endswith("*") for i in ids)
    if tag is None:
        tag = context_tag
        if tag is None and ids:
            raise MappingError(f"{text}: element ids without a segment")
    segment_spec = _segment_spec(message, service, tag, text) if tag else None
    ref = _resolve(segment_spec, ids, text) if ids and segment_spec else None
    transforms = compile_transforms(pipes, segment_spec, maps, tz, text)
    return Expression(text, tuple(steps), ref, None, transforms, many, absolute)
