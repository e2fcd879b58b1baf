"""Fast acceptance of well-formed segments: one compiled regular expression per segment spec.

The element-by-element checker in :mod:`validator` explains *what* is wrong and where; running it
on every segment costs tens of Python operations per element. Almost every segment of a real
interchange is correct, so each segment definition is compiled once into a pattern that accepts
exactly (or more strictly than) what the checker accepts. A segment that matches, and whose coded
values are in their code lists, has no element problem; anything else goes to the checker, which
finds the precise errors. Being stricter than the checker is safe (it only costs the slow path);
being looser would hide errors, so every construct below errs on the strict side.
"""

from __future__ import annotations

import re

from .directory import ElementSpec, SegmentSpec, ValueSpec


class SegmentPattern:
    """A compiled acceptor for one segment spec under one set of delimiters."""

    __slots__ = ("coded", "regex")

    def __init__(self, regex: re.Pattern[str], coded: list[tuple[int, frozenset[str]]]) -> None:
        self.regex = regex
        self.coded = coded

    def accepts(self, raw: str) -> bool:
        m = self.regex.fullmatch(raw)
        if m is None:
            return False
        for group, codes in self.coded:
            value = m.group(group)
            if value and value not in codes:
                return False
        return True


class _Builder:
    def __init__(self, element: str, component: str, decimal_marks: str) -> None:
        self.e = re.escape(element)
        self.c = re.escape(component)
        # Characters that may never appear inside a value on the fast path.
        self.stop = re.escape(element + component + "'")
        self.marks = "".join(re.escape(m) for m in decimal_marks)
        self.groups = 0
        self.coded: list[tuple[int, frozenset[str]]] = []

    def value(self, v: ValueSpec) -> str:
        """A non-empty value of ``v`` (the caller makes it optional)."""
        lo, hi = max(v.min, 1), v.max
        if v.type == "n":
            ends = f"(?=[{self.e}{self.c}]|$)"
            # integers: lo..hi digits; decimals: digits on both sides of one mark, lo..hi digits
            pat = (
                f"-?(?:[0-9]{{{lo},{hi}}}{ends}"
                f"|(?=[0-9{self.marks}]{{{lo + 1},{hi + 1}}}{ends})[0-9]+[{self.marks}][0-9]+)"
            )
        elif v.type == "a":
            pat = f"[^0-9{self.stop}]{{{lo},{hi}}}"
        else:
            pat = f"[^{self.stop}]{{{lo},{hi}}}"
        if v.codes is not None:
            self.groups += 1
            self.coded.append((self.groups, v.codes))
            return f"({pat})"
        return pat

    def element(self, es: ElementSpec) -> str:
        if es.components is None:
            assert es.value is not None
            v = self.value(es.value)
            return v if es.mandatory else f"(?:{v})?"
        comps = es.components
        # Build from the last component: trailing components may be omitted.
        rest = ""
        for i in range(len(comps) - 1, -1, -1):
            cs = comps[i]
            v = self.value(cs)
            body = v if cs.mandatory else f"(?:{v})?"
            later_mandatory = any(c.mandatory for c in comps[i:])
            if i == 0:
                rest = body + rest
            else:
                rest = f"(?:{self.c}{body}{rest})" + ("" if later_mandatory else "?")
        if es.mandatory:
            # present means at least one non-empty component (the checker's rule)
            return f"(?=[{self.c}]*[^{self.stop}]){rest}"
        # A conditional composite may be left out entirely (empty element).
        return f"(?:{rest})?"


_CACHE: dict[tuple[int, str, str, str], SegmentPattern] = {}


def segment_pattern(
    spec: SegmentSpec, element: str, component: str, decimal_marks: str
) -> SegmentPattern:
    key = (id(spec), element, component, decimal_marks)
    pat = _CACHE.get(key)
    if pat is None:
        b = _Builder(element, component, decimal_marks)
        rest = ""
        elements = spec.elements
        for i in range(len(elements) - 1, -1, -1):
            body = b.element(elements[i])
            later_mandatory = any(es.mandatory for es in elements[i:])
            rest = f"(?:{b.e}{body}{rest})" + ("" if later_mandatory else "?")
        # Groups were numbered in construction order (last element first): renumber by
        # compiling with named positions is not needed; map construction order to regex order.
        regex = re.compile(re.escape(spec.tag) + rest, re.DOTALL)
        pat = SegmentPattern(regex, _regex_order(b.coded, b.groups))
        _CACHE[key] = pat
        # Keep the spec alive while its id is a cache key.
        _SPECS[key] = spec
    return pat


_SPECS: dict[tuple[int, str, str, str], SegmentSpec] = {}


def _regex_order(
    coded: list[tuple[int, frozenset[str]]], total: int
) -> list[tuple[int, frozenset[str]]]:
    """Capturing groups are numbered by their opening parenthesis, left to right. The builder
    visits elements last-to-first and, within a composite, components last-to-first, so the
    k-th group created is the (total - k + 1)-th in the pattern."""
    return [(total - g + 1, codes) for g, codes in coded]
