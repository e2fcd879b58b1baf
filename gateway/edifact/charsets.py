"""UN/EDIFACT syntax identifiers (data element 0001) and the character repertoires they declare.

The repertoire decides two things: how the bytes of an interchange decode to text, and which
characters the validator accepts (ISO 9735 error 21 "invalid character(s)" otherwise).
Texts follow the service code list (UNSL 0001) of syntax version 4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Level A character set, ISO 9735 clause 5.1 (UNTDID D422): upper case letters, digits, space
# and . , - ( ) / = ' + : ? ! " % & * ; < >  (level B, clause 5.2, adds lower case letters).
_LEVEL_A = "A-Z0-9 !\"%&'()*+,\\-./:;<=>?"
_LOWER = "a-z"
# Information separators IS4..IS1: level B default terminator and separators.
_IS_SEPARATORS = "\x1c\x1d\x1e\x1f"
# C0/C1 controls and DEL are never data in 8-bit sets; U+FFFD marks undecodable bytes.
_CONTROLS = "\x00-\x1f\x7f-\x9f\ufffd"


@dataclass(frozen=True, slots=True)
class Repertoire:
    """One character repertoire: its Python codec and a pattern finding characters it forbids."""

    identifier: str
    codec: str
    #: regex character-class body: either the only characters allowed, or the ones forbidden
    allowed: str | None
    forbidden: str | None
    description: str

    def invalid_pattern(self, delimiters: str) -> re.Pattern[str]:
        """A pattern matching any character of segment text (delimiters included) not allowed."""
        extra = "".join(re.escape(c) for c in sorted(set(delimiters)))
        if self.allowed is not None:
            return re.compile(f"[^{self.allowed}{extra}]")
        if extra:
            return re.compile(f"(?![{extra}])[{self.forbidden}]")
        return re.compile(f"[{self.forbidden}]")


def _allow_only(chars: str) -> tuple[str, None]:
    return (chars, None)


def _forbid(chars: str) -> tuple[None, str]:
    return (None, chars)


# UNOA/UNOB are decoded as Latin-1 so that a stray 8-bit byte decodes to *something* the
# validator can point at (error 21) instead of failing the whole interchange.
REPERTOIRES: dict[str, Repertoire] = {
    r.identifier: r
    for r in (
        Repertoire(
            "UNOA",
            "latin-1",
            *_allow_only(_LEVEL_A + _IS_SEPARATORS),
            "ISO 9735 level A",
        ),
        Repertoire(
            "UNOB",
            "latin-1",
            *_allow_only(_LEVEL_A + _LOWER + _IS_SEPARATORS),
            "ISO 9735 level B",
        ),
        Repertoire("UNOC", "latin-1", *_forbid(_CONTROLS), "ISO/IEC 8859-1 Latin-1"),
        Repertoire("UNOD", "iso8859-2", *_forbid(_CONTROLS), "ISO/IEC 8859-2 Latin-2"),
        Repertoire("UNOE", "iso8859-5", *_forbid(_CONTROLS), "ISO/IEC 8859-5 Latin/Cyrillic"),
        Repertoire("UNOF", "iso8859-7", *_forbid(_CONTROLS), "ISO 8859-7 Latin/Greek"),
        Repertoire("UNOG", "iso8859-3", *_forbid(_CONTROLS), "ISO/IEC 8859-3 Latin-3"),
        Repertoire("UNOH", "iso8859-4", *_forbid(_CONTROLS), "ISO/IEC 8859-4 Latin-4"),
        Repertoire("UNOI", "iso8859-6", *_forbid(_CONTROLS), "ISO/IEC 8859-6 Latin/Arabic"),
        Repertoire("UNOJ", "iso8859-8", *_forbid(_CONTROLS), "ISO/IEC 8859-8 Latin/Hebrew"),
        Repertoire("UNOK", "iso8859-9", *_forbid(_CONTROLS), "ISO/IEC 8859-9 Latin-5"),
        Repertoire("UNOL", "iso8859-15", *_forbid(_CONTROLS), "ISO/IEC 8859-15 Latin-9"),
        Repertoire("UNOW", "utf-8", *_forbid(_CONTROLS), "ISO 10646-1 in UTF-8"),
        # Level Y is ISO 10646-1 "without code extension technique"; in practice (and in every
        # product we know of) it is transmitted as UTF-8.
        Repertoire("UNOY", "utf-8", *_forbid(_CONTROLS), "ISO 10646-1 octet (UTF-8)"),
    )
}

# Before UNB is read, and for interchanges declaring an unknown identifier, bytes are decoded
# as Latin-1 (every byte maps to one character, so offsets stay meaningful).
FALLBACK = Repertoire("", "latin-1", *_forbid("\x00-\x08\x0b\x0c\x0e-\x1b\x7f"), "unknown")


def repertoire_for(identifier: str) -> Repertoire | None:
    """The repertoire for a syntax identifier such as ``UNOC``; None when unknown/unsupported."""
    return REPERTOIRES.get(identifier.upper()) if identifier else None
