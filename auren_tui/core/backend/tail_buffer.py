"""The hand-off between a tail's thread and the UI: a locked buffer, taken in one go.

The tail's callbacks only append here (never one UI message per record); the
UI takes everything at its own pace. Each tail opened gets a new generation:
callbacks and handles of a tail that was replaced or closed are ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

from auren_tui.core.backend.live import TailHandle
from auren_tui.core.kafka.consumer import TailStatus
from auren_tui.core.kafka.records import TailRecord


class TailBuffer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        """Records kept at most between two takes (older ones are counted, not kept)."""
        self._lock = threading.Lock()
        self._generation = 0
        self._pending: list[TailRecord] = []
        self._dropped = 0
        self._status: TailStatus | None = None
        self._handle: TailHandle | None = None

    def begin(
        self,
    ) -> tuple[int, Callable[[list[TailRecord]], None], Callable[[TailStatus], None]]:
        """A new generation and the callbacks for its tail (the previous one is ignored)."""
        with self._lock:
            self._generation += 1
            self._pending.clear()
            self._dropped = 0
            self._status = TailStatus("connecting")
            generation = self._generation
        return generation, partial(self._records, generation), partial(self._changed, generation)

    def _records(self, generation: int, records: list[TailRecord]) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._pending.extend(records)
            # Nobody took anything for a while: what is older than a ring is gone anyway.
            excess = len(self._pending) - self.limit
            if excess > 0:
                del self._pending[:excess]
                self._dropped += excess

    def _changed(self, generation: int, status: TailStatus) -> None:
        with self._lock:
            if generation == self._generation:
                self._status = status

    def take(self) -> tuple[list[TailRecord], int, TailStatus | None]:
        """What arrived since the last take: records, how many were dropped, the new status."""
        with self._lock:
            records, self._pending = self._pending, []
            dropped, self._dropped = self._dropped, 0
            status, self._status = self._status, None
        return records, dropped, status

    def adopt(self, generation: int, handle: TailHandle) -> bool:
        """Keep ``handle`` if its generation is still current (else the caller stops it)."""
        with self._lock:
            if generation != self._generation:
                return False
            self._handle = handle
            return True

    @property
    def handle(self) -> TailHandle | None:
        return self._handle

    def release(self) -> TailHandle | None:
        """End the current generation; returns its handle, for the caller to stop."""
        with self._lock:
            self._generation += 1
            handle, self._handle = self._handle, None
        return handle
