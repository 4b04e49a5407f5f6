"""The harness keyring: no client can crash its daemon, and a daemon that died
anyway is noticed, said why, and restarted with its secrets.

gnome-keyring-daemon aborts when a new client's first call is dispatched
before its client record exists (see tests/services/keyring.py). The harness
makes every client read the service's ``Collections`` first; these tests hold
that to be so for a subprocess and for this process, and that a burst of
short-lived clients, which used to abort the daemon within a few hundred to
a few thousand clients here, leaves it running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest
import secretstorage
from jeepney import DBusAddress, MessageType, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.low_level import HeaderFields

from tests.services.base import running
from tests.services.keyring import (
    BACKEND,
    SecretServiceKeyring,
    register_clients_first,
    revive,
)

SERVICE = "org.freedesktop.secrets"
FIRST_CALL = ("org.freedesktop.Secret.Service", "Collections")


@pytest.fixture
def own_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretServiceKeyring]:
    """A private keyring, this process pointed at it for the test."""
    for service in running(SecretServiceKeyring()):
        for name, value in service.env.items():
            monkeypatch.setenv(name, value)
        register_clients_first(service)
        yield service


def _monitor(address: str) -> DBusConnection:
    """A connection that sees a copy of every message sent to the Secret Service."""
    conn = open_dbus_connection(address)
    bus = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
    rules = [f"type='method_call',destination='{SERVICE}'"]
    become = new_method_call(bus.with_interface("org.freedesktop.DBus.Monitoring"),
                             "BecomeMonitor", "asu", (rules, 0))  # fmt: skip
    conn.send_and_get_reply(become, timeout=10)
    return conn


def _calls_by_client(monitor: DBusConnection) -> dict[str, list[tuple[str, tuple[object, ...]]]]:
    """(member, body) of every call the monitor saw, per sending connection."""
    out: dict[str, list[tuple[str, tuple[object, ...]]]] = {}
    while True:
        try:
            msg = monitor.receive(timeout=1)
        except TimeoutError:
            return out
        if msg.header.message_type != MessageType.method_call:
            continue
        fields = msg.header.fields
        member = str(fields[HeaderFields.member])
        out.setdefault(str(fields[HeaderFields.sender]), []).append((member, tuple(msg.body)))


def _assert_each_client_registered_first(
    calls: dict[str, list[tuple[str, tuple[object, ...]]]],
) -> None:
    assert calls, "no call reached the Secret Service"
    assert any(len(c) > 1 for c in calls.values()), calls  # a real call followed
    for sender, seen in calls.items():
        assert seen[0] == ("Get", FIRST_CALL), f"{sender} began with {seen[0]}"


def test_a_subprocess_client_asks_for_the_collections_before_anything_else(
    own_keyring: SecretServiceKeyring,
) -> None:
    monitor = _monitor(own_keyring.address)
    with closing(monitor):
        env = {**os.environ, **own_keyring.env}
        assert env["PYTHON_KEYRING_BACKEND"] == BACKEND
        done = subprocess.run(
            [sys.executable, "-c", "import keyring; print(keyring.get_password('s', 'u'))"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "None"
        _assert_each_client_registered_first(_calls_by_client(monitor))


def test_this_process_asks_for_the_collections_before_anything_else(
    own_keyring: SecretServiceKeyring,
) -> None:
    import keyring.backends.SecretService

    monitor = _monitor(own_keyring.address)
    with closing(monitor):
        backend = keyring.backends.SecretService.Keyring()
        backend.set_password("s", "u", "value")
        assert backend.get_password("s", "u") == "value"
        _assert_each_client_registered_first(_calls_by_client(monitor))


def test_a_burst_of_short_lived_clients_leaves_the_daemon_running(
    own_keyring: SecretServiceKeyring,
) -> None:
    """Eight threads, each connecting, reading the default collection's label
    and hanging up, 3,200 times in all: what keyring does for every call.
    Without the registration the daemon aborted in two such bursts of five on
    the 2-core machine (and the rest of the burst met "not available"); the
    tests above are the ones that fail every time without it.

    A call may still fail while another client registers at the same moment
    (the daemon re-reads its default alias then, unlocked, while its D-Bus
    thread reads it: ItemNotFound, then a prompt nobody answers). That needs
    clients at the same time, which the tests do not run; it is counted here,
    not failed on: what this holds is that the daemon stays."""
    gone: list[str] = []
    other: list[str] = []
    done: list[int] = []

    def client_loop() -> None:
        for _ in range(400):
            try:
                with closing(secretstorage.dbus_init()) as conn:
                    secretstorage.get_default_collection(conn).get_label()
            except secretstorage.exceptions.SecretServiceNotAvailableException as exc:
                gone.append(repr(exc))
                return
            except secretstorage.exceptions.SecretStorageException as exc:
                other.append(repr(exc))
            else:
                done.append(1)

    threads = [threading.Thread(target=client_loop) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert own_keyring.running(), own_keyring.exit_report()
    assert not gone, gone[:3]
    assert len(done) + len(other) == 3200
    assert len(other) < 32, other[:3]  # the alias race: rare, never the rule


def test_a_daemon_that_died_is_reported_and_restarted_with_its_secrets(
    own_keyring: SecretServiceKeyring,
) -> None:
    import keyring.backends.SecretService

    backend = keyring.backends.SecretService.Keyring()
    backend.set_password("s", "kept", "before the crash")
    daemon = own_keyring._daemon
    assert daemon is not None
    os.kill(daemon.pid, signal.SIGABRT)  # as the daemon's own assertion does
    daemon.wait(10)
    assert not own_keyring.running()
    why = revive(own_keyring)
    assert why is not None
    assert "gnome-keyring-daemon exited with -6" in why
    assert own_keyring.running()
    assert backend.get_password("s", "kept") == "before the crash"
