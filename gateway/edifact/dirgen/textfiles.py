"""Reading the UNECE directory text files and finding the chapter files in a directory folder.

The files are CRLF text in a single-byte code page: code page 437 in the directories drawn with
box characters (D.95B to D.01B), Windows-1252/Latin-1 in the others (D.03B, D.04B, D.13B).
A few cp437 files also carry Windows-1252 punctuation (0x92) or Latin-1 letters (0xF1) in their
prose; in all of them the only bytes 0xB3-0xDA are box-drawing characters, so a file with box
drawing is decoded with cp437 for those bytes and Windows-1252 for every other byte.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "SEPARATOR_RE",
    "decode",
    "find_chapter",
    "find_message",
    "read_text",
    "split_blocks",
]

# Box-drawing bytes in code page 437 (0xB3 "│" to 0xDA "┌").
_BOX_FIRST, _BOX_LAST = 0xB3, 0xDA


def _build_table(box: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for byte in range(0x80, 0x100):
        if box and _BOX_FIRST <= byte <= _BOX_LAST:
            char = bytes([byte]).decode("cp437")
        else:
            char = bytes([byte]).decode("cp1252", errors="replace")
        if char != chr(byte):
            table[byte] = char
    return table


_TABLE_BOX = _build_table(box=True)
_TABLE_PLAIN = _build_table(box=False)


def decode(data: bytes) -> str:
    """Decode one directory file: cp437 box drawing if present, else Windows-1252.

    Carriage returns and DOS end-of-file bytes (0x1A) are removed.
    """
    box = b"\xc4\xc4" in data or b"\xb3" in data
    text = data.decode("latin-1").translate(_TABLE_BOX if box else _TABLE_PLAIN)
    return text.replace("\r", "").replace("\x1a", "")


def read_text(path: Path) -> str:
    return decode(path.read_bytes())


# A separator line between entries: a run of "─" (cp437) or "-" (ASCII), nothing else.
SEPARATOR_RE = re.compile(r"^\s*(?:─{20,}|-{20,})\s*$")


def split_blocks(text: str) -> list[list[str]]:
    """Split a directory chapter into its entries (the text between separator lines).

    The first block (the chapter preamble with the change indicator legend) is included; callers
    recognise entries by their first non-blank line.
    """
    blocks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if SEPARATOR_RE.match(line):
            blocks.append([])
        else:
            blocks[-1].append(line.rstrip())
    return [block for block in blocks if any(line.strip() for line in block)]


_INDEX_RE = re.compile(r"I[12]\.", re.IGNORECASE)


def _walk_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def find_chapter(folder: Path, chapter: str) -> list[Path]:
    """Files of one directory chapter, found case-insensitively.

    ``chapter`` is "SD", "CD", "ED" (batch segment, composite and data element directories, named
    TR*.9xB in the draft directories and ED*.xxx in the standard ones) or "UNCL" / "UNSL".
    Index files (``*I1.*``, ``*I2.*``) and interactive chapters (ID*) are skipped. UNCL may be
    split over two files (``UNCL-1.95B``, ``UNCL-2.95B``); they are returned in order.
    """
    if chapter in ("SD", "CD", "ED"):
        pattern = re.compile(rf"^(?:TR|ED){chapter}\.\d\d[A-Z]$", re.IGNORECASE)
    else:
        pattern = re.compile(rf"^{chapter}(?:-\d)?\.\d\d[A-Z]$", re.IGNORECASE)
    return [
        p for p in _walk_files(folder) if pattern.match(p.name) and not _INDEX_RE.search(p.name)
    ]


def find_message(folder: Path, message: str) -> Path | None:
    """The batch message specification ``<TYPE>_D.<release>`` in the EDMD/TRMD chapter."""
    pattern = re.compile(rf"^{re.escape(message)}_D\.\d\d[A-Z]$", re.IGNORECASE)
    for p in _walk_files(folder):
        if pattern.match(p.name) and p.parent.name.upper() in ("EDMD", "TRMD"):
            return p
    return None
