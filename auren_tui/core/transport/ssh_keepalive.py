"""Keeping an SSH connection alive: heartbeats, and reconnecting with backoff.

``Keepalive`` is the supervisor half of ``SshConnection`` (core/transport/ssh.py),
its base class: a thread (``start()``) that polls the transport every
``POLL`` seconds, sends a heartbeat (a global request that needs an answer)
every ``heartbeat_interval`` in a short-lived thread of its own, and when the
connection is lost logs in again, hop by hop, waiting longer after each
failed attempt. The state it reads and changes is ``SshConnection``'s.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import paramiko

from auren_tui.core.transport.hostkeys import HostKeyError, close_transport
from auren_tui.core.transport.ssh_errors import AuthFailed, ConnectFailed, SetupError, reason
from auren_tui.core.transport.ssh_login import close_chain

if TYPE_CHECKING:
    from auren_tui.core.model import ConnState

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
POLL = 0.25  # how often the supervisor looks at the transport


class Keepalive:
    """The supervisor thread's loop, heartbeat and reconnect (see the module docstring)."""

    if TYPE_CHECKING:  # SshConnection's, set in its __init__
        label: str
        last_error: str | None
        connect_timeout: float
        backoff_start: float
        backoff_max: float
        _cond: threading.Condition
        _stopping: threading.Event
        _transport: paramiko.Transport | None
        _carriers: list[paramiko.Transport]

        @property
        def heartbeat_interval(self) -> float: ...
        @property
        def heartbeat_timeout(self) -> float: ...
        def _set_state(
            self, state: ConnState, attempt: int = 0, error: str | None = None
        ) -> None: ...
        def _open_chain(self) -> list[paramiko.Transport]: ...
        def _install(self, chain: list[paramiko.Transport]) -> None: ...

    def _supervise(self) -> None:
        try:
            last_beat = time.monotonic()
            silent: str | None = None  # why the heartbeat gave up on the transport
            while not self._stopping.is_set():
                transport = self._transport
                if transport is None or not transport.is_active():
                    if not self._reconnect(silent):
                        return
                    last_beat, silent = time.monotonic(), None
                    continue
                if self._stopping.wait(POLL):
                    return
                if time.monotonic() - last_beat >= self.heartbeat_interval:
                    last_beat = time.monotonic()
                    if not self._heartbeat(transport) and not self._stopping.is_set():
                        silent = f"no answer for {self.heartbeat_timeout:g} s"
        except Exception as exc:  # a bug must not leave the UI believing we are connected
            log.exception("%s: supervisor failed", self.label)
            self._set_state("failed", error=f"internal error: {reason(exc)}")

    def _heartbeat(self, transport: paramiko.Transport) -> bool:
        """A global request that needs an answer; close the transport if none comes in time."""
        done = threading.Event()

        def beat() -> None:
            try:
                # OpenSSH answers unknown requests with a failure: an answer is all we need.
                transport.global_request("keepalive@openssh.com", wait=True)
            except Exception as exc:
                log.debug("%s: heartbeat failed: %s", self.label, reason(exc))
            finally:
                done.set()

        thread = threading.Thread(target=beat, name="auren-ssh-heartbeat", daemon=True)
        thread.start()
        answered = done.wait(self.heartbeat_timeout)
        if not answered:
            close_transport(transport)  # global_request returns once the transport is inactive
        thread.join(self.connect_timeout)
        return answered and transport.is_active()

    def _reconnect(self, why: str | None = None) -> bool:
        """Reconnect with backoff. False when closing, or on an error retrying cannot fix."""
        with self._cond:
            old, self._transport = self._transport, None
            carriers, self._carriers = self._carriers, []
        if old is not None:
            exc = old.get_exception()
            close_chain([*carriers, old])
            why = why or (reason(exc) if exc else None)
            error = f"connection to {self.label} lost" + (f": {why}" if why else "")
            log.warning("%s", error)
            self._set_state("reconnecting", 0, error)
        delay = self.backoff_start
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            self._set_state("reconnecting", attempt)
            try:
                chain = self._open_chain()
            except (HostKeyError, AuthFailed, SetupError) as exc:
                # Never retried: a new host key needs an operator, and repeating
                # refused credentials only locks the account.
                log.error("%s", exc)
                self._set_state("failed", attempt, str(exc))
                return False
            except ConnectFailed as exc:
                log.info("%s: attempt %d: %s", self.label, attempt, exc)
                with self._cond:
                    self.last_error = str(exc)
            else:
                try:
                    self._install(chain)
                except ConnectFailed:
                    return False  # closed meanwhile
                log.info("%s: reconnected after %d attempt(s)", self.label, attempt)
                return True
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, self.backoff_max)
        return False
