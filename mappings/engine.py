"""Apply a declarative mapping (TOML in ``mappings/edifact/``) to a message -> canonical document.

A mapping is a tree of blocks. A block has ``fields`` (target path -> expression), ``objects``
(target -> block, built from the first match of its ``from``) and ``lists`` (blocks with a
``target`` and a ``from``; one item per match, a group instance or a segment). Expressions are
described in :mod:`edigate.mappings.expressions`. Every value read records its source position
(provenance), so a business-rule finding can point at the segment and element it came from.

More block and file options:

- a field may name a list of expressions, tried in order: the first that gives a value wins
  (``"shipment_date" = ["DTM[C507/2005=178]/...", "DTM[C507/2005=132]/..."]``); so may a
  block's ``from`` (the first that gives an item wins; all must end at the same segment tag, or
  all at groups). A field alternative may be a table ``{ value = "...", when = "PATH" }``: it is
  only tried when PATH finds something (a segment, a group, or a value if it names an element),
  e.g. ``when = "/BGM[C002/1001=830]"`` for export declarations; a block may have such a
  ``when`` too (checked in the enclosing scope, before its ``from``);
- ``repeat = "C076"`` in a list block whose ``from`` is a segment: one item per occurrence of that
  data element (syntax 4 repetitions), each read as if the segment held only that occurrence;
- ``[derived]`` (top level): target -> ``"canonical.path | transform..."``, computed from the
  mapped document after mapping (e.g. ``"declaration.due_date" = "declaration.shipment_date |
  add_days(14)"``), with the source position of the value it was computed from.

Targets are checked against the canonical model when the mapping is compiled (unknown fields and
list/scalar mix-ups are refused). An object or list item that lacks a field the model requires
(a seal without its number, a measure without its unit...) is left out instead of failing the
whole message.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import msgspec.inspect as mi

from edigate.canonical.model import CanonicalDocument, Provenance, SourcePosition
from edigate.edifact.directory import (
    MessageSpec,
    Node,
    SegmentSpec,
    message_spec,
    service_segments,
)
from edigate.edifact.tokenizer import Segment

from .compiled import collect_items, compile_mapping, forget, occurrences
from .expressions import (
    Condition,
    Expression,
    MappingError,
    Step,
    compile_expression,
    compile_transforms,
    element_index,
)
from .tree import GroupInstance, build_tree

MAPPINGS = Path(__file__).with_name("edifact")

_BLOCK_KEYS = frozenset(("from", "fields", "objects", "lists", "target", "repeat", "when"))
_ROOT_KEYS = frozenset(("mapping", "maps", "derived", "fields", "objects", "lists"))


@dataclass(slots=True)
class Block:
    #: where items come from, alternatives tried in order; none: the enclosing scope
    sources: list[Expression]
    #: target -> alternatives (expression, condition), tried in order until one gives a value
    fields: list[tuple[str, list[tuple[Expression, Expression | None]]]] = field(
        default_factory=list
    )
    objects: list[tuple[str, Block]] = field(default_factory=list)
    lists: list[tuple[str, Block]] = field(default_factory=list)
    repeat: int | None = None  # data element index: one item per occurrence (syntax 4)
    when: Expression | None = None  # the block applies only when this path finds something
    required: tuple[str, ...] = ()  # fields the canonical model requires in an item


@dataclass(slots=True)
class Derived:
    target: str
    source: str  # canonical dotted path in the mapped document
    expression: Expression  # its transforms


@dataclass(slots=True)
class Mapping:
    name: str
    message: str
    directories: tuple[str, ...]
    document_type: str
    root: Block
    derived: list[Derived] = field(default_factory=list)
    #: the root block compiled to Python (``compiled.compile_mapping``), made on first use
    compiled: Any = None


# -- canonical targets ------------------------------------------------------------------------


def _unwrap(t: mi.Type) -> mi.Type:
    """``X | None`` -> ``X``."""
    if isinstance(t, mi.UnionType):
        rest = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(rest) == 1:
            return rest[0]
    return t


def _target_type(owner: mi.Type, target: str, text: str) -> mi.Type:
    """The model type at dotted ``target`` (ending in ``[]`` for a list) below ``owner``."""
    t = owner
    parts = target.split(".")
    for k, part in enumerate(parts):
        name = part[:-2] if part.endswith("[]") else part
        struct = _unwrap(t)
        if not isinstance(struct, mi.StructType):
            raise MappingError(f"{text}: {'.'.join(parts[:k])} has no fields")
        found = [f for f in struct.fields if f.encode_name == name]
        if not found:
            raise MappingError(f"{text}: {struct.cls.__name__} has no field {name!r}")
        t = _unwrap(found[0].type)
        is_list = isinstance(t, mi.ListType)
        if part.endswith("[]") != is_list:
            hint = f"a list: write {name}[]" if is_list else f"no list: write {name} without []"
            raise MappingError(f"{text}: {name} is {hint}")
        if is_list and k < len(parts) - 1:
            raise MappingError(f"{text}: build the items of list {name} with [[lists]]")
    return t


def _check_value(expr: Expression, target: mi.Type, maps: dict[str, dict[str, Any]],
                 text: str) -> None:  # fmt: skip
    """Refuse, when compiling, values the model could not take: a code list field (Literal) or
    a flag (bool) filled other than by a constant or a map whose values it accepts; several
    values for a single field without ``join``."""
    t = _unwrap(target)
    pipes = [p.strip() for p in expr.text.split(" | ")][1:]
    if expr.many and not isinstance(t, mi.ListType) and (not pipes or
                                                         not pipes[-1].startswith("join")):
        raise MappingError(f"{text}: several values for one field: end with | join")
    if not isinstance(t, (mi.LiteralType, mi.BoolType)):
        return
    allowed = (lambda v: isinstance(v, bool)) if isinstance(t, mi.BoolType) else (
        lambda v: v in t.values)  # fmt: skip
    if expr.constant is not None:
        if isinstance(t, mi.BoolType) or not allowed(expr.constant):
            raise MappingError(f"{text}: {expr.constant!r} is not a value of this field")
        return
    name = pipes[-1][4:-1] if pipes and pipes[-1].startswith("map(") else None
    if name is None:
        raise MappingError(f"{text}: this field takes a fixed set of values: end with | map(...)")
    bad = [v for v in maps[name].values() if not allowed(v)]
    if bad:
        raise MappingError(f"{text}: map({name}) gives {bad!r}, not values of this field")


def _required(t: mi.Type) -> tuple[str, ...]:
    t = _unwrap(t)
    if isinstance(t, mi.ListType):
        t = _unwrap(t.item_type)
    if isinstance(t, mi.StructType):
        return tuple(f.encode_name for f in t.fields if f.required)
    return ()


def _struct_of(t: mi.Type, target: str, text: str) -> mi.Type:
    item = _unwrap(t)
    if isinstance(item, mi.ListType):
        item = _unwrap(item.item_type)
    if not isinstance(item, mi.StructType):
        raise MappingError(f"{text}: {target} is not an object of the model")
    return item


# -- compiling --------------------------------------------------------------------------------


def _group_node(node: Node, group: int) -> Node | None:
    return next((c for c in node.children if c.group == group), None)


@dataclass(slots=True)
class _Compiler:
    spec: MessageSpec
    service: dict[str, SegmentSpec]
    maps: dict[str, dict[str, Any]]
    tz: ZoneInfo

    def expression(self, text: str, context_tag: str | None, scope: Node) -> Expression:
        """Compile ``text`` and check that its steps exist where they start: each group a
        child of the scope's group (of the message for a path from the root), the segment one
        of the segments of the group it ends in."""
        expr = compile_expression(text, self.spec, self.service, self.maps, self.tz, context_tag)
        node = self.spec.root if expr.absolute else scope
        for step in expr.steps:
            if step.group is not None:
                child = _group_node(node, step.group)
                if child is None:
                    raise MappingError(f"{text}: SG{step.group} is not a group of {node.label}"
                                       f" in {self.spec.type} {self.spec.directory}")  # fmt: skip
                for cond in step.conditions:
                    if not any(c.tag == cond.tag for c in child.children):
                        raise MappingError(f"{text}: {cond.tag} is not a segment of SG{step.group}")
                node = child
            elif not any(c.tag == step.tag for c in node.children):
                where = "the message" if node is self.spec.root else node.label
                raise MappingError(f"{text}: {step.tag} is not a segment of {where} in "
                                   f"{self.spec.type} {self.spec.directory}")  # fmt: skip
        return expr

    def block(self, raw: dict[str, Any], context_tag: str | None, scope: Node,
              owner: mi.Type, where: str) -> Block:  # fmt: skip
        unknown = set(raw) - (_ROOT_KEYS if where == "" else _BLOCK_KEYS)
        if unknown:
            raise MappingError(f"{where or 'top level'}: unknown keys {sorted(unknown)}")
        when = None
        if isinstance(raw.get("when"), str):
            when = self.expression(raw["when"], context_tag, scope)
        sources = []
        if "from" in raw:
            texts = [raw["from"]] if isinstance(raw["from"], str) else list(raw["from"])
            sources = [self.expression(x, context_tag, scope) for x in texts]
            if not sources or any(not s.steps or s.ref is not None for s in sources):
                raise MappingError(f"{where}: 'from' names groups or segments, no data elements")
            ends = {(s.steps[-1].tag, s.steps[-1].group if s.steps[-1].tag is None else None)
                    for s in sources}  # fmt: skip
            if len(ends) != 1:
                raise MappingError(f"{where}: the alternatives of 'from' end in different places")
            end_tag, _ = ends.pop()
            context_tag = end_tag  # None for a group: its items are group instances
            if end_tag is None:
                last = sources[0]
                node = self.spec.root if last.absolute else scope
                for step in last.steps:
                    node = _group_node(node, step.group or 0) or node
                scope = node
        block = Block(sources, when=when)
        if "repeat" in raw:
            if context_tag is None or not sources:
                raise MappingError(f"{where}: repeat needs a segment in 'from'")
            seg_spec = self.spec.segments.get(context_tag) or self.service.get(context_tag)
            assert seg_spec is not None  # compile_expression checked the tag
            block.repeat = element_index(seg_spec, raw["repeat"], f"{where} repeat")
        for target, text in raw.get("fields", {}).items():
            target_type = _target_type(owner, target, f"{where}{target}")
            alternatives = []
            for alt in [text] if isinstance(text, str) else text:
                cond = None
                if isinstance(alt, dict):
                    if set(alt) - {"value", "when"} or not isinstance(alt.get("value"), str):
                        raise MappingError(f"{where}{target}: an alternative is {{ value, when }}")
                    if isinstance(alt.get("when"), str):
                        cond = self.expression(alt["when"], context_tag, scope)
                    alt = alt["value"]
                if not isinstance(alt, str):
                    raise MappingError(f"{where}{target}: an expression or a list of them")
                expr = self.expression(alt, context_tag, scope)
                _check_value(expr, target_type, self.maps, f"{where}{target}")
                alternatives.append((expr, cond))
            if not alternatives:
                raise MappingError(f"{where}{target}: no expression")
            block.fields.append((target, alternatives))
        for target, sub in raw.get("objects", {}).items():
            try:
                t = _target_type(owner, target, f"{where}{target}")
            except MappingError:
                _target_type(owner, target + "[]", f"{where}{target}")  # unknown: that error
                raise MappingError(f"{where}{target}: a list: build it with [[lists]]") from None
            child = _struct_of(t, target, f"{where}{target}")
            built = self.block(sub, context_tag, scope, child, f"{where}{target}.")
            built.required = _required(t)
            block.objects.append((target, built))
        for sub in raw.get("lists", []):
            target = sub.get("target", "")
            name = target if target.endswith("[]") else target + "[]"
            t = _target_type(owner, name, f"{where}{target}")
            child = _struct_of(t, target, f"{where}{target}")
            built = self.block(sub, context_tag, scope, child, f"{where}{target}[].")
            built.required = _required(t)
            block.lists.append((target, built))
        return block


def load_mapping(path: Path, directory: str, timezone: str | None = None) -> Mapping:
    """Compile a mapping file for one of its directories; MappingError names what is wrong.
    ``timezone``: the IANA zone of times without one (a partner's), instead of the file's."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    meta = raw["mapping"]
    spec = message_spec(directory, meta["message"])
    maps = raw.get("maps", {})
    tz = ZoneInfo(timezone or meta.get("timezone", "UTC"))
    compiler = _Compiler(spec, service_segments("syntax3"), maps, tz)
    document = mi.type_info(CanonicalDocument)
    try:
        root = compiler.block(raw, None, spec.root, document, "")
        derived = []
        for target, text in raw.get("derived", {}).items():
            source, *pipes = [p.strip() for p in text.split(" | ")]
            _target_type(document, target, f"derived {target}")
            _target_type(document, source, f"derived {target}")
            expr = Expression(text, (), None, None, compile_transforms(pipes, None, maps, tz, text))
            derived.append(Derived(target, source, expr))
    except MappingError as exc:
        raise MappingError(f"{path.name} ({directory}): {exc}") from None
    return Mapping(path.stem, meta["message"], tuple(meta["directories"]),
                   meta["document_type"], root, derived)  # fmt: skip


def mapping_files() -> dict[Path, dict[str, Any]]:
    """Every mapping file (a TOML file with a ``[mapping]`` table) -> that table. Other TOML
    files in the folder (e.g. ``cusres_render.toml``, a renderer's settings) are not mappings."""
    out = {}
    for path in sorted(MAPPINGS.glob("*.toml")):
        with path.open("rb") as fh:
            meta = tomllib.load(fh).get("mapping")
        if isinstance(meta, dict):
            out[path] = meta
    return out


def mapping_for(message: str, directory: str, timezone: str | None = None) -> Mapping | None:
    """The mapping file for a message type in a directory version, compiled; None if none.
    ``timezone``: read times without a zone in this IANA zone instead of the file's own (a
    partner sending local times of another port)."""
    return _mapping_for(message, directory, timezone)  # one cache key however it is called


@lru_cache(maxsize=128)
def _mapping_for(message: str, directory: str, timezone: str | None) -> Mapping | None:
    for path, meta in mapping_files().items():
        if meta["message"] == message and directory in meta["directories"]:
            return load_mapping(path, directory, timezone)
    return None


# -- evaluation -------------------------------------------------------------------------------


def _matches(cond: Condition, seg: Segment) -> bool:
    found = any(v in cond.values for v, _, _ in cond.ref.read(seg))
    return not found if cond.negate else found


def _segment_ok(step: Step, seg: Segment) -> bool:
    return seg.tag == step.tag and all(_matches(c, seg) for c in step.conditions)


def _group_ok(step: Step, inst: GroupInstance) -> bool:
    for c in step.conditions:
        if not any(s.tag == c.tag and _matches(c, s) for s in inst.segments):
            return False
    return True


def _occurrences(seg: Segment, index: int | None) -> list[Segment]:
    """``seg`` once per occurrence of its data element ``index`` (syntax 4 repetitions)."""
    return [seg] if index is None else occurrences(seg, index)


def _find(expr: Expression, scope: GroupInstance, here: Segment | None,
          ctx: _Context) -> list[GroupInstance | Segment]:  # fmt: skip
    """What the steps of ``expr`` select, from the scope or (``/``) the message root; without
    steps, the current segment."""
    if not expr.steps:
        return [here] if here is not None else []
    return _select(expr.steps, ctx.root if expr.absolute else scope)


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
    __slots__ = ("positions", "root")

    def __init__(self, root: GroupInstance) -> None:
        self.root = root
        self.positions: dict[str, SourcePosition] = {}

    def forget(self, prefix: str) -> None:
        """Drop the positions recorded under ``prefix`` (an item that was left out)."""
        forget(self.positions, prefix)


def _evaluate(expr: Expression, scope: GroupInstance, here: Segment | None, path: str,
              ctx: _Context, every: bool = False) -> Any:  # fmt: skip
    """The value of ``expr``: from the first segment that has it, or (``every``, or a ``*``
    path) the values of every matching segment."""
    if expr.constant is not None:
        return expr.constant
    segments = [s for s in _find(expr, scope, here, ctx) if isinstance(s, Segment)]
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


def _found(expr: Expression, scope: GroupInstance, here: Segment | None, ctx: _Context) -> bool:
    """Whether a condition path finds a group, a segment or (naming an element) a value."""
    if expr.constant is not None:
        return True
    found = _find(expr, scope, here, ctx)
    if expr.ref is None:
        return bool(found)
    ref = expr.ref
    return any(isinstance(s, Segment) and ref.read(s) for s in found)


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


def _get(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.removesuffix("[]").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _apply(block: Block, scope: GroupInstance, here: Segment | None, path: str,
           ctx: _Context) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    for target, alternatives in block.fields:
        where = f"{path}{target}"
        for expr, when in alternatives:
            if when is not None and not _found(when, scope, here, ctx):
                continue
            value = _evaluate(expr, scope, here, where, ctx, target.endswith("[]"))
            if value is not None and value != []:
                _set(out, target, value)
                break
            ctx.positions.pop(where, None)  # read, but converted to nothing
    for target, sub in block.objects:
        item = _build(sub, scope, here, f"{path}{target}.", ctx, first_only=True)
        if item:
            _set(out, target, item[0])
    for target, sub in block.lists:
        name = target if target.endswith("[]") else target + "[]"
        already = _get(out, name)
        start = len(already) if isinstance(already, list) else 0
        items = _build(sub, scope, here, f"{path}{target.removesuffix('[]')}", ctx,
                       first_only=False, start=start)  # fmt: skip
        if items:
            _set(out, name, items)
    return out


def _build(block: Block, scope: GroupInstance, here: Segment | None, path: str, ctx: _Context,
           first_only: bool, start: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    """Items of an object (``first_only``) or list block; ``start``: index of the first item in
    its list (for the provenance paths), when another block already added items to it."""
    if block.when is not None and not _found(block.when, scope, here, ctx):
        return []
    if not block.sources:
        return _items(block, [(scope, here)], path, ctx, first_only, start)
    for source in block.sources:
        matches: list[tuple[GroupInstance, Segment | None]] = []
        for match in _find(source, scope, here, ctx):
            if isinstance(match, Segment):
                matches.extend((scope, seg) for seg in _occurrences(match, block.repeat))
            else:
                matches.append((match, None))
        out = _items(block, matches, path, ctx, first_only, start)
        if out:
            return out
    return []


def _items(block: Block, matches: list[tuple[GroupInstance, Segment | None]], path: str,
           ctx: _Context, first_only: bool, start: int) -> list[dict[str, Any]]:  # fmt: skip
    return collect_items(matches, lambda m, sub: _apply(block, m[0], m[1], sub, ctx),
                         block.required, path, ctx.positions, first_only, start)


def _derive(mapping: Mapping, data: dict[str, Any], ctx: _Context) -> None:
    for d in mapping.derived:
        value = _get(data, d.source)
        if value is None:
            continue
        for t in d.expression.transforms:
            value = t(value, None)
        parent, _, _ = d.target.rpartition(".")
        if value is None or (parent and not isinstance(_get(data, parent), dict)):
            continue  # nothing to compute, or no object to put it in
        _set(data, d.target, value)
        if d.source in ctx.positions:
            ctx.positions[d.target] = ctx.positions[d.source]


def map_message(segments: list[Segment], spec: MessageSpec, mapping: Mapping,
                provenance: dict[str, Any] | None = None, *, interpret: bool = False,
                tree: GroupInstance | None = None) -> CanonicalDocument:  # fmt: skip
    """Map one message (its UNH..UNT segments) to a canonical document.

    The mapping runs compiled to Python (:mod:`edigate.mappings.compiled`); ``interpret``
    runs the reference interpreter below instead (same result, several times slower).
    ``tree``: the segments already filed under their group instances (the validator's
    ``MessageReport.tree``), else they are walked through the segment table here."""
    if tree is None:
        tree = build_tree(spec, segments)
    ctx = _Context(tree)
    if interpret:
        data = _apply(mapping.root, tree, None, "", ctx)
    else:
        if mapping.compiled is None:
            mapping.compiled = compile_mapping(mapping.root, f"{mapping.name} {spec.directory}")
        data = mapping.compiled(tree, None, "", ctx.positions, tree)
    _derive(mapping, data, ctx)
    header = data.setdefault("header", {})
    header["type"] = mapping.document_type
    prov = dict(provenance or {})
    prov.setdefault("source_format", "edifact")
    prov.setdefault("message_type", mapping.message)
    doc = msgspec.convert(data, CanonicalDocument, strict=False)
    doc.provenance = msgspec.convert(prov, Provenance, strict=False)
    doc.provenance.fields = ctx.positions
    return doc


__all__ = ["Mapping", "MappingError", "load_mapping", "map_message", "mapping_files", "mapping_for"]
