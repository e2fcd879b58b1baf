"""Mappings compiled to Python: the same semantics as the interpreter in ``engine``, faster.

The interpreter walks the block tree for every message and, for every value, dispatches on the
shape of the rule (constant or path, group or segment steps, one value or all, conditions,
transforms). All of that is known when the mapping is loaded, so each block becomes one
generated Python function: straight-line code per field, one specialised function per
expression (its selection loops, element and component indices, conditions and transforms
inlined as constants), items of objects and lists built by direct calls. The interpreter stays
the reference: ``tests/test_mapping_compiled.py`` maps every fixture and sample with both and
requires identical documents, provenance included.

Why generated source and not closures: the gain comes from inlining (a closure per step still
pays a call and a dispatch per value); the source is small, built once per mapping and
directory, and kept in ``linecache`` so tracebacks and profilers show it.
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable, Iterable
from typing import Any

from edigate.canonical.model import SourcePosition
from edigate.edifact.tokenizer import Segment

from .expressions import Condition, Expression, Step, ValueRef
from .tree import GroupInstance

BlockFn = Callable[[GroupInstance, Segment | None, str, dict[str, SourcePosition],
                    GroupInstance], dict[str, Any]]  # fmt: skip

_counter = itertools.count()


def occurrences(seg: Segment, index: int) -> list[Segment]:
    """``seg`` once per occurrence of its data element ``index`` (syntax 4 repetitions); the
    same as the interpreter's ``_occurrences``."""
    if not seg.repeats or index not in seg.repeats:
        return [seg]
    out = []
    for occurrence in seg.repeats[index]:
        elements = list(seg.elements)
        elements[index] = occurrence
        out.append(Segment(seg.tag, elements, seg.raw, seg.offset, seg.line, seg.number,
                           interchange=seg.interchange, group=seg.group, message=seg.message,
                           position=seg.position))  # fmt: skip
    return out


def forget(pos: dict[str, SourcePosition], prefix: str) -> None:
    """Drop the positions recorded under ``prefix`` (an item that was left out)."""
    for key in [k for k in pos if k.startswith(prefix)]:
        del pos[key]


def collect_items(matches: Iterable[Any], apply: Callable[[Any, str], dict[str, Any]],
                  required: tuple[str, ...], path: str, positions: dict[str, SourcePosition],
                  first_only: bool, start: int) -> list[dict[str, Any]]:  # fmt: skip
    """The items of an object (``first_only``) or list block, for the interpreters (EDIFACT
    reference and XML): ``apply(match, item_path)`` builds one; an item lacking a field the
    model requires is left out with its positions. ``start``: index of the first item in its
    list (for the provenance paths), when another block already added items to it."""
    out: list[dict[str, Any]] = []
    for match in matches:
        sub = path if first_only else f"{path}[{start + len(out)}]."
        item = apply(match, sub)
        if item and all(name in item for name in required):
            out.append(item)
            if first_only:
                break
        else:
            forget(positions, sub)
    return out


