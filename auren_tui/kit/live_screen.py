"""The base of the live screens (Dashboard, Tail, Containers).

It gives each the same `/` and Escape (its ``FilterBox``), its pollers
(``poll_every``: told of their workers' ends and of the screen showing
again), and turns a failed worker into one ``WorkerFailed`` for the app to
report (titled ``ERROR_TITLE``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.screen import ModalScreen, Screen
from textual.worker import Worker

from auren_tui.kit.failures import WorkerFailed
from auren_tui.kit.filter_box import FilterBox
from auren_tui.kit.poller import Poller


class LiveScreen(Screen[None]):
    """A screen of live data. Subclasses list ``OPEN_FILTER`` and ``CLEAR_FILTER``
    (``kit.filter_box``) in their ``BINDINGS`` and compose one ``FilterBox``."""

    ERROR_TITLE: ClassVar[str] = ""
    """The title of the notification a failed worker of this screen gets."""
    ERROR_SECONDS: ClassVar[float] = 8.0
    """How long that notification stays."""

    def __init__(self) -> None:
        super().__init__()
        self.pollers: list[Poller] = []

    @property
    def in_view(self) -> bool:
        """On top, or only under a dialog (which leaves it in view)."""
        top = self.app.screen
        return top is self or (isinstance(top, ModalScreen) and self in self.app.screen_stack)

    def poll_every(self, seconds: float, refresh: Callable[[], Worker[Any] | None]) -> Poller:
        """A ``Poller`` of ``refresh`` (a ``@work`` method), not yet started."""
        poller = Poller(self, seconds, refresh)
        self.pollers.append(poller)
        return poller

    def on_screen_resume(self) -> None:
        for poller in self.pollers:
            poller.shown()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        for poller in self.pollers:
            poller.worker_changed(event.worker, event.state)
        failed = WorkerFailed.of(event, self.ERROR_TITLE, self.ERROR_SECONDS)
        if failed is not None:
            self.post_message(failed)

    def action_filter(self) -> None:
        self.query_one(FilterBox).open()

    def action_clear_filter(self) -> None:
        self.query_one(FilterBox).action_clear()
