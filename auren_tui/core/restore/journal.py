"""The restore journal: what an attempt is about to do, written before it does it.

One JSON file per profile and container in the state dir, replaced
atomically. Before each step the attempt records the exact names and ids
the step will create or change (write-ahead), so whoever finds the journal
later — the next run after a ``kill -9``, or the attempt's own rollback —
acts on those and nothing else.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

JOURNAL_VERSION = 2


@dataclass
class Journal:
    """One restore attempt, as far as it got."""

    attempt: str
    """Random id; also the ``auren.restore-attempt`` label of the lock and new container."""
    container: str
    who: str
    pid: int
    host: str
    started: str
    lock_name: str = ""
    lock_id: str = ""
    original_id: str = ""
    """The container that was running under ``container`` (empty: there was none)."""
    failed_name: str = ""
    """What ``original_id`` is (being) renamed to, chosen before the rename."""
    new_id: str = ""
    """The container this attempt created (empty until its id is known)."""
    step: str = "lock"
    """The step this attempt is in (its state says whether it is done)."""
    state: str = "running"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        data = {"version": JOURNAL_VERSION, **asdict(self)}
        with tmp.open("w", encoding="utf-8") as f:
            f.write(json.dumps(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Journal | None:
        """The journal at ``path``; None when there is none. A file this version
        cannot read is ``JournalUnreadable`` (never silently ignored)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JournalUnreadable(f"{path}: {exc.strerror}") from None
        try:
            data: Any = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != JOURNAL_VERSION:
                raise ValueError("not a version 2 restore journal")
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError) as exc:
            raise JournalUnreadable(f"{path}: {exc}") from None

    def describe(self) -> str:
        return (
            f"attempt {self.attempt} by {self.who} (pid {self.pid} on {self.host}, "
            f"since {self.started}), stopped in step {self.step!r} ({self.state})"
        )


class JournalUnreadable(Exception):
    """A journal file that exists but cannot be read (one line naming it)."""
