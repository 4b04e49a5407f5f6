"""Saving what a screen shows to the data directory, atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path


def save_lines(directory: Path, stem: str, lines: Iterable[str], suffix: str = ".jsonl") -> Path:
    """Write ``lines`` to ``directory/STEM-YYYYmmdd-HHMMSS[-N]SUFFIX``: a temporary file
    renamed into place, so a reader never sees half a file. Returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = directory / f"{stem}-{stamp}{suffix}"
    n = 1
    while target.exists():
        n += 1
        target = directory / f"{stem}-{stamp}-{n}{suffix}"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line)
                out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