class _Source:
    """Accumulates generated functions and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {
            "SP": SourcePosition, "Segment": Segment, "occurrences": occurrences,
            "forget": forget,
        }  # fmt: skip
        self._ids = itertools.count()
        self._const_ids: dict[int, str] = {}

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def const(self, value: Any) -> str:
        key = id(value)
        if key not in self._const_ids:
            name = self.name("k")
            self.consts[name] = value
            self._const_ids[key] = name
        return self._const_ids[key]

    def emit(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.lines.append("")


def _cond(cond: Condition, var: str, src: _Source) -> str:
    """A boolean expression: ``cond`` holds for the segment in ``var``."""
    ref = cond.ref
    values = src.const(cond.values)
    if type(ref) is ValueRef and "" not in cond.values:
        e, c = ref.element, ref.component
        got = (f"(len({var}.elements) > {e} and len({var}.elements[{e}]) > {c} "
               f"and {var}.elements[{e}][{c}] in {values})")  # fmt: skip
    else:  # every occurrence ("*") or an empty value among the codes: read as the interpreter
        got = f"any(v in {values} for v, _, _ in {src.const(ref)}.read({var}))"
    return f"(not {got})" if cond.negate else got


def _step_cond(step: Step, var: str, src: _Source) -> str | None:
    """Conditions of a step, on a segment (segment step) or a group instance (group step)."""
    if not step.conditions:
        return None
    if step.group is None:
        return " and ".join(_cond(c, var, src) for c in step.conditions)
    parts = [f"any(x.tag == {c.tag!r} and {_cond(c, 'x', src)} for x in {var}.segments)"
             for c in step.conditions]  # fmt: skip
    return " and ".join(parts)


def _loops(expr: Expression, var: str, src: _Source, indent: str) -> tuple[list[str], str]:
    """Nested ``for`` loops binding ``var`` to what ``expr``'s steps select, in document order;
    returns the lines and the indentation of the loop body."""
    lines: list[str] = []
    if not expr.steps:
        lines.append(f"{indent}for {var} in ((here,) if here is not None else ()):")
        return lines, indent + "    "
    current = "root" if expr.absolute else "scope"
    for i, step in enumerate(expr.steps):
        if step.group is not None:
            g = f"g{i}" if i < len(expr.steps) - 1 else var
            lines.append(f"{indent}for {g} in {current}.groups.get({step.group}, ()):")
            indent += "    "
            cond = _step_cond(step, g, src)
            if cond:
                lines.append(f"{indent}if not ({cond}): continue")
            current = g
        else:
            lines.append(f"{indent}for {var} in {current}.segments:")
            indent += "    "
            cond = _step_cond(step, var, src)
            test = f"{var}.tag != {step.tag!r}" + (f" or not ({cond})" if cond else "")
            lines.append(f"{indent}if {test}: continue")
    return lines, indent


def _ends_in_segment(expr: Expression) -> bool:
    return not expr.steps or expr.steps[-1].tag is not None


def compile_value(expr: Expression, every: bool, src: _Source) -> str:
    """A function ``(scope, here, where, pos, root) -> value`` for a field expression: the
    interpreter's ``_evaluate``."""
    fn = src.name("v")
    if expr.constant is not None:
        return src.const(expr.constant)  # a constant: no function, no position
    head = [f"def {fn}(scope, here, w, pos, root):"]
    if not _ends_in_segment(expr) or expr.ref is None:
        src.emit([*head, "    return None"])  # a group has no values
        return fn
    ref = expr.ref
    comp = "None" if len(ref.ids) <= 1 else None
    transforms = [src.const(t) for t in expr.transforms]
    lines = list(head)
    many = expr.many or every
    if not many and type(ref) is ValueRef:
        loop, ind = _loops(expr, "s", src, "    ")
        lines += loop
        e, c = ref.element, ref.component
        lines += [
            f"{ind}els = s.elements",
            f"{ind}if len(els) > {e}:",
            f"{ind}    el = els[{e}]",
            f"{ind}    if len(el) > {c} and el[{c}]:",
            f"{ind}        v = el[{c}]",
            f"{ind}        pos[w] = SP(segment_position=s.position or None, segment_tag=s.tag, "
            f"element={e + 1}, component={comp or c + 1}, line=s.line)",
        ]
        lines += [f"{ind}        v = {t}(v, s)" for t in transforms]
        lines += [f"{ind}        return v", "    return None"]
    else:
        reader = src.const(ref)
        loop, ind = _loops(expr, "s", src, "    ")
        lines += ["    vals = []", "    first = None", *loop]
        lines += [
            f"{ind}got = {reader}.read(s)",
            f"{ind}if got:",
            f"{ind}    if first is None:",
            f"{ind}        first = s",
            f"{ind}        _, el, cp = got[0]",
            f"{ind}        pos[w] = SP(segment_position=s.position or None, segment_tag=s.tag, "
            f"element=el, component={comp or 'cp'}, line=s.line)",
            f"{ind}    vals.extend([g[0] for g in got])",
        ]
        if not many:
            lines.append(f"{ind}    break")
        lines += ["    if first is None:", "        return None"]
        lines.append(f"    v = vals{'' if many else '[0]'}")
        lines += [f"    v = {t}(v, first)" for t in transforms]
        lines.append("    return v")
    src.emit(lines)
    return fn


def compile_found(expr: Expression, src: _Source) -> str:
    """A function ``(scope, here, root) -> bool``: whether a condition path finds something (a
    group, a segment, or a value if it names an element): the interpreter's ``_found``."""
    fn = src.name("f")
    lines = [f"def {fn}(scope, here, root):"]
    if expr.constant is not None:
        src.emit([*lines, "    return True"])
        return fn
    loop, ind = _loops(expr, "s", src, "    ")
    lines += loop
    if expr.ref is None:
        lines.append(f"{ind}return True")
    elif _ends_in_segment(expr):
        lines.append(f"{ind}if {src.const(expr.ref)}.read(s): return True")
    else:
        lines.append(f"{ind}pass")  # a value of a group: never found (as the interpreter)
    lines.append("    return False")
    src.emit(lines)
    return fn


def _setter(out: str, target: str, value: str, ind: str) -> list[str]:
    """Lines that put ``value`` at dotted ``target`` of dict ``out`` (the interpreter's
    ``_set``): intermediate objects created on demand, ``name[]`` extends a list."""
    parts = target.split(".")
    lines = []
    d = out
    for k, p in enumerate(parts[:-1]):
        nd = f"d{k}"
        lines.append(f"{ind}{nd} = {d}.get({p!r})")
        lines.append(f"{ind}if {nd} is None: {nd} = {d}[{p!r}] = {{}}")
        d = nd
    last = parts[-1]
    if last.endswith("[]"):
        name = last[:-2]
        lines.append(f"{ind}lst = {d}.get({name!r})")
        lines.append(f"{ind}if lst is None: lst = {d}[{name!r}] = []")
        lines.append(f"{ind}if isinstance({value}, list): lst.extend({value})")
        lines.append(f"{ind}else: lst.append({value})")
    else:
        lines.append(f"{ind}{d}[{last!r}] = {value}")
    return lines


