"""A real Secret Service keyring, private to the test run.

``dbus-daemon`` on a bus of our own (a config without service activation, so
nothing but our daemon can answer for ``org.freedesktop.secrets``), then
``gnome-keyring-daemon --foreground --unlock --components=secrets`` with a
password on stdin: that creates and unlocks the ``login`` collection, which
becomes the default one keyring's SecretService backend writes to. Its
keyring files live in the temp dir (``XDG_DATA_HOME``), never the user's.

The ``real_keyring`` fixture points this process at it
(``DBUS_SESSION_BUS_ADDRESS``, ``PYTHON_KEYRING_BACKEND``, ``PYTHONPATH``) for
the rest of the session, and gives ``.env`` for subprocesses.

Why ``PYTHONPATH``: gnome-keyring-daemon (42.1 here, still in 50) aborts when
a new client's first Secret Service call is dispatched before the record it
keeps for that client exists (it is made by a ``G_PRIORITY_HIGH`` idle from a
message filter, and GLib can dispatch the call first while its main loop is
already iterating; upstream gnome-keyring #190/#195):
``gkd_secret_service_get_pkcs11_session: assertion 'client' failed``, then
``invoke_get_property_in_idle_cb: assertion failed: (error != NULL)``, SIGABRT.
Every client of every test is short-lived (keyring opens a connection per
call), so on two busy cores the daemon died about once in a few hundred
clients: the product then reported "Message recipient disconnected from
message bus without replying". The harness puts a ``sitecustomize`` on
``PYTHONPATH`` (and applies it in this process) that makes every new
connection of ``secretstorage.dbus_init`` first read the service's
``Collections`` twice (answered without a client record): the record is made
before the second answer, so no real call can beat it. Left alone: the daemon
re-reads its default alias, unlocked, whenever a client registers, so a call
made at that very moment by another client can meet ItemNotFound; only
clients running at the same time meet that, and the tests run them in turn.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services.base import (
    ManagedProcess,
    ServiceUnavailable,
    find_binary,
    make_tempdir,
    remove_tree,
    unavailable,
    wait_until,
)

BACKEND = "keyring.backends.SecretService.Keyring"

# Variables that would make keyring, or gnome-keyring, pick another store.
_FOREIGN = (
    "DBUS_SESSION_BUS_ADDRESS",
    "GNOME_KEYRING_CONTROL",
    "PYTHON_KEYRING_BACKEND",
    "KEYRING_PROPERTY_KEYRING_PATH",
)

# Not "foreign", but set by ``_point_at`` too: put back at the end of the session.
_SAVED = (*_FOREIGN, "PYTHONPATH")

# A private session bus (also the desktop-notification tests' bus: test_notify.py).
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class SecretServiceKeyring:
    """dbus-daemon + gnome-keyring-daemon in a temp dir; ``start()``, ``close()``."""

    password: str = field(default_factory=lambda: uuid.uuid4().hex)
    workdir: Path | None = None
    address: str = ""
    _bus: ManagedProcess | None = field(default=None, repr=False)
    _daemon: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def shim_dir(self) -> Path:
        """The directory of the ``sitecustomize`` that registers clients first."""
        assert self.workdir is not None
        return self.workdir / "python"

    @property
    def env(self) -> dict[str, str]:
        """The variables a process needs to use this keyring (merge into os.environ)."""
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "PYTHON_KEYRING_BACKEND": BACKEND,
            "PYTHONPATH": _prepend(str(self.shim_dir), os.environ.get("PYTHONPATH", "")),
        }

    def _daemon_env(self) -> dict[str, str]:
        assert self.workdir is not None
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
        for var, sub in (
            ("HOME", "home"),
            ("XDG_DATA_HOME", "data"),  # gnome-keyring keeps its keyrings/ here
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_RUNTIME_DIR", "run"),
        ):
            (self.workdir / sub).mkdir(mode=0o700, exist_ok=True)
            env[var] = str(self.workdir / sub)
        return env

    def start(self) -> SecretServiceKeyring:
        dbus = find_binary("dbus-daemon", "dbus")
        gnome_keyring = find_binary("gnome-keyring-daemon", "gnome-keyring")
        if self.workdir is None:
            self.workdir = make_tempdir("keyring")
        env = self._daemon_env()
        self.shim_dir.mkdir(exist_ok=True)
        (self.shim_dir / "sitecustomize.py").write_text(_SHIM)
        socket = self.workdir / "bus"
        socket.unlink(missing_ok=True)  # a restart: the last bus's socket file
        config = self.workdir / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=socket))
        self.address = f"unix:path={socket}"

        bus_log = self.workdir / "dbus.log"
        self._bus = ManagedProcess(
            [dbus, f"--config-file={config}", "--nofork", "--nopidfile"], log=bus_log, env=env
        )
        proc = self._bus.start()
        wait_until(socket.exists, timeout=10, what="dbus-daemon", proc=proc, log=bus_log)

        env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        log = self.workdir / "gnome-keyring.log"
        with log.open("ab") as out:
            self._daemon = subprocess.Popen(
                [
                    gnome_keyring,
                    "--foreground",
                    "--unlock",  # reads the login keyring's password from stdin
                    "--components=secrets",
                    f"--control-directory={self.workdir / 'run' / 'keyring'}",
                ],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        assert self._daemon.stdin is not None
        self._daemon.stdin.write(self.password.encode())
        self._daemon.stdin.close()
        wait_until(self.round_trip, timeout=20, what="gnome-keyring", proc=self._daemon, log=log)
        return self

    def round_trip(self) -> bool:
        """Store, read and delete an entry through keyring's SecretService backend."""
        probe = subprocess.run(
            [_python(), "-c", _PROBE],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return probe.returncode == 0 and probe.stdout.strip() == "ok"

    def lock(self) -> None:
        """Lock the default collection (unlocking again needs a prompt: there is none)."""
        _run_python(_LOCK, {**os.environ, **self.env})

    def log_tail(self, lines: int = 4) -> str:
        """The last lines gnome-keyring-daemon wrote (its warnings and assertions)."""
        if self.workdir is None:
            return ""
        with contextlib.suppress(OSError):
            text = (self.workdir / "gnome-keyring.log").read_text(errors="replace")
            kept = [x.strip() for x in text.splitlines() if x.strip() not in ("", "**")]
            return " | ".join(kept[-lines:])
        return ""

    def exit_report(self) -> str:
        """Why the daemons are not running: exit statuses and the keyring log's tail."""
        parts = []
        if self._bus is None or not self._bus.running():
            parts.append("dbus-daemon gone")
        if self._daemon is None:
            parts.append("gnome-keyring-daemon never started")
        elif self._daemon.poll() is not None:
            parts.append(f"gnome-keyring-daemon exited with {self._daemon.returncode}")
        tail = self.log_tail()
        if tail:
            parts.append(f"log: {tail}")
        return "; ".join(parts)

    def running(self) -> bool:
        return (
            self._bus is not None
            and self._bus.running()
            and self._daemon is not None
            and self._daemon.poll() is None
        )

    def stop(self) -> None:
        if self._daemon is not None:
            proc, self._daemon = self._daemon, None
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._bus is not None:
            self._bus.stop()
            self._bus = None

    def close(self) -> None:
        self.stop()
        remove_tree(self.workdir)


_PROBE = """
import uuid, keyring
k = keyring.get_keyring()
assert type(k).__module__ + "." + type(k).__qualname__ == "keyring.backends.SecretService.Keyring"
user = "harness/" + uuid.uuid4().hex
k.set_password("auren-tui-harness", user, "probe")
assert k.get_password("auren-tui-harness", user) == "probe"
k.delete_password("auren-tui-harness", user)
print("ok")
"""

_LOCK = """
import secretstorage
with secretstorage.dbus_init() as conn:
    collection = secretstorage.get_default_collection(conn)
    collection.lock()
    assert collection.is_locked()
"""


# The sitecustomize written next to each keyring (see the module docstring). It
# imports nothing at start-up: secretstorage is patched when something imports it.
_SHIM = '''"""Written by tests/services/keyring.py: a Secret Service client of the test run
is known to gnome-keyring-daemon before its first call (upstream #190/#195)."""

import sys


def _register(connection):
    from jeepney import DBusAddress, Properties

    service = DBusAddress(
        "/org/freedesktop/secrets",
        bus_name="org.freedesktop.secrets",
        interface="org.freedesktop.Secret.Service",
    )
    try:  # answered from the daemon's own session, no client record needed
        # The record is made (and the default alias re-read) by an idle that may
        # run only after the first answer; it has run before the second one.
        for _ in range(2):
            connection.send_and_get_reply(Properties(service).get("Collections"), timeout=20)
    except Exception:
        pass  # no service at all: the call that follows reports it


def _patch(secretstorage):
    original = secretstorage.dbus_init
    if getattr(original, "registers_first", False):
        return

    def dbus_init():
        connection = original()
        _register(connection)
        return connection

    dbus_init.registers_first = True
    secretstorage.dbus_init = dbus_init


class _PatchOnImport:
    """Finds nothing itself: wraps the real loader of secretstorage once."""

    def find_spec(self, name, path=None, target=None):
        if name != "secretstorage":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_and_patch(module):
                exec_module(module)
                _patch(module)

            spec.loader.exec_module = exec_and_patch
        return spec


def install():
    if "secretstorage" in sys.modules:
        _patch(sys.modules["secretstorage"])
    elif not any(type(f).__name__ == "_PatchOnImport" for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


install()
'''


def _prepend(entry: str, path: str) -> str:
    """``entry`` first in the search path ``path``, once."""
    rest = [p for p in path.split(os.pathsep) if p and p != entry]
    return os.pathsep.join([entry, *rest])


def register_clients_first(service: SecretServiceKeyring) -> None:
    """Apply ``service``'s sitecustomize to this process (subprocesses get it
    through ``service.env``): every new secretstorage connection registers first."""
    spec = importlib.util.spec_from_file_location(
        "_auren_keyring_shim", service.shim_dir / "sitecustomize.py"
    )
    assert spec is not None
    assert spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def _python() -> str:
    import sys

    return sys.executable


def _run_python(code: str, env: dict[str, str]) -> None:
    out = subprocess.run(
        [_python(), "-c", code], env=env, capture_output=True, text=True, timeout=20, check=False
    )
    if out.returncode != 0:
        raise ServiceUnavailable(f"keyring helper failed: {out.stderr.strip()[-500:]}")


@dataclass
class RealKeyring:
    """What the ``real_keyring`` fixture yields."""

    service: SecretServiceKeyring
    env: dict[str, str]
    """The whole environment for a subprocess that should use this keyring."""


def revive(service: SecretServiceKeyring) -> str | None:
    """Start ``service`` again when its daemons are gone; why they were (None: running)."""
    if service.running():
        return None
    why = service.exit_report()
    service.stop()
    service.start()
    return why


def _point_at(service: SecretServiceKeyring) -> None:
    """This process (and subprocesses started with os.environ) use ``service``."""
    import keyring
    import keyring.core

    env = service.env  # PYTHONPATH: the one from before, the shim in front
    for k in _FOREIGN:
        os.environ.pop(k, None)
    os.environ.update(env)
    register_clients_first(service)
    keyring.core.init_backend()  # forget any backend chosen before
    backend = keyring.get_keyring()
    user = f"harness/{uuid.uuid4().hex}"
    backend.set_password("auren-tui-harness", user, "probe")
    if backend.get_password("auren-tui-harness", user) != "probe":
        raise ServiceUnavailable("gnome-keyring: a stored entry did not read back")
    backend.delete_password("auren-tui-harness", user)


@pytest.fixture(scope="session")
def keyring_service() -> Iterator[SecretServiceKeyring]:
    """The session's keyring daemons (see ``real_keyring``)."""
    service = SecretServiceKeyring()
    try:
        service.start()
    except (ServiceUnavailable, OSError) as exc:
        service.close()
        unavailable(exc)
    saved = {k: os.environ.get(k) for k in _SAVED}
    try:
        yield service
    finally:
        _restore(saved)
        service.close()


@pytest.fixture
def real_keyring(keyring_service: SecretServiceKeyring) -> Iterator[RealKeyring]:
    """The session's real keyring, checked before and after every test that uses it.

    Before: when its daemon or its bus is gone, the harness says why (a
    warning with the exit status and the log's tail) and starts a fresh pair
    on the same data dir and password, so the stored secrets are there again;
    then an entry must store and read back. After: a daemon that died during
    the test fails it here, with the daemon's last words, so the cause is not
    left to whatever product call met the dead daemon first.
    """
    try:
        why = revive(keyring_service)
    except (ServiceUnavailable, OSError) as exc:
        unavailable(exc)
    if why is not None:
        warnings.warn(f"the harness keyring had stopped ({why}); restarted", stacklevel=1)
    try:
        _point_at(keyring_service)
    except Exception as exc:
        unavailable(ServiceUnavailable(f"{exc} (gnome-keyring log: {keyring_service.log_tail()})"))
    yield RealKeyring(service=keyring_service, env=dict(os.environ))
    if not keyring_service.running():
        pytest.fail(
            f"the harness keyring died during this test: {keyring_service.exit_report()}",
            pytrace=False,
        )


def _restore(saved: dict[str, str | None]) -> None:
    import keyring.core

    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    with contextlib.suppress(Exception):
        keyring.core.init_backend()
