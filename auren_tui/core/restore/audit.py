"""The audit log of every change made to a server: JSON lines, flushed line by line."""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def who_am_i() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def now_utc() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """JSON lines, appended and flushed line by line. No secrets go in."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, **entry: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": now_utc().isoformat(timespec="milliseconds"), **entry})
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def tail(self, count: int) -> list[dict[str, Any]]:
        """The last ``count`` entries, oldest first (unreadable lines skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in lines[-count:] if count else lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(entry, dict):
                out.append(entry)
        return out
