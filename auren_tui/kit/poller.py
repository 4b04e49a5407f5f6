"""A refresh that cannot pile up: the one polling loop of the live screens.

The next refresh is armed only when the last one *landed* (its worker ended:
its result message was handled just before), so refreshes never overlap
however slow the server is. A refresh due while the screen is hidden is
skipped; the screen showing again refreshes at once (``shown``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.timer import Timer
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from auren_tui.kit.live_screen import LiveScreen

ENDED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


class Poller:
    """Calls ``refresh`` every ``seconds`` once started. ``refresh`` starts a
    worker and returns it (None: nothing to refresh, no re-arming). Made by
    ``LiveScreen.poll_every``, which tells it of its workers' ends and of the
    screen showing again."""

    def __init__(
        self, screen: LiveScreen, seconds: float, refresh: Callable[[], Worker[Any] | None]
    ) -> None:
        self.screen = screen
        self.seconds = seconds
        self.refresh = refresh
        self.active = False
        """Started and not stopped: refreshes are re-armed."""
        self.paused = False
        """No re-arming; a refresh asked for (``now``) still runs."""
        self._worker: Worker[Any] | None = None
        self._timer: Timer | None = None

    @property
    def in_flight(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        """Refresh now even if one is in flight (its answer is about to be stale)
        and keep refreshing."""
        self.active = True
        self._cancel_timer()
        self._worker = self.refresh()

    def now(self) -> None:
        """Refresh now, unless one is in flight or the screen is hidden."""
        self._cancel_timer()
        if not self.active or self.in_flight or not self.screen.in_view:
            return  # hidden: ``shown`` refreshes when the screen is back
        self._worker = self.refresh()

    def stop(self) -> None:
        """No more refreshes (one in flight still lands)."""
        self.active = False
        self._cancel_timer()

    def pause(self, paused: bool) -> None:
        self.paused = paused
        if paused:
            self._cancel_timer()
        else:
            self.now()

    def shown(self) -> None:
        """The screen is on top again: refresh if nothing is in flight or armed."""
        if self.active and not self.in_flight and self._timer is None:
            self.now()

    def worker_changed(self, worker: Worker[Any], state: WorkerState) -> None:
        """Re-arm when the last refresh's worker ended (an older one's end is ignored)."""
        if worker is not self._worker or state not in ENDED:
            return
        self._worker = None
        self._cancel_timer()
        if self.active and not self.paused:
            self._timer = self.screen.set_timer(self.seconds, self.now)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
