"""A backend's past: its refreshes recorded, stepped through and plotted.

Both backends keep one :class:`Recording`. The live backend records every
dashboard refresh into the profile's flight recorder (``core/history/store.py``)
and builds the History screen's charts from Prometheus through the
connection when the profile has one; a replay records into the recorder it
is given (snapshot tests fill one at a fixed clock).

Recording never breaks a refresh: a store that cannot be written (disk full,
a read-only home) is logged once and the refresh goes on unrecorded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from auren_tui.core.health.checks import describe_error
from auren_tui.core.history.build import NO_PROMETHEUS, RECORDING, build_history
from auren_tui.core.history.model import History
from auren_tui.core.history.store import FlightRecorder
from auren_tui.core.model import Snapshot

log = logging.getLogger(__name__)

POINTS = 600
"""At most this many recorded refreshes per chart (more than a terminal's columns)."""

Prometheus = Callable[[], tuple[str, int] | None]
"""Where the profile's Prometheus is reached from here (a tunnel's end), or None."""


class Recording:
    """The flight recorder of one backend, and the History screen's data."""

    def __init__(
        self,
        recorder: FlightRecorder | None,
        profile: str,
        audit_path: Path | None,
        *,
        prometheus: Prometheus = lambda: None,
        bridge_selector: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recorder = recorder
        self.profile = profile
        self.audit_path = audit_path
        self.prometheus = prometheus
        self.bridge_selector = bridge_selector
        self.clock = clock
        self._failed = False
        self._lock = threading.Lock()

    def record(self, snapshot: Snapshot) -> None:
        """Append one refresh; a failure is logged once and otherwise ignored."""
        recorder = self.recorder
        if recorder is None:
            return
        try:
            recorder.append(snapshot)
        except Exception as exc:
            with self._lock:
                first, self._failed = not self._failed, True
            if first:
                log.warning("flight recorder %s: not recording: %s", recorder.path, exc)
        else:
            self._failed = False

    def step(self, taken_at: float | None, delta: int) -> Snapshot | None:
        """The refresh ``delta`` steps from ``taken_at``; None past either end or with
        nothing recorded. ``taken_at`` None (nothing shown yet): back is the newest."""
        recorder = self.recorder
        if recorder is None:
            return None
        if taken_at is None:
            return recorder.last() if delta < 0 else None
        return recorder.step(taken_at, delta)

    def first(self) -> Snapshot | None:
        return None if self.recorder is None else self.recorder.first()

    def history(self, window: float) -> History:
        """The charts of the last ``window`` seconds (blocking: range queries)."""
        until = self.clock()
        since = until - window
        # A point per plotted column is plenty: a day at 2 s is 43,200 refreshes to
        # decode, the first of each 1/POINTS of the window is enough.
        every = window / POINTS
        snapshots = (
            [] if self.recorder is None else self.recorder.between(since, until, every=every)
        )
        try:
            address, problem = self.prometheus(), None
        except Exception as exc:  # no route to Prometheus: the recording, said why
            address, problem = None, describe_error(exc)
        history = build_history(
            since=since, until=until, snapshots=snapshots, prometheus=address,
            audit_path=self.audit_path, profile=self.profile,
            bridge_selector=self.bridge_selector,
        )  # fmt: skip
        if problem is None:
            return history
        notes = [n for n in history.notes if n != NO_PROMETHEUS]
        note = f"Prometheus unreachable: {problem}; bridge charts from {RECORDING}"
        return replace(history, notes=(note, *notes))

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
