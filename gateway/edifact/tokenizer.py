"""Streaming UN/EDIFACT tokenizer.

Bytes go in by chunks (``feed``/``close``); segments come out with their positions: interchange,
group, message and segment indices, byte offset and line. Memory is bounded by the longest
segment still incomplete in the buffer (plus one chunk), never by the file.

Handled: UNA (explicit, or the defaults of ISO 9735, including level B's information separators),
release character, repetition separator (syntax version 4), UTF-8 BOM, CR/LF/tab between
segments, several interchanges in one stream (each with its own UNA and character set), UNG/UNE
groups and bare messages without an interchange envelope.

Nothing here judges validity beyond what is needed to cut the stream into segments: the
validator does that from the positions recorded here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from .charsets import FALLBACK, Repertoire, repertoire_for

UTF8_BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_SEGMENT_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Delimiters:
    """Service characters of one interchange (ISO 9735 UNA positions 1-6)."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str | None = None
    segment: str = "'"

    def as_una(self) -> str:
        return "UNA" + "".join(
            (
                self.component,
                self.element,
                self.decimal,
                self.release or " ",
                self.repetition or " ",
                self.segment,
            )
        )

    def chars(self) -> str:
        return "".join(
            c
            for c in (self.component, self.element, self.release, self.repetition, self.segment)
            if c
        )


DEFAULT_DELIMITERS = Delimiters()
# Level B default (ISO 9735: IS1 component, IS3 data element, IS4 segment terminator, no release).
LEVEL_B_DELIMITERS = Delimiters("\x1f", "\x1d", ".", None, None, "\x1c")


@dataclass(frozen=True, slots=True)
class Envelope:
    """How one interchange is written: its service characters and UNA, and where it starts."""

    delimiters: Delimiters
    una: str | None
    offset: int
    line: int


class TokenizerError(Exception):
    """The stream cannot be cut into segments any further (e.g. a segment longer than allowed)."""

    def __init__(self, code: str, text: str, offset: int, line: int) -> None:
        super().__init__(f"{text} (byte {offset}, line {line})")
        self.code = code
        self.text = text
        self.offset = offset
        self.line = line


class Segment:
    """One segment with its data and where it was found.

    ``elements[i]`` is the list of components of data element ``i + 1`` (its first occurrence);
    an element is never an empty list (an empty element is ``[""]``). ``repeats`` maps an element
    index to all its occurrences when the repetition separator was used (syntax version 4).

    Components are split on first access: cutting a stream into segments and elements is the
    hot path, and a consumer that only routes or counts never pays for the components.
    """

    __slots__ = (
        "_comp",
        "_elements",
        "_raw_elements",
        "group",
        "interchange",
        "line",
        "message",
        "number",
        "offset",
        "position",
        "raw",
        "repeats",
        "tag",
    )

    def __init__(
        self,
        tag: str,
        elements: list[list[str]] | None,
        raw: str,
        offset: int,
        line: int,
        number: int,
        raw_elements: list[str] | None = None,
        component_separator: str = ":",
        interchange: int = 0,
        group: int = 0,
        message: int = 0,
        position: int = 0,
    ) -> None:
        self.tag = tag
        self._elements = elements
        #: the segment cut at data element separators, tag included (index 0)
        self._raw_elements = raw_elements
        self._comp = component_separator
        self.raw = raw
        self.offset = offset
        self.line = line
        self.number = number
        self.repeats: dict[int, list[list[str]]] | None = None
        self.interchange = interchange
        self.group = group
        self.message = message
        self.position = position

    @property
    def elements(self) -> list[list[str]]:
        els = self._elements
        if els is None:
            comp = self._comp
            els = self._elements = [e.split(comp) for e in (self._raw_elements or ["", ""])[1:]]
        return els

    @elements.setter
    def elements(self, value: list[list[str]]) -> None:
        self._elements = value

    def value(self, element: int, component: int = 1) -> str:
        """1-based access; missing positions read as the empty string."""
        try:
            return self.elements[element - 1][component - 1]
        except IndexError:
            return ""

    def __len__(self) -> int:
        """Number of data elements."""
        raw = self._raw_elements
        return len(raw) - 1 if raw is not None else len(self.elements)

    def __repr__(self) -> str:
        return f"<Segment {self.tag} #{self.number} line {self.line} {self.elements!r}>"


