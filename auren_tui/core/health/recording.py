"""Record snapshots as JSON lines, and replay them (for snapshot tests and the demo).

One line per :class:`Snapshot`, in the order collected. The format is the
dataclasses as JSON objects, with a version field; ``snapshot_from_json``
rebuilds exactly what ``snapshot_to_json`` was given (tuples stay tuples).
A Snapshot holds no secret (health bodies, container states, figures), so a
recording is safe to share; tests keep it so with a canary secret.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from auren_tui.core.model import (
    BridgeFigures,
    CheckResult,
    ContainerInfo,
    ServiceStatus,
    Snapshot,
)

FORMAT_VERSION = 1


class RecordingError(ValueError):
    """A recording line that is not a snapshot of this format."""


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as JSON-ready data (with the format version)."""
    return {"v": FORMAT_VERSION, **asdict(snapshot)}


def snapshot_to_json(snapshot: Snapshot) -> str:
    """One line of JSON (no newline inside)."""
    return json.dumps(snapshot_to_dict(snapshot), separators=(",", ":"), allow_nan=False)


def snapshot_from_dict(data: dict[str, Any]) -> Snapshot:
    """The inverse of :func:`snapshot_to_dict`."""
    if data.get("v") != FORMAT_VERSION:
        raise RecordingError(f"unsupported recording version {data.get('v')!r}")
    try:
        bridge = data.get("bridge")
        return Snapshot(
            taken_at=float(data["taken_at"]),
            services=tuple(_service(s) for s in data["services"]),
            bridge=BridgeFigures(**bridge) if bridge is not None else None,
            errors=tuple(data.get("errors") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"not a snapshot: {exc}") from None


def snapshot_from_json(text: str) -> Snapshot:
    """The inverse of :func:`snapshot_to_json`."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordingError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RecordingError("not a snapshot: a JSON object was expected")
    return snapshot_from_dict(data)


def _service(data: dict[str, Any]) -> ServiceStatus:
    container = data.get("container")
    check = data.get("check")
    return ServiceStatus(
        name=data["name"],
        title=data["title"],
        container=ContainerInfo(**container) if container is not None else None,
        check=CheckResult(**check) if check is not None else None,
        health=data["health"],
        components=dict(data.get("components") or {}),
    )


class Recorder:
    """Appends each snapshot to ``path`` as one JSON line (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.count = 0

    def record(self, snapshot: Snapshot) -> None:
        line = snapshot_to_json(snapshot) + "\n"
        with self._lock:
            if self._file is None:
                raise RuntimeError(f"recorder for {self.path} is closed")
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Replayer:
    """The snapshots of a recording, in order; ``loop=True`` starts over at the end.

    A malformed line raises :class:`RecordingError` naming the line, except a
    truncated last line (a recorder stopped mid-write), which is skipped.
    """

    def __init__(self, path: Path, loop: bool = False) -> None:
        self.path = Path(path)
        self.loop = loop

    def _once(self) -> Iterator[Snapshot]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield snapshot_from_json(line)
            except RecordingError as exc:
                if number == len(lines):
                    return
                raise RecordingError(f"{self.path}:{number}: {exc}") from None

    def __iter__(self) -> Iterator[Snapshot]:
        while True:
            produced = False
            for snapshot in self._once():
                produced = True
                yield snapshot
            if not (self.loop and produced):
                return
