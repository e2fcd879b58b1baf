"""Apply a declarative mapping (TOML in ``mappings/edifact/``) to a message -> canonical document.

A mapping is a tree of blocks. A block has ``fields`` (target path -> expression), ``objects``
(target -> block, built from the first match of its ``from``) and ``lists`` (blocks with a
``target`` and a ``from``; one item per match, a group instance or a segment). Expressions are
described in :mod:`edigate.mappings.expressions`. Every value read records its source position
(provenance), so a business-rule finding can point at the segment and element it came from.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from edigate.canonical.model import CanonicalDocument, Provenance, SourcePosition
from edigate.edifact.directory import MessageSpec, message_spec, service_segments
from edigate.edifact.tokenizer import Segment

from .expressions import Condition, Expression, MappingError, Step, compile_expression
from .tree import GroupInstance, build_tree

MAPPINGS = Path(__file__).with_name("edifact")


@dataclass(slots=True)
class Block:
    source: Expression | None  # None: the enclosing scope
    fields: list[tuple[str, Expression]] = field(default_factory=list)
    objects: list[tuple[str, Block]] = field(default_factory=list)
    lists: list[tuple[str, Block]] = field(default_factory=list)


@dataclass(slots=True)
class Mapping:
    name: str
    message: str
    directories: tuple[str, ...]
    document_type: str
    root: Block


def _compile_block(raw: dict[str, Any], spec: MessageSpec, service: dict[str, Any],
                   maps: dict[str, dict[str, Any]], tz: ZoneInfo,
                   context_tag: str | None) -> Block:  # fmt: skip
    source = None
    if "from" in raw:
        source = compile_expression(raw["from"], spec, service, maps, tz, context_tag)
        if source.steps and source.steps[-1].tag is not None:
            context_tag = source.steps[-1].tag
    block = Block(source)
    for target, text in raw.get("fields", {}).items():
        block.fields.append(
            (target, compile_expression(text, spec, service, maps, tz, context_tag))
        )
    for target, sub in raw.get("objects", {}).items():
        block.objects.append((target, _compile_block(sub, spec, service, maps, tz, context_tag)))
    for sub in raw.get("lists", []):
        block.lists.append(
            (sub["target"], _compile_block(sub, spec, service, maps, tz, context_tag))
        )
    return block


def load_mapping(path: Path, directory: str) -> Mapping:
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    meta = raw["mapping"]
    spec = message_spec(directory, meta["message"])
    service = service_segments("syntax3")
    tz = ZoneInfo(meta.get("timezone", "UTC"))
    root = _compile_block(raw, spec, service, raw.get("maps", {}), tz, None)
    return Mapping(path.stem, meta["message"], tuple(meta["directories"]),
                   meta["document_type"], root)  # fmt: skip


@lru_cache(maxsize=128)
def mapping_for(message: str, directory: str) -> Mapping | None:
    """The mapping file for a message type in a directory version, compiled; None if none."""
    for path in sorted(MAPPINGS.glob(f"{message.lower()}*.toml")):
        with path.open("rb") as fh:
            meta = tomllib.load(fh)["mapping"]
        if meta["message"] == message and directory in meta["directories"]:
            return load_mapping(path, directory)
    return None


# -- evaluation -------------------------------------------------------------------------------


def _matches(cond: Condition, seg: Segment) -> bool:
    return any(v in cond.values for v, _, _ in cond.ref.read(seg))


def _segment_ok(step: Step, seg: Segment) -> bool:
    return seg.tag == step.tag and all(_matches(c, seg) for c in step.conditions)


def _group_ok(step: Step, inst: GroupInstance) -> bool:
    for c in step.conditions:
        if not any(s.tag == c.tag and _matches(c, s) for s in inst.segments):
            return False
    return True


def _select(steps: tuple[Step, ...], scope: GroupInstance) -> list[GroupInstance | Segment]:
    current: list[GroupInstance] = [scope]
    for i, step in enumerate(steps):
        if step.group is not None:
            current = [g for inst in current for g in inst.groups.get(step.group, ())
                       if _group_ok(step, g)]  # fmt: skip
        else:
            segs = [s for inst in current for s in inst.segments if _segment_ok(step, s)]
            assert i == len(steps) - 1
            return list(segs)
    return list(current)


class _Context:
    __slots__ = ("positions",)

    def __init__(self) -> None:
        self.positions: dict[str, SourcePosition] = {}


def _evaluate(expr: Expression, scope: GroupInstance, here: Segment | None, path: str,
              ctx: _Context, every: bool = False) -> Any:  # fmt: skip
    """The value of ``expr``: from the first segment that has it, or (``every``, or a ``*``
    path) the values of every matching segment."""
    if expr.constant is not None:
        return expr.constant
    if expr.steps:
        segments = [s for s in _select(expr.steps, scope) if isinstance(s, Segment)]
    else:
        segments = [here] if here is not None else []
    values: list[str] = []
    seg_used = None
    for seg in segments:
        assert expr.ref is not None
        got = expr.ref.read(seg)
        if not got:
            continue
        if seg_used is None:
            seg_used = seg
            _, el, comp = got[0]
            ctx.positions[path] = SourcePosition(
                segment_position=seg.position or None, segment_tag=seg.tag, element=el,
                component=comp if len(expr.ref.ids) > 1 else None, line=seg.line,
            )  # fmt: skip
        values.extend(v for v, _, _ in got)
        if not (expr.many or every):
            break
    if seg_used is None:
        return None
    result: Any = values if expr.many or every else values[0]
    for t in expr.transforms:
        result = t(result, seg_used)
    return result


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        target = target.setdefault(p, {})
    last = parts[-1]
    if last.endswith("[]"):
        items = value if isinstance(value, list) else [value]
        target.setdefault(last[:-2], []).extend(items)
    else:
        target[last] = value


def _apply(block: Block, scope: GroupInstance, here: Segment | None, path: str,
           ctx: _Context) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    for target, expr in block.fields:
        value = _evaluate(expr, scope, here, f"{path}{target}", ctx, target.endswith("[]"))
        if value is not None and value != []:
            _set(out, target, value)
    for target, sub in block.objects:
        item = _build(sub, scope, here, f"{path}{target}.", ctx, first_only=True)
        if item:
            _set(out, target, item[0])
    for target, sub in block.lists:
        items = _build(sub, scope, here, f"{path}{target}", ctx, first_only=False)
        if items:
            _set(out, target if target.endswith("[]") else target + "[]", items)
    return out


def _build(block: Block, scope: GroupInstance, here: Segment | None, path: str, ctx: _Context,
           first_only: bool) -> list[dict[str, Any]]:  # fmt: skip
    if block.source is None:
        item = _apply(block, scope, here, path, ctx)
        return [item] if item else []
    out = []
    for match in _select(block.source.steps, scope):
        k = len(out)
        sub_path = path if first_only else f"{path}[{k}]."
        if isinstance(match, Segment):
            item = _apply(block, scope, match, sub_path, ctx)
        else:
            item = _apply(block, match, None, sub_path, ctx)
        if item:
            out.append(item)
            if first_only:
                break
    return out


def map_message(segments: list[Segment], spec: MessageSpec, mapping: Mapping,
                provenance: dict[str, Any] | None = None) -> CanonicalDocument:  # fmt: skip
    """Map one message (its UNH..UNT segments) to a canonical document."""
    tree = build_tree(spec, segments)
    ctx = _Context()
    data = _apply(mapping.root, tree, None, "", ctx)
    header = data.setdefault("header", {})
    header["type"] = mapping.document_type
    prov = dict(provenance or {})
    prov.setdefault("source_format", "edifact")
    prov.setdefault("message_type", mapping.message)
    doc = msgspec.convert(data, CanonicalDocument, strict=False)
    doc.provenance = msgspec.convert(prov, Provenance, strict=False)
    doc.provenance.fields = ctx.positions
    return doc


__all__ = ["Mapping", "MappingError", "load_mapping", "map_message", "mapping_for"]
