"""One SSH connection per profile, shared by everything that reaches the server.

``SshConnection`` implements the ``Connection`` protocol (core/connection.py)
with paramiko:

- the host key is checked against known_hosts right after the key exchange
  and before authentication (core/hostkeys.py); an unknown or changed key
  raises and nothing else is sent; nothing is ever added on its own;
- ``endpoint(host, port)`` is a local TCP port whose connections become
  ``direct-tcpip`` channels to ``host:port`` as the server sees it;
- ``docker_url()`` is a local unix socket whose connections become exec
  channels running ``docker system dial-stdio``: the Docker API through the
  same login, no second one;
- a supervisor thread sends a heartbeat (a global request that needs an
  answer) every few seconds and reconnects with backoff when the connection
  is lost. The local addresses stay the same across reconnects.

Everything is blocking and thread-safe; call it from worker threads. Every
network operation has a timeout.

Threads: paramiko's transport thread; one supervisor (``start()``) that
polls the transport every 0.25 s and runs each heartbeat in a short-lived
thread; per forwarder one accept thread and one pump thread per forwarded
connection (core/tunnels.py); a timer while an exec request is pending.
``close()`` stops and joins all of them.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence

import paramiko
from pydantic import SecretStr

from auren_tui.core.config import Profile
from auren_tui.core.hostkeys import (
    HostKeyError,
    check_host_key,
    close_transport,
    host_label,
    known_hosts_path,
    known_key_types,
    preferred_algorithms,
)
from auren_tui.core.model import ConnState
from auren_tui.core.tunnels import TcpForwarder, UnixForwarder

log = logging.getLogger(__name__)

# Returns a secret of this profile by name: "ssh_password", "key_passphrase".
SecretLookup = Callable[[str], SecretStr | None]

HEARTBEAT_INTERVAL = 5.0
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
POLL = 0.25  # how often the supervisor looks at the transport
SEND_TIMEOUT = 60.0  # a forwarded connection whose peer accepts nothing for this long is dropped


class SshError(Exception):
    """A one-line, secret-free reason the server cannot be used."""


class ConnectFailed(SshError):
    """The server is unreachable, the handshake failed, or the connection is down."""


class AuthFailed(SshError):
    """The server refused our credentials, or we have none to offer."""


def _reason(exc: BaseException) -> str:
    """One line about a library error (paramiko's messages carry no secret)."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, EOFError):
        return "closed by the server"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class SshConnection:
    """The ``Connection`` to one server over SSH (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        secrets: SecretLookup,
        connect_timeout: float = 10.0,
        *,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        heartbeat_timeout: float | None = None,
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.profile = profile
        self.state: ConnState = "connecting"
        self.attempt = 0
        self.last_error: str | None = None
        self.connect_timeout = connect_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout or connect_timeout
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.send_timeout = send_timeout
        self.known_hosts = known_hosts_path(profile)
        self.label = host_label(profile.host, profile.port)
        self._secrets = secrets
        self._cond = threading.Condition()  # guards everything below; notified on changes
        self._transport: paramiko.Transport | None = None
        self._pending: socket.socket | None = None  # a connect in progress (close() aborts it)
        self._closed = False
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._forwarders: dict[tuple[str, int], TcpForwarder] = {}
        self._docker: UnixForwarder | None = None

    # -- state -------------------------------------------------------------------

    def _set_state(self, state: ConnState, attempt: int = 0, error: str | None = None) -> None:
        with self._cond:
            changed = state != self.state
            self.state, self.attempt = state, attempt
            if error is not None:
                self.last_error = error
            self._cond.notify_all()
        if changed:
            log.info("%s: %s", self.label, state)

    def wait_state(self, *states: ConnState, timeout: float) -> bool:
        """Wait until ``state`` is one of ``states``; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.state not in states:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, POLL))
            return True

    @property
    def connected(self) -> bool:
        transport = self._transport
        return self.state == "connected" and transport is not None and transport.is_active()

    # -- connecting --------------------------------------------------------------

    def connect(self) -> None:
        """One blocking connection attempt; on success the connection is in use.

        Raises ``UnknownHostKey``/``HostKeyChanged`` (hostkeys), ``AuthFailed``
        or ``ConnectFailed``; each message is one line without secrets.
        """
        if self._closed:
            raise ConnectFailed(f"the connection to {self.label} is closed")
        self._set_state("connecting")
        try:
            transport = self._open_transport()
        except (HostKeyError, SshError) as exc:
            self._set_state("failed", error=str(exc))
            raise
        self._install(transport)

    def start(self) -> None:
        """``connect()``, then keep the connection alive in a supervisor thread."""
        self.connect()
        with self._cond:
            if self._supervisor is None and not self._closed:
                self._supervisor = threading.Thread(
                    target=self._supervise,
                    name=f"auren-ssh-supervisor[{self.profile.name}]",
                    daemon=True,
                )
                self._supervisor.start()

    def _install(self, transport: paramiko.Transport) -> None:
        old: paramiko.Transport | None = None
        with self._cond:
            closed = self._closed
            if not closed:
                old, self._transport = self._transport, transport
                self.last_error = None
                self._set_state("connected")  # with the transport, atomically
        if closed:
            close_transport(transport)
            raise ConnectFailed(f"the connection to {self.label} is closed")
        if old is not None and old is not transport:
            close_transport(old)

    def _open_transport(self) -> paramiko.Transport:
        host, port, timeout = self.profile.host, self.profile.port, self.connect_timeout
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ConnectFailed(f"cannot reach {self.label}: {_reason(exc)}") from exc
        with self._cond:
            if self._closed:
                sock.close()
                raise ConnectFailed(f"the connection to {self.label} is closed")
            self._pending = sock
        transport: paramiko.Transport | None = None
        try:
            transport = paramiko.Transport(sock)
            transport.banner_timeout = timeout
            transport.handshake_timeout = timeout
            transport.auth_timeout = timeout
            options = transport.get_security_options()
            known = known_key_types(self.known_hosts, host, port)
            options.key_types = preferred_algorithms(known, options.key_types)
            try:
                transport.start_client(timeout=timeout)
                key = transport.get_remote_server_key()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise ConnectFailed(
                    f"SSH handshake with {self.label} failed: {_reason(exc)}"
                ) from exc
            # Before anything else is sent: no user name, no key, no password.
            check_host_key(self.known_hosts, host, port, key)
            self._authenticate(transport)
        except BaseException:
            if transport is not None:
                close_transport(transport)
            sock.close()
            raise
        finally:
            with self._cond:
                self._pending = None
        return transport

    # -- authentication ------------------------------------------------------------

    def _authenticate(self, transport: paramiko.Transport) -> None:
        user = self.profile.user or getpass.getuser()
        who = f"{user}@{self.label}"
        try:
            if self.profile.auth == "password":
                self._auth_password(transport, user, who)
            elif self.profile.auth == "key":
                self._auth_keys(transport, user, who, [self._load_key()], "key file")
            else:
                agent = paramiko.Agent()
                try:
                    keys = list(agent.get_keys())
                    if not keys:
                        raise AuthFailed(
                            f"cannot log in as {who}: the SSH agent has no keys "
                            "(is SSH_AUTH_SOCK set? run ssh-add)"
                        )
                    self._auth_keys(transport, user, who, keys, "agent")
                finally:
                    agent.close()
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(exc.allowed_types) or "nothing"
            raise AuthFailed(
                f"{who} does not accept {self.profile.auth} login (it allows: {allowed})"
            ) from None
        except paramiko.AuthenticationException:
            raise AuthFailed(self._refused(who)) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectFailed(
                f"connection to {self.label} lost while logging in: {_reason(exc)}"
            ) from exc
        if not transport.is_authenticated():
            raise AuthFailed(f"{who} asks for more login steps than auren-tui supports")

    def _refused(self, who: str) -> str:
        if self.profile.auth == "password":
            return f"password login as {who} was refused (wrong password?)"
        if self.profile.auth == "key":
            return f"key login as {who} was refused (is {self.profile.key_file} authorized?)"
        return f"none of the SSH agent's keys is accepted for {who}"

    def _auth_password(self, transport: paramiko.Transport, user: str, who: str) -> None:
        secret = self._secrets("ssh_password")
        if secret is None:
            raise AuthFailed(
                f"cannot log in as {who}: no SSH password is stored for profile "
                f"{self.profile.name!r}"
            )
        transport.auth_password(user, secret.get_secret_value())

    @staticmethod
    def _auth_keys(
        transport: paramiko.Transport,
        user: str,
        who: str,
        keys: Sequence[paramiko.PKey],
        source: str,
    ) -> None:
        for key in keys:
            try:
                transport.auth_publickey(user, key)
            except paramiko.AuthenticationException:
                if not transport.is_active():
                    raise
                continue
            if transport.is_authenticated():
                return
        raise paramiko.AuthenticationException(f"no {source} key accepted for {who}")

    def _load_key(self) -> paramiko.PKey:
        path = self.profile.key_file
        if path is None:
            raise AuthFailed(f"profile {self.profile.name!r} uses key login but names no key_file")
        path = path.expanduser()
        try:
            return paramiko.PKey.from_path(path)
        except OSError as exc:
            raise AuthFailed(f"cannot read key file {path}: {_reason(exc)}") from None
        except TypeError:
            pass  # encrypted: cryptography wants the passphrase
        except (ValueError, paramiko.SSHException):
            raise AuthFailed(f"cannot load key file {path}: not a supported private key") from None
        passphrase = self._secrets("key_passphrase")
        if passphrase is None:
            raise AuthFailed(
                f"key file {path} is encrypted and no passphrase is stored for profile "
                f"{self.profile.name!r}"
            )
        try:
            # paramiko 5.1 hands the password to cryptography as is, which wants bytes.
            password = passphrase.get_secret_value().encode()
            return paramiko.PKey.from_path(path, password)  # type: ignore[arg-type]
        except (TypeError, ValueError, paramiko.SSHException):
            raise AuthFailed(f"cannot decrypt key file {path} (wrong passphrase?)") from None

    # -- keeping it alive ------------------------------------------------------------

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
            self._set_state("failed", error=f"internal error: {_reason(exc)}")

    def _heartbeat(self, transport: paramiko.Transport) -> bool:
        """A global request that needs an answer; close the transport if none comes in time."""
        done = threading.Event()

        def beat() -> None:
            try:
                # OpenSSH answers unknown requests with a failure: an answer is all we need.
                transport.global_request("keepalive@openssh.com", wait=True)
            except Exception as exc:
                log.debug("%s: heartbeat failed: %s", self.label, _reason(exc))
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
        if old is not None:
            exc = old.get_exception()
            close_transport(old)
            why = why or (_reason(exc) if exc else None)
            error = f"connection to {self.label} lost" + (f": {why}" if why else "")
            log.warning("%s", error)
            self._set_state("reconnecting", 0, error)
        delay = self.backoff_start
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            self._set_state("reconnecting", attempt)
            try:
                transport = self._open_transport()
            except (HostKeyError, AuthFailed) as exc:
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
                    self._install(transport)
                except ConnectFailed:
                    return False  # closed meanwhile
                log.info("%s: reconnected after %d attempt(s)", self.label, attempt)
                return True
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, self.backoff_max)
        return False

    # -- using it ----------------------------------------------------------------------

    def _transport_now(self, timeout: float) -> paramiko.Transport:
        """The live transport, waiting up to ``timeout`` for a reconnect to finish."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise ConnectFailed(f"the connection to {self.label} is closed")
                transport = self._transport
                if self.state == "connected" and transport is not None and transport.is_active():
                    return transport
                if self.state == "failed":
                    raise ConnectFailed(f"not connected to {self.label}: {self.last_error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    detail = f" (attempt {self.attempt})" if self.attempt else ""
                    last = f": {self.last_error}" if self.last_error else ""
                    raise ConnectFailed(
                        f"not connected to {self.label}, {self.state}{detail}{last}"
                    )
                self._cond.wait(min(remaining, POLL))

    def _open_direct(self, host: str, port: int, origin: tuple[str, int]) -> paramiko.Channel:
        transport = self._transport_now(self.connect_timeout)
        return transport.open_channel(
            "direct-tcpip", (host, port), origin, timeout=self.connect_timeout
        )

    def _exec(self, command: str, timeout: float) -> paramiko.Channel:
        """A session channel running ``command``; each step bounded by ``timeout``."""
        transport = self._transport_now(timeout)
        chan = transport.open_session(timeout=timeout)
        # exec_command waits for the server's reply without a timeout of its own:
        # closing the channel ends that wait.
        timer = threading.Timer(timeout, chan.close)
        timer.name = "auren-ssh-exec-timeout"
        timer.daemon = True
        timer.start()
        try:
            chan.exec_command(command)
        except BaseException:
            chan.close()
            raise
        finally:
            timer.cancel()
            timer.join()
        return chan

    def docker_command(self) -> str:
        """The server-side command that connects stdin/stdout to the Docker API."""
        if self.profile.docker_host:
            return f"docker -H {shlex.quote(self.profile.docker_host)} system dial-stdio"
        return "docker system dial-stdio"

    def _open_docker(self, origin: tuple[str, int]) -> paramiko.Channel:
        return self._exec(self.docker_command(), self.connect_timeout)

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        """A local ``(host, port)`` reaching ``host:port`` as the server sees it.

        Created on first use; the same address for the life of this object,
        reconnects included.
        """
        with self._cond:
            if self._closed:
                raise ConnectFailed(f"the connection to {self.label} is closed")
            forwarder = self._forwarders.get((host, port))
            if forwarder is None:
                forwarder = TcpForwarder(
                    lambda origin: self._open_direct(host, port, origin),
                    name=f"{self.label}->{host}:{port}",
                    send_timeout=self.send_timeout,
                )
                forwarder.start()
                self._forwarders[(host, port)] = forwarder
            return forwarder.address

    def docker_url(self) -> str:
        """``unix://…/docker.sock``: the server's Docker API through this connection."""
        with self._cond:
            if self._closed:
                raise ConnectFailed(f"the connection to {self.label} is closed")
            if self._docker is None:
                self._docker = UnixForwarder(
                    self._open_docker,
                    name=f"{self.label}->docker",
                    filename="docker.sock",
                    send_timeout=self.send_timeout,
                )
                self._docker.start()
            return self._docker.url

    def run(self, command: str, timeout: float) -> tuple[int, str, str]:
        """Run ``command`` on the server: (exit status, stdout, stderr).

        Raises ``ConnectFailed`` when not connected (after waiting up to
        ``timeout`` for a reconnect) or if the connection drops meanwhile,
        ``TimeoutError`` when the command outlives ``timeout``.
        """
        deadline = time.monotonic() + timeout
        chan = self._exec(command, timeout)
        out, err = bytearray(), bytearray()
        try:
            while True:
                while chan.recv_ready():
                    out.extend(chan.recv(65536))
                while chan.recv_stderr_ready():
                    err.extend(chan.recv_stderr(65536))
                if chan.closed or (chan.eof_received and chan.exit_status_ready()):
                    # Data that arrived with the close.
                    while chan.recv_ready():
                        out.extend(chan.recv(65536))
                    while chan.recv_stderr_ready():
                        err.extend(chan.recv_stderr(65536))
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"command on {self.label} did not finish within {timeout:g} s"
                    )
                select.select([chan], [], [], min(remaining, POLL))
            if not chan.exit_status_ready():
                raise ConnectFailed(f"connection to {self.label} lost while running a command")
            status = chan.recv_exit_status()
        finally:
            chan.close()
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the supervisor, every forwarder and the connection; join every thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stopping.set()
            pending = self._pending
            forwarders: list[TcpForwarder | UnixForwarder] = list(self._forwarders.values())
            if self._docker is not None:
                forwarders.append(self._docker)
            self._forwarders.clear()
            self._docker = None
            self._cond.notify_all()
        if pending is not None:
            with contextlib.suppress(OSError):
                pending.shutdown(socket.SHUT_RDWR)  # aborts a handshake in progress
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(self.connect_timeout + self.heartbeat_timeout + 5)
        for forwarder in forwarders:
            forwarder.close()
        with self._cond:
            transport, self._transport = self._transport, None
        if transport is not None:
            close_transport(transport)
        log.info("%s: closed", self.label)