def _has_any(text: str, chars: str) -> bool:
    return any(c in text for c in chars) if len(chars) > 1 else chars in text


_UNESCAPE_CACHE: dict[str, re.Pattern[str]] = {}


def _unescape(value: str, release: str) -> str:
    pattern = _UNESCAPE_CACHE.get(release)
    if pattern is None:
        pattern = _UNESCAPE_CACHE[release] = re.compile(re.escape(release) + "(.)", re.DOTALL)
    return pattern.sub(r"\1", value)


def _split_released(text: str, sep: str, release: str) -> list[str]:
    """Split on ``sep`` except where it is escaped by an odd run of release characters."""
    parts = text.split(sep)
    out: list[str] = []
    pending: str | None = None
    for part in parts:
        piece = part if pending is None else pending + sep + part
        run = len(piece) - len(piece.rstrip(release))
        if run % 2:
            pending = piece
        else:
            out.append(piece)
            pending = None
    if pending is not None:
        # A trailing release character escapes nothing; keep the text as it is.
        out.append(pending)
    return out


class Tokenizer:
    """Cut a byte stream into :class:`Segment` objects.

    Usage::

        tok = Tokenizer()
        for chunk in chunks:
            for seg in tok.feed(chunk):
                ...
        for seg in tok.close():
            ...
    """

    def __init__(self, max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES) -> None:
        self.max_segment_bytes = max_segment_bytes
        self._buf = b""
        self._pos = 0  # read position in _buf
        self._base = 0  # byte offset of _buf[0] in the stream
        self._line = 1  # line number at _buf[0]
        self._expect_header = True
        self._first = True
        self.delimiters = DEFAULT_DELIMITERS
        self.una_explicit = False
        self.una_text: str | None = None
        self.repertoire: Repertoire = FALLBACK
        self.syntax_identifier = ""
        self.syntax_version = ""
        self._number = 0
        self._interchange = 0
        self._group = 0
        self._message = 0
        self._position = 0
        #: (offset, line) of a last segment that had no terminator
        self.unterminated: tuple[int, int] | None = None
        self._strip = b"\r\n\t "
        self._term = b"'"
        self._single_byte = True
        self._strip_str = "\r\n\t "
        #: set when the stream cannot be cut further; raised by the next feed/close
        self.error: TokenizerError | None = None
        self._una_at: tuple[int, int] | None = None
        #: service characters and UNA of each interchange, by index, recorded at its UNB: the
        #: consumer takes them (pop) when it reaches that UNB, as the tokenizer may be ahead.
        self.envelopes: dict[int, Envelope] = {}

    # -- public API -------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Segment]:
        """Add bytes; return the segments completed by them.

        A :class:`TokenizerError` is raised after the segments before the offending one have
        been returned: by this call when nothing precedes it, else by the next call.
        """
        if self.error is not None:
            raise self.error
        if data:
            if self._pos:
                self._buf = self._buf[self._pos :]
                self._pos = 0
            self._buf = self._buf + data if self._buf else bytes(data)
        return self._drain(final=False)

    def close(self) -> list[Segment]:
        """End of data: return the last segments (an unterminated one included)."""
        if self.error is not None:
            raise self.error
        return self._drain(final=True)

    def tokenize(self, chunks: Iterable[bytes]) -> Iterator[Segment]:
        for chunk in chunks:
            yield from self.feed(chunk)
        yield from self.close()

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet cut into a segment (non-whitespace means truncated)."""
        return len(self._buf[self._pos :].strip(self._strip))

    @property
    def offset(self) -> int:
        return self._base

    @property
    def line(self) -> int:
        return self._line

    # -- internals --------------------------------------------------------------------------

    def _consume(self, n: int) -> None:
        pos = self._pos
        self._line += self._buf.count(b"\n", pos, pos + n)
        self._pos = pos + n
        self._base += n

    def _read_header(self, final: bool) -> bool:
        """Skip BOM/whitespace and read an optional UNA. False when more bytes are needed."""
        buf = self._buf[self._pos :]
        if self._first and buf.startswith(UTF8_BOM):
            self._consume(3)
            buf = buf[3:]
        elif self._first and len(buf) < 3 and UTF8_BOM.startswith(buf) and buf and not final:
            return False
        stripped = len(buf) - len(buf.lstrip(b"\r\n\t \x00\x1a"))
        if stripped:
            self._consume(stripped)
            buf = buf[stripped:]
        if not buf:
            return False
        if len(buf) < 9 and not final and b"UNA".startswith(buf[:3]):
            return False
        self._first = False
        self.syntax_identifier = ""
        self.syntax_version = ""
        if buf.startswith(b"UNA") and len(buf) >= 9:
            chars = buf[3:9].decode("latin-1")
            self._una_at = (self._base, self._line)
            self.una_text = "UNA" + chars
            self.una_explicit = True
            self.delimiters = Delimiters(
                component=chars[0],
                element=chars[1],
                decimal=chars[2],
                release=None if chars[3] == " " else chars[3],
                repetition=None if chars[4] == " " else chars[4],
                segment=chars[5],
            )
            self._consume(9)
        else:
            self.una_text = None
            self.una_explicit = False
            self._una_at = None
            # Without UNA, level B interchanges may use the information separators.
            if buf.startswith(b"UNB\x1d"):
                self.delimiters = LEVEL_B_DELIMITERS
            else:
                self.delimiters = DEFAULT_DELIMITERS
        self._set_delimiters(self.delimiters)
        self.repertoire = FALLBACK
        self._single_byte = True
        self._expect_header = False
        return True

    def _set_delimiters(self, d: Delimiters) -> None:
        self.delimiters = d
        self._term = d.segment.encode("latin-1")
        self._release_b = d.release.encode("latin-1") if d.release else None
        strip = b"\r\n\t "
        for c in d.chars():
            strip = strip.replace(c.encode("latin-1"), b"")
        self._strip = strip
        self._strip_str = strip.decode("latin-1")

    def _drain(self, final: bool) -> list[Segment]:
        out: list[Segment] = []
        try:
            while True:
                if self._expect_header and not self._read_header(final):
                    return out
                buf = self._buf
                start = self._pos
                term = self._term
                release = self._release_b
                last = buf.rfind(term, start)
                if (
                    last > start
                    and (release is None or release + term not in buf[start : last + 1])
                    and (self._single_byte or buf[start:last].isascii())
                ):
                    self._batch(start, last, out)
                    continue
                end = buf.find(term, start)
                if release is not None:
                    while end > start and buf[end - 1 : end] == release:
                        run = 1
                        while end - run - 1 >= start and buf[end - run - 1 : end - run] == release:
                            run += 1
                        if run % 2 == 0:
                            break
                        end = buf.find(term, end + 1)
                if end < 0:
                    if len(buf) - start > self.max_segment_bytes:
                        raise TokenizerError(
                            "39",
                            f"segment longer than {self.max_segment_bytes} bytes or terminator "
                            f"{self.delimiters.segment!r} missing",
                            self._base,
                            self._line,
                        )
                    if final and buf[start:].strip(self._strip):
                        # Unterminated last segment: hand it out so the validator can report it.
                        self.unterminated = (self._base, self._line)
                        self._emit(buf[start:], False, out)
                    return out
                if end - start > self.max_segment_bytes:
                    raise TokenizerError(
                        "39",
                        f"segment longer than {self.max_segment_bytes} bytes",
                        self._base,
                        self._line,
                    )
                self._emit(buf[start:end], True, out)
        except TokenizerError as exc:
            self.error = exc
            if not out:
                raise
            return out
        finally:
            if self._pos:
                self._buf = self._buf[self._pos :]
                self._pos = 0

    def _batch_clean(self, text: str, out: list[Segment]) -> None:
        """Cut ``text`` (complete segments, last terminator excluded): a segment without
        release or repetition characters is one split; others, and service segments, take the
        general path one by one. Stops early after UNB/UNZ, whose processing changes the
        character set or the delimiters for what follows."""
        d = self.delimiters
        elem, comp = d.element, d.component
        special = "".join(c for c in (d.release, d.repetition) if c and c in text)
        limit = self.max_segment_bytes
        strip = self._strip_str
        offset = self._base
        line = self._line
        pos0 = self._pos - offset
        number = self._number
        ic, grp, msg, position = self._interchange, self._group, self._message, self._position
        append = out.append
        newlines = "\n" in text
        try:
            for part in text.split(d.segment):
                raw = part.lstrip(strip) if strip else part
                if len(raw) != len(part):
                    lead = len(part) - len(raw)
                    if newlines:
                        line += part.count("\n", 0, lead)
                    offset += lead
                if not raw:
                    offset += 1
                    continue
                if len(raw) > limit:
                    raise TokenizerError(
                        "39", f"segment longer than {limit} bytes", offset, line
                    )
                number += 1
                els = raw.split(elem)
                tag = els[0]
                if tag[:2] == "UN" or comp in tag or (special and _has_any(raw, special)):
                    # Service segment, composite tag, escapes or repetitions: general path.
                    self._interchange, self._group = ic, grp
                    self._message, self._position = msg, position
                    self._number = number - 1
                    self._base, self._line = offset, line
                    self._pos = offset + pos0
                    self._batch_one(raw, out)
                    ic, grp, msg, position = (self._interchange, self._group, self._message,
                                              self._position)  # fmt: skip
                    number, offset, line = self._number, self._base, self._line
                    if self._expect_header or tag == "UNB":
                        return  # the delimiters or the character set may change now
                    continue
                if position:
                    position += 1
                append(Segment(tag, None, raw, offset, line, number, els, comp, ic, grp, msg,
                               position))  # fmt: skip
                if newlines and "\n" in raw:
                    line += raw.count("\n")
                offset += len(raw) + 1
        finally:
            self._number = number
            self._interchange, self._group = ic, grp
            self._message, self._position = msg, position
            self._pos = offset + pos0
            self._base = offset
            self._line = line

    def _batch_one(self, raw: str, out: list[Segment]) -> None:
        """One segment of a batch through the general path (positions, UNB/UNZ state)."""
        offset, line = self._base, self._line
        self._segment(raw, None, offset, line, out)
        self._line = line + raw.count("\n")
        consumed = len(raw) + 1
        self._base += consumed
        self._pos += consumed

    def _segment(self, text: str, raw_b: bytes | None, offset: int, line: int,
                 out: list[Segment]) -> None:  # fmt: skip
        """Parse one segment, keep the counters, and apply what UNB/UNZ change."""
        seg = self._parse(text, offset, line)
        self._number += 1
        seg.number = self._number
        self._locate(seg)
        if seg.tag == "UNB" and self.repertoire.codec != "latin-1":
            # UNB was cut before its character set was known (as Latin-1): decode it again.
            data = raw_b if raw_b is not None else text.encode("latin-1")
            again = self._parse(data.decode(self.repertoire.codec, "replace"), offset, line)
            seg.elements, seg.raw, seg.repeats = again.elements, again.raw, again.repeats
        out.append(seg)
        if seg.tag == "UNZ":
            self._expect_header = True
            self._set_delimiters(DEFAULT_DELIMITERS)
            self.repertoire = FALLBACK
            self._single_byte = True

    def _batch(self, start: int, last: int, out: list[Segment]) -> None:
        """Fast path: cut every complete segment in ``buf[start:last+1]`` at once.

        Only used where no terminator is escaped and characters are one byte each (or the
        region is ASCII), so that string lengths are byte lengths.
        """
        self._batch_clean(self._buf[start:last].decode(self.repertoire.codec, "replace"), out)

    def _emit(self, raw_b: bytes, terminated: bool, out: list[Segment]) -> None:
        size = len(raw_b)
        lead = size - len(raw_b.lstrip(self._strip))
        if lead:
            self._consume(lead)
            raw_b = raw_b[lead:]
            size -= lead
        offset = self._base
        line = self._line
        self._consume(size + (1 if terminated else 0))
        if not raw_b:
            # An empty segment (two terminators in a row) carries nothing; skip it.
            return
        self._segment(raw_b.decode(self.repertoire.codec, "replace"), raw_b, offset, line, out)

    def _parse(self, text: str, offset: int, line: int) -> Segment:
        d = self.delimiters
        release = d.release
        if release and release in text:
            raw_elements = _split_released(text, d.element, release)
            elements = [
                [
                    _unescape(c, release) if release in c else c
                    for c in _split_released(e, d.component, release)
                ]
                if release in e
                else e.split(d.component)
                for e in raw_elements
            ]
        else:
            raw_elements = text.split(d.element)
            elements = [e.split(d.component) for e in raw_elements]
        head = elements.pop(0)
        seg = Segment(head[0], elements, text, offset, line, 0)
        rep = d.repetition
        if rep and rep in text and seg.tag != "UNB":
            self._split_repeats(seg, raw_elements[1:], rep, release)
        return seg

    def _split_repeats(
        self, seg: Segment, raw_elements: list[str], rep: str, release: str | None
    ) -> None:
        comp = self.delimiters.component
        repeats: dict[int, list[list[str]]] = {}
        for i, raw in enumerate(raw_elements):
            if rep not in raw:
                continue
            occ = _split_released(raw, rep, release) if release else raw.split(rep)
            if len(occ) < 2:
                continue
            parsed = [
                [_unescape(c, release) if release and release in c else c for c in comps]
                for comps in (
                    _split_released(o, comp, release) if release else o.split(comp) for o in occ
                )
            ]
            repeats[i] = parsed
            seg.elements[i] = parsed[0]
        if repeats:
            seg.repeats = repeats

    def _locate(self, seg: Segment) -> None:
        tag = seg.tag
        if tag == "UNB":
            self._interchange += 1
            self._group = 0
            self._message = 0
            self._position = 0
            self._on_unb(seg)
        elif tag == "UNG":
            self._group += 1
        elif tag == "UNH":
            self._message += 1
            self._position = 0
        seg.interchange = self._interchange
        seg.group = self._group
        seg.message = self._message
        if self._message and (self._position or tag == "UNH"):
            self._position += 1
            seg.position = self._position
            if tag == "UNT":
                self._position = 0

    def _on_unb(self, seg: Segment) -> None:
        """Switch to the interchange's character set and (syntax 4) default repetition mark."""
        ident = seg.value(1, 1)
        self.syntax_identifier = ident
        self.syntax_version = seg.value(1, 2)
        rep = repertoire_for(ident)
        self.repertoire = rep if rep is not None else FALLBACK
        self._single_byte = self.repertoire.codec != "utf-8"
        if self.syntax_version != "4" and self.delimiters.repetition:
            # UNA position 5 is "reserved for future use" before syntax version 4.
            self._set_delimiters(replace(self.delimiters, repetition=None))
        elif not self.una_explicit and self.syntax_version == "4":
            self._set_delimiters(
                Delimiters(
                    self.delimiters.component,
                    self.delimiters.element,
                    self.delimiters.decimal,
                    self.delimiters.release,
                    "*",
                    self.delimiters.segment,
                )
            )
        at = self._una_at if self.una_explicit else None
        self.envelopes[self._interchange] = Envelope(
            self.delimiters, self.una_text if self.una_explicit else None,
            at[0] if at else seg.offset, at[1] if at else seg.line,
        )  # fmt: skip
