"""The timeline of server changes, read from the audit log, as markers on every chart.

Who writes what (``auren_tui/core/restore`` and ``core/backend/containers.py``):

- a restore attempt writes one line per step (``step``, ``state``, ``attempt``)
  and a closing line (``outcome``: restored, rolled back, failed, recovered;
  ``reason``), all with the attempt's id: one marker per attempt, at its first
  line, saying how it ended ("unfinished" when no closing line was written: the
  process was killed, or the attempt is still running);
- the recovery of an interrupted attempt writes ``recovery`` (the attempt's id)
  and ``outcome="recovered"`` with a ``note``: a marker of kind "recovery". When
  the recovery kept the new container, run() then closes with an attempt-less
  ``outcome="recovered"`` line, which the recovery's marker already tells;
- a container action (start, stop, restart) writes ``action``, ``container``
  and ``outcome`` (done or failed, with a ``reason``);
- breaking a restore lock writes ``action="break-lock"``. Releasing a leftover
  lock of a finished attempt (``release-stale-lock``) changes nothing that ran,
  and is part of the attempt that found it: no marker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auren_tui.core.history.model import Marker

REASON_LIMIT = 120
"""Characters of a failure's reason kept in a marker's one line."""

FINAL_STATES = {"restored": "done", "rolled back": "rolled back", "failed": "failed"}
"""A restore's closing ``outcome`` as a marker says it (AttemptBase._finish's results)."""


@dataclass
class _Attempt:
    """The lines of one restore attempt, as far as they go."""

    at: float
    container: str
    last_step: str = ""
    last_state: str = ""
    outcome: str = ""
    reason: str = ""

    def marker(self) -> Marker:
        if self.outcome:
            state = FINAL_STATES.get(self.outcome, self.outcome)
        elif self.last_step:
            state = f"unfinished (last step {self.last_step}: {self.last_state})"
        else:
            state = "unfinished"
        if self.reason and self.outcome in ("rolled back", "failed"):
            state += f" ({_short(self.reason)})"
        return Marker(self.at, "restore", self.container, f"restore of {self.container}: {state}")


def read_markers(audit_path: Path, profile: str, since: float, until: float) -> tuple[Marker, ...]:
    """The changes ``profile``'s servers saw between ``since`` and ``until``, oldest first.

    A missing log has none; a line that is not a JSON object with a time (cut
    short by a crash, written by hand) is skipped. Other read errors (a
    directory, no permission) raise ``OSError`` for the caller to note.
    """
    try:
        data = audit_path.read_bytes()
    except FileNotFoundError:
        return ()
    markers: list[Marker] = []
    attempts: dict[str, _Attempt] = {}
    for number, line in enumerate(data.splitlines()):
        entry = _entry(line)
        if entry is None or entry.get("profile") != profile:
            continue
        at = _time(entry.get("at"))
        if at is None:
            continue
        subject = str(entry.get("container") or entry.get("service") or "?")
        if "action" in entry:
            marker = _action(at, subject, entry)
            if marker is not None:
                markers.append(marker)
        elif "recovery" in entry:
            note = str(entry.get("note") or entry.get("outcome") or "recovered")
            markers.append(Marker(at, "recovery", subject, f"recovery of {subject}: {note}"))
        elif "step" in entry or "outcome" in entry:
            attempt_id = str(entry.get("attempt") or "")
            if not attempt_id:
                if entry.get("outcome") == "recovered":
                    continue  # closes a recovery that kept the new container: marked already
                attempt_id = f"line {number}"  # an older tool's line: a marker of its own
            attempt = attempts.setdefault(attempt_id, _Attempt(at, subject))
            if "step" in entry:
                attempt.last_step = str(entry["step"])
                attempt.last_state = str(entry.get("state") or "")
            if "outcome" in entry:
                attempt.outcome = str(entry["outcome"])
                attempt.reason = str(entry.get("reason") or "")
    markers += (a.marker() for a in attempts.values())
    return tuple(sorted((m for m in markers if since <= m.at <= until), key=lambda m: m.at))


def _action(at: float, subject: str, entry: dict[str, Any]) -> Marker | None:
    action = str(entry["action"])
    if action == "break-lock":
        holder = entry.get("holder")
        held = f" (held by {holder})" if holder else ""
        return Marker(at, action, subject, f"restore lock of {subject} broken{held}")
    outcome = entry.get("outcome")
    if not outcome:
        return None  # bookkeeping inside an attempt (release-stale-lock), not a change
    text = f"{action} of {subject}: {outcome}"
    if entry.get("reason"):
        text += f" ({_short(str(entry['reason']))})"
    return Marker(at, action, subject, text)


def _entry(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:  # cut short by a crash, or not UTF-8
        return None
    return entry if isinstance(entry, dict) else None


def _time(value: object) -> float | None:
    """An audit line's ``at`` (ISO 8601, UTC) as unix time; naive times are UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1] + "…"