def _getter(out: str, target: str) -> str:
    """An expression reading dotted ``target`` of ``out`` (None where missing)."""
    expr = out
    for p in target.removesuffix("[]").split("."):
        expr = f"({expr}.get({p!r}) if isinstance({expr}, dict) else None)"
    return expr


def compile_block(block: Any, src: _Source) -> str:
    """A function ``(scope, here, path, pos, root) -> dict`` for a block: the interpreter's
    ``_apply`` with its fields, objects and lists."""
    fn = src.name("b")
    body: list[str] = [f"def {fn}(scope, here, path, pos, root):", "    out = {}"]
    for target, alternatives in block.fields:
        every = target.endswith("[]")
        body.append(f"    w = path + {target!r}")
        ind = "    "
        for k, (expr, when) in enumerate(alternatives):
            last = k == len(alternatives) - 1
            cond_ind = ind
            if when is not None:
                body.append(f"{ind}if {compile_found(when, src)}(scope, here, root):")
                cond_ind = ind + "    "
            if expr.constant is not None:
                value = compile_value(expr, every, src)
                body += _setter("out", target, value, cond_ind)
                if not last:
                    body.append(f"{cond_ind}w = None")  # done: later alternatives skipped
            else:
                body.append(f"{cond_ind}v = {compile_value(expr, every, src)}"
                            f"(scope, here, w, pos, root)")  # fmt: skip
                body.append(f"{cond_ind}if v is not None and v != []:")
                body += _setter("out", target, "v", cond_ind + "    ")
                if not last:
                    body.append(f"{cond_ind}    w = None")
                body.append(f"{cond_ind}else:")
                body.append(f"{cond_ind}    pos.pop(w, None)")  # read, but converted to nothing
            if not last:
                body.append(f"{ind}if w is not None:")
                ind += "    "
    for target, sub in block.objects:
        items = compile_items(sub, src)
        body.append(f"    items = {items}(scope, here, path + {target + '.'!r}, pos, root, True,"
                    " 0)")  # fmt: skip
        body.append("    if items:")
        body += _setter("out", target, "items[0]", "        ")
    for target, sub in block.lists:
        name = target if target.endswith("[]") else target + "[]"
        items = compile_items(sub, src)
        body.append(f"    already = {_getter('out', name)}")
        body.append("    start = len(already) if isinstance(already, list) else 0")
        body.append(f"    items = {items}(scope, here, path + {target.removesuffix('[]')!r}, pos,"
                    f" root, False, start)")  # fmt: skip
        body.append("    if items:")
        body += _setter("out", name, "items", "        ")
    body.append("    return out")
    src.emit(body)
    return fn


def compile_items(block: Any, src: _Source) -> str:
    """A function ``(scope, here, path, pos, root, first_only, start) -> list[dict]``: the
    interpreter's ``_build`` and ``_items`` for an object or list block."""
    apply = compile_block(block, src)
    fn = src.name("i")
    required = src.const(tuple(block.required))
    lines = [f"def {fn}(scope, here, path, pos, root, first_only, start):"]
    if block.when is not None:
        lines.append(f"    if not {compile_found(block.when, src)}(scope, here, root): return []")
    # one item: evaluated the same way whatever the source of its scope
    item = [
        "        sub = path if first_only else f'{path}[{start + len(out)}].'",
        f"        item = {apply}(inst, seg, sub, pos, root)",
        f"        if item and all(n in item for n in {required}):",
        "            out.append(item)",
        "            if first_only: break",
        "        elif item:",
        "            forget(pos, sub)",
    ]
    if not block.sources:
        lines += ["    out = []", "    for inst, seg in ((scope, here),):", *item, "    return out"]
        src.emit(lines)
        return fn
    for source in block.sources:
        lines.append("    matches = []")
        loop, ind = _loops(source, "m", src, "    ")
        lines += loop
        if _ends_in_segment(source):
            if block.repeat is not None:
                lines.append(f"{ind}matches.extend([(scope, o) for o in occurrences(m, "
                             f"{block.repeat})])")  # fmt: skip
            else:
                lines.append(f"{ind}matches.append((scope, m))")
        else:
            lines.append(f"{ind}matches.append((m, None))")
        lines += ["    out = []", "    for inst, seg in matches:", *item, "    if out:",
                  "        return out"]  # fmt: skip
    lines.append("    return []")
    src.emit(lines)
    return fn


def compile_mapping(root: Any, label: str) -> BlockFn:
    """Generate and load the functions for a mapping's root block; returns the root's."""
    src = _Source()
    entry = compile_block(root, src)
    text = "\n".join(src.lines)
    filename = f"<mapping {label} #{next(_counter)}>"
    # keep the source for tracebacks, profilers and debuggers
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = dict(src.consts)
    exec(compile(text, filename, "exec"), namespace)
    fn: BlockFn = namespace[entry]
    fn.__source__ = text  # type: ignore[attr-defined]
    return fn
