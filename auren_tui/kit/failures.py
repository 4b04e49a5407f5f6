"""A failed worker as one message, reported by the app in one place.

A worker's ``StateChanged`` does not bubble: the node that ran it turns an
error into a ``WorkerFailed`` (``WorkerFailed.of``; every ``LiveScreen`` does
it for its workers), reacts to it if it wants (``@on(WorkerFailed)``: a status
line, a panel), and the message bubbles on to the app, whose one handler shows
``text`` as a notification (``AurenApp._report``). A node that shows the
failure itself and wants no notification stops the message.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.worker import Worker, WorkerState

from auren_tui.core.format import one_line


@dataclass(eq=False)
class WorkerFailed(Message):
    """A worker of group ``group`` raised ``error``."""

    group: str
    error: BaseException
    title: str = ""
    """The notification's title (what failed), e.g. ``Kafka``."""
    timeout: float = 8.0
    """Seconds the notification stays."""

    @property
    def text(self) -> str:
        """What an operator reads: the error as one line (``core.format.one_line``)."""
        return one_line(self.error)

    @classmethod
    def of(
        cls, event: Worker.StateChanged, title: str = "", timeout: float = 8.0
    ) -> WorkerFailed | None:
        """The failure ``event`` reports; None when it is no failure."""
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            return None
        return cls(event.worker.group, error, title, timeout)
