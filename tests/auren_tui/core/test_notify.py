"""Notifier: never in the caller's way, silent without a notification service, and
delivered for real over D-Bus where there is one.

The desktop's notification daemon is not ours to start, so the delivery tests run a
real ``dbus-daemon`` session bus of their own and serve a minimal
``org.freedesktop.Notifications`` on it with dbus-fast (the library desktop-notifier
itself talks D-Bus with): the notifier under test is unchanged, and reaches it as it
reaches a desktop's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusDict, DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method

from auren_tui.core.history.model import Alert
from auren_tui.core.notify import QUEUE_SIZE, Notifier
from tests.services.base import (
    ManagedProcess,
    ServiceUnavailable,
    find_binary,
    running,
    wait_until,
)
from tests.services.keyring import BUS_CONFIG

ALERT = Alert(1765000000.0, "unhealthy", "redis", "redis unhealthy: connection refused", "error")

# ---- without a notification service ---------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [None, "unix:path={tmp}/no-such-bus", "tcp:host=127.0.0.1,port=1"],
    ids=["unset", "missing-socket", "refused"],
)
def test_without_a_bus_post_returns_at_once_and_stays_quiet(
    address: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    if address is None:
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address.format(tmp=tmp_path))
    caplog.set_level(logging.DEBUG)
    notifier = Notifier(timeout=2.0)
    began = time.monotonic()
    notifier.post(ALERT)
    assert time.monotonic() - began < 0.1
    wait_until(lambda: notifier.available is False, timeout=10, what="the notifier giving up")
    for _ in range(50):  # after giving up: nothing queued, nothing said
        notifier.post(ALERT)
    began = time.monotonic()
    notifier.close(timeout=2.0)
    assert time.monotonic() - began < 2.5
    assert notifier.sent == 0
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    said = [r for r in caplog.records if r.name.startswith(("auren_tui", "desktop_notifier"))]
    assert [(r.levelname, r.name) for r in said] == [("DEBUG", "auren_tui.core.notify")]
    assert said[0].getMessage().startswith("desktop notifications off: no desktop notification")


def test_disabled_or_closed_posts_nothing() -> None:
    off = Notifier(enabled=False)
    off.post(ALERT)
    assert off._thread is None
    off.close()
    closed = Notifier()
    closed.close()
    closed.post(ALERT)
    assert closed._thread is None


# ---- a real session bus, a minimal notification service on it ----------------------------------


Strings = Annotated[list[str], DBusSignature("as")]
ServerInfo = Annotated[list[str], DBusSignature("ssss")]


class FakeNotifications(ServiceInterface):
    """org.freedesktop.Notifications as the spec has it, minus the screen: it records
    what it was asked to show. ``hang``: it never answers Notify (a daemon stuck)."""

    def __init__(self, hang: bool = False) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.hang = hang
        self.received: list[dict[str, Any]] = []

    @dbus_method()
    async def Notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: Strings,
        hints: DBusDict,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        if self.hang:
            await asyncio.Event().wait()
        urgency = hints["urgency"].value if "urgency" in hints else None
        self.received.append(
            {"app": app_name, "summary": summary, "body": body, "urgency": urgency}
        )
        return len(self.received)

    @dbus_method()
    def GetCapabilities(self) -> Strings:
        return ["body"]

    @dbus_method()
    def GetServerInformation(self) -> ServerInfo:
        return ["auren-test-notifications", "auren-tui tests", "1.0", "1.2"]

    @dbus_method()
    def CloseNotification(self, identifier: DBusUInt32):  # type: ignore[no-untyped-def]
        """No return annotation: dbus-fast reads one as the reply's D-Bus type."""


class SessionBus:
    """A private dbus-daemon, and the fake service on it, in a thread of its own."""

    def __init__(self, workdir: Path, service: FakeNotifications) -> None:
        self.workdir = workdir
        self.service = service
        self.address = f"unix:path={workdir / 'bus'}"
        self._daemon: ManagedProcess | None = None
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._served = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> SessionBus:
        binary = find_binary("dbus-daemon", "dbus")
        config = self.workdir / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.workdir / "bus"))
        log = self.workdir / "dbus.log"
        self._daemon = ManagedProcess(
            [binary, f"--config-file={config}", "--nofork", "--nopidfile"], log=log
        )
        proc = self._daemon.start()
        socket = self.workdir / "bus"
        wait_until(socket.exists, timeout=10, what="dbus-daemon", proc=proc, log=log)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        wait_until(
            lambda: self._served.is_set() or self._error is not None,
            timeout=10,
            what="the fake notification service",
        )
        if self._error is not None:
            raise ServiceUnavailable(f"fake notification service: {self._error}")
        return self

    def _serve(self) -> None:
        async def serve() -> None:
            bus = await MessageBus(bus_address=self.address).connect()
            bus.export("/org/freedesktop/Notifications", self.service)
            await bus.request_name("org.freedesktop.Notifications")
            self._stop = asyncio.Event()
            self._served.set()
            await self._stop.wait()
            bus.disconnect()

        try:
            self._loop.run_until_complete(serve())
        except BaseException as exc:
            self._error = exc

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        if self._daemon is not None:
            self._daemon.stop()
        if not self._loop.is_running():
            self._loop.close()


def _bus(tmp_path: Path, hang: bool) -> Iterator[SessionBus]:
    yield from running(SessionBus(tmp_path, FakeNotifications(hang=hang)))


@pytest.fixture
def session_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionBus]:
    for bus in _bus(tmp_path, hang=False):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        yield bus


@pytest.fixture
def hung_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionBus]:
    for bus in _bus(tmp_path, hang=True):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        yield bus


@pytest.mark.services
def test_delivered_over_a_real_session_bus(
    session_bus: SessionBus, capfd: pytest.CaptureFixture[str]
) -> None:
    notifier = Notifier(app_name="auren-tui")
    began = time.monotonic()
    notifier.post(ALERT)
    notifier.post(Alert(ALERT.at, "recovered", "redis", "redis recovered", "information"))
    assert time.monotonic() - began < 0.1
    received = session_bus.service.received
    wait_until(lambda: len(received) == 2, timeout=15, what=lambda: f"2 notifications: {received}")
    assert received == [
        {
            "app": "auren-tui",
            "summary": "AUREN unhealthy: redis",
            "body": "redis unhealthy: connection refused",
            "urgency": 2,  # critical: an error
        },
        {"app": "auren-tui", "summary": "AUREN recovered: redis", "body": "redis recovered",
         "urgency": 0},
    ]  # fmt: skip
    wait_until(lambda: notifier.sent == 2, timeout=5, what="both counted as sent")
    assert notifier.available is True
    notifier.close()
    assert capfd.readouterr() == ("", "")


@pytest.mark.services
def test_a_hung_service_never_blocks_post_nor_close(
    hung_bus: SessionBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = Notifier(timeout=1.0)
    began = time.monotonic()
    for _ in range(QUEUE_SIZE * 5):  # far more than the queue holds: the rest dropped
        notifier.post(ALERT)
    assert time.monotonic() - began < 0.2
    wait_until(lambda: notifier.available is True, timeout=10, what="the service answering")
    began = time.monotonic()
    notifier.close(timeout=2.0)
    assert time.monotonic() - began < 2.5
    assert notifier.sent == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
