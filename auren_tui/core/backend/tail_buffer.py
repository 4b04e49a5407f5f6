"""The Tail screen's hand-off from the tail's thread: records and the tail's status.

The tail's callbacks only append here (never one UI message per record); the
UI takes everything at its own pace (see ``core/handoff.py``). Each tail
opened gets a new generation: callbacks and handles of a tail that was
replaced or closed are ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from auren_tui.core.backend.live import TailHandle
from auren_tui.core.handoff import Handoff
from auren_tui.core.kafka.consumer import TailStatus
from auren_tui.core.kafka.records import TailRecord


class TailBuffer(Handoff[TailRecord, TailStatus, TailHandle]):
    def begin(
        self,
    ) -> tuple[int, Callable[[list[TailRecord]], None], Callable[[TailStatus], None]]:
        """A new generation and the callbacks for its tail (the previous one is ignored)."""
        return self.open(TailStatus("connecting"))

    def take(self) -> tuple[list[TailRecord], int, TailStatus | None]:
        """What arrived since the last take: records, how many were dropped, the new status."""
        return self.drain()
