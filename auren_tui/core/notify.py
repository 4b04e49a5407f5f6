"""Desktop notifications of alerts, through desktop-notifier, never in the caller's way.

The TUI posts from its event loop and a refresh must never wait for a
notification daemon, so :class:`Notifier` hands each alert to one daemon thread
through a small bounded queue (a burst beyond it is dropped: the events panel
has every line) and returns at once. The thread runs desktop-notifier's
coroutines in an event loop of its own, each bounded by a timeout, because on
Linux they talk D-Bus and a session bus can accept a connection and never
answer.

Many operators' terminals have no notification service at all (an SSH session,
a server console, a container: no session bus, or no
``org.freedesktop.Notifications`` on it). The first alert finds that out, one
debug line says so, and the notifier stays quiet from then on: no warning per
alert, no traceback in the log, nothing on the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

from auren_tui.core.history.model import Alert

if TYPE_CHECKING:
    from desktop_notifier import DesktopNotifier

log = logging.getLogger(__name__)

QUEUE_SIZE = 16
"""Alerts waiting for the daemon; more are dropped (a burst, or a hung daemon)."""
TIMEOUT = 3.0
"""Seconds for connecting to the notification service, and for each notification."""
CLOSE_TIMEOUT = 2.0


class Notifier:
    """Posts alerts as desktop notifications where a notification service exists.

    ``post`` never blocks and never raises; ``close`` returns within its timeout.
    ``available`` is None until the first alert found out, then True or False;
    ``sent`` counts the notifications the service accepted.
    """

    def __init__(
        self, app_name: str = "auren-tui", enabled: bool = True, *, timeout: float = TIMEOUT
    ) -> None:
        self.app_name = app_name
        self.enabled = enabled
        self.timeout = timeout
        self.available: bool | None = None
        self.sent = 0
        self._queue: queue.Queue[Alert | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._failed_once = False

    # ---- the caller's side --------------------------------------------------------------

    def post(self, alert: Alert) -> None:
        """Queue ``alert`` for the desktop; dropped when off, closed, unavailable or full."""
        if not self.enabled or self._closed or self.available is False:
            return
        try:
            self._start()
            self._queue.put_nowait(alert)
        except queue.Full:
            pass  # the daemon is slow or hung: the events panel has the line anyway
        except Exception as exc:  # a thread that cannot start (interpreter shutting down)
            self._give_up(f"cannot start the notifier thread: {exc}")

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop the thread: alerts not yet posted are dropped; returns within ``timeout``."""
        self._closed = True
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # wakes the thread up
        thread.join(timeout)  # a daemon thread: if it hangs, it ends with the process

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="auren-notify", daemon=True)
                self._thread.start()

    # ---- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        notifier: DesktopNotifier | None = None
        try:
            notifier = self._connect(loop)
            while notifier is not None and not self._closed:
                alert = self._queue.get()
                if alert is None or self._closed:
                    break
                self._send(loop, notifier, alert)
        except BaseException as exc:  # a notification is never worth a crash
            self._give_up(f"notifier stopped: {type(exc).__name__}: {exc}")
        finally:
            self._shut(loop, notifier)

    def _connect(self, loop: asyncio.AbstractEventLoop) -> DesktopNotifier | None:
        """desktop-notifier, once it answered; None (and quiet from now on) if it cannot."""
        try:
            from desktop_notifier import DesktopNotifier

            _quiet_library_failures()
            notifier = DesktopNotifier(app_name=self.app_name, app_icon=None)
            # Connects to the service (D-Bus on Linux) and asks what it can do:
            # raises where there is no bus or nobody owns the notification name.
            loop.run_until_complete(asyncio.wait_for(notifier.get_capabilities(), self.timeout))
        except Exception as exc:
            self._give_up(f"no desktop notification service ({_one_line(exc)})")
            return None
        self.available = True
        return notifier

    def _send(
        self, loop: asyncio.AbstractEventLoop, notifier: DesktopNotifier, alert: Alert
    ) -> None:
        from desktop_notifier import Notification, Urgency

        urgency = {"error": Urgency.Critical, "warning": Urgency.Normal}
        dispatched: list[bool] = []
        notification = Notification(
            title=f"AUREN {alert.rule}: {alert.subject}",
            message=alert.text,
            urgency=urgency.get(alert.severity, Urgency.Low),
            on_dispatched=lambda: dispatched.append(True),
        )
        try:
            # desktop-notifier logs and swallows a failed send: on_dispatched tells.
            loop.run_until_complete(
                asyncio.wait_for(notifier.send_notification(notification), self.timeout)
            )
        except Exception as exc:
            self._failed(_one_line(exc))
            return
        if dispatched:
            self.sent += 1
        else:
            self._failed("the notification service refused it")

    def _failed(self, why: str) -> None:
        # The service was there a moment ago (it may come back): keep trying, say it once.
        if not self._failed_once:
            self._failed_once = True
            log.debug("desktop notification not shown: %s (not said again)", why)

    def _give_up(self, why: str) -> None:
        if self.available is not False:
            self.available = False
            log.debug("desktop notifications off: %s", why)

    def _shut(self, loop: asyncio.AbstractEventLoop, notifier: DesktopNotifier | None) -> None:
        """Disconnect from the bus and close the loop, whatever state they are in."""
        with contextlib.suppress(Exception):
            # The D-Bus backend keeps its connection in ``bus``; others have none.
            bus: Any = getattr(getattr(notifier, "_backend", None), "bus", None)
            if bus is not None:
                bus.disconnect()
                loop.run_until_complete(asyncio.wait_for(bus.wait_for_disconnect(), 1.0))
        with contextlib.suppress(Exception):
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
        with contextlib.suppress(Exception):
            loop.close()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _NoFailureWarnings(logging.Filter):
    """desktop-notifier logs a warning with a traceback for every failed notification;
    ``Notifier`` says it once, at debug level, instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Notification failed"


def _quiet_library_failures() -> None:
    base = logging.getLogger("desktop_notifier.backends.base")
    if not any(isinstance(f, _NoFailureWarnings) for f in base.filters):
        base.addFilter(_NoFailureWarnings())
