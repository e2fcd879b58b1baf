"""Writing EDIFACT: segments with escaping, and the interchange envelope around messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .tokenizer import Delimiters

Element = str | Sequence[str]


class SegmentWriter:
    """Collects segments; escapes service characters in values with the release character and
    drops trailing empty components and elements (ISO 9735 truncation)."""

    def __init__(self, delimiters: Delimiters, syntax4: bool) -> None:
        self.d = delimiters
        self.syntax4 = syntax4
        rel = delimiters.release or "?"
        self._specials = {c: rel + c for c in delimiters.chars()}
        self.segments: list[str] = []

    def esc(self, value: str) -> str:
        if any(c in value for c in self._specials):
            return "".join(self._specials.get(c, c) for c in value)
        return value

    def seg(self, tag: str, *elements: Element) -> None:
        parts = [tag]
        for el in elements:
            if isinstance(el, str):
                parts.append(self.esc(el))
            else:
                comps = [self.esc(c) for c in el]
                while comps and comps[-1] == "":
                    comps.pop()
                parts.append(self.d.component.join(comps))
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        self.segments.append(self.d.element.join(parts))

    def unb(self, syntax: tuple[str, str], sender: Sequence[str], recipient: Sequence[str],
            now: datetime, reference: str) -> None:  # fmt: skip
        date = now.strftime("%Y%m%d" if self.syntax4 else "%y%m%d")
        self.seg("UNB", list(syntax), list(sender), list(recipient), [date, now.strftime("%H%M")],
                 reference)  # fmt: skip

    def text(self) -> str:
        """UNA + the segments, each terminated."""
        term = self.d.segment
        return self.d.as_una() + term.join(self.segments) + term
