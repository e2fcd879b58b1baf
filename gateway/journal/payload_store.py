"""Payload store for large submissions: one file per payload, durable before it is referenced.

Written to a temporary name, fsynced, renamed into place, then the directory fsynced: after a
crash a referenced file is complete, and an unreferenced temporary file is just garbage. Names
are random (never derived from anything a sender controls). Blocking: run in a thread.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

CHUNK = 1 << 20


class PayloadStore:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).resolve()

    def _target(self) -> tuple[Path, Path]:
        name = secrets.token_hex(16)
        sub = self.directory / name[:2]
        sub.mkdir(parents=True, exist_ok=True)
        return sub / f".{name}.tmp", sub / name

    def _seal(self, tmp: Path, final: Path) -> None:
        os.replace(tmp, final)
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_bytes(self, data: bytes) -> tuple[Path, str, int]:
        tmp, final = self._target()
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self._seal(tmp, final)
        return final, hashlib.sha256(data).hexdigest(), len(data)

    def write_file(self, source: str | Path) -> tuple[Path, str, int]:
        """Copy ``source`` in (streaming, hashing as it goes): (path, sha256, size)."""
        tmp, final = self._target()
        digest = hashlib.sha256()
        size = 0
        with open(source, "rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        self._seal(tmp, final)
        return final, digest.hexdigest(), size
