"""One SSH connection per profile, shared by everything that reaches the server.

``SshConnection`` implements the ``Connection`` protocol (core/transport/connection.py)
with paramiko:

- it logs in hop by hop (core/transport/ssh_login.py, ssh_auth.py); on every
  hop the host key is checked against known_hosts right after the key
  exchange and before authentication (core/transport/hostkeys.py); an unknown
  or changed key raises and nothing else is sent; nothing is ever added on
  its own;
- ``endpoint(host, port)`` is a local TCP port whose connections become
  ``direct-tcpip`` channels to ``host:port`` as the server sees it;
- ``docker_url()`` is a local unix socket whose connections become exec
  channels running ``docker system dial-stdio``: the Docker API through the
  same login, no second one (core/transport/ssh_docker.py);
- a supervisor thread sends a heartbeat (a global request that needs an
  answer) every few seconds and reconnects with backoff when the connection
  is lost (core/transport/ssh_keepalive.py). The local addresses stay the
  same across reconnects.

Everything is blocking and thread-safe; call it from worker threads. Every
network operation has a timeout (commands: ssh_exec.py). Errors: ssh_errors.py.

Threads: paramiko's transport thread; one supervisor (``start()``) that
polls the transport every 0.25 s and runs each heartbeat in a short-lived
thread; per forwarder one accept thread and one pump thread per forwarded
connection (core/transport/tunnels.py); a timer while an exec request is pending.
``close()`` stops and joins all of them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from pathlib import Path

import paramiko

from auren_tui.core.config import Profile
from auren_tui.core.model import ConnState
from auren_tui.core.transport.connection import DockerAccessDenied
from auren_tui.core.transport.hostkeys import HostKeyError, host_label, known_hosts_path
from auren_tui.core.transport.ssh_auth import SecretLookup
from auren_tui.core.transport.ssh_docker import docker_cli, docker_problem
from auren_tui.core.transport.ssh_errors import ConnectFailed, SetupError, SshError
from auren_tui.core.transport.ssh_exec import exec_channel, read_to_exit
from auren_tui.core.transport.ssh_keepalive import BACKOFF_MAX, BACKOFF_START, POLL, Keepalive
from auren_tui.core.transport.ssh_login import Stream, close_chain, dial, login, through
from auren_tui.core.transport.sshroute import Hop, Route, RouteError, resolve_route
from auren_tui.core.transport.tunnels import TcpForwarder, UnixForwarder

log = logging.getLogger(__name__)

SEND_TIMEOUT = 60.0  # a forwarded connection whose peer accepts nothing for this long is dropped


class SshConnection(Keepalive):
    """The ``Connection`` to one server over SSH (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        secrets: SecretLookup,
        connect_timeout: float = 10.0,
        *,
        heartbeat_interval: float | None = None,
        heartbeat_timeout: float | None = None,
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
        send_timeout: float = SEND_TIMEOUT,
        route: Route | None = None,
        ssh_config: Path | None = None,
    ) -> None:
        """``heartbeat_interval``/``heartbeat_timeout`` default to the SSH config's
        ServerAliveInterval and ServerAliveCountMax (see ``_alive``); ``route``
        to ``resolve_route(profile)``, done on the first connect."""
        self.profile = profile
        self.state: ConnState = "connecting"
        self.attempt = 0
        self.last_error: str | None = None
        self.connect_timeout = connect_timeout
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_timeout
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.send_timeout = send_timeout
        self.label = host_label(profile.host or profile.ssh_host or "?", profile.port or 22)
        self.route = route
        self.ssh_config = ssh_config  # --ssh-config: read instead of the profile's/ssh's own
        self._secrets = secrets
        self._cond = threading.Condition()  # guards everything below; notified on changes
        self._transport: paramiko.Transport | None = None
        self._carriers: list[paramiko.Transport] = []  # the jump hosts' transports, in order
        self._pending: socket.socket | paramiko.ProxyCommand | None = None  # close() aborts it
        self._closed = False
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._forwarders: dict[tuple[str, int], TcpForwarder] = {}
        self._docker: UnixForwarder | None = None
        self._docker_checked = False

    @property
    def heartbeat_interval(self) -> float:
        return self._alive()[0]

    @property
    def heartbeat_timeout(self) -> float:
        return self._alive()[1]

    def _alive(self) -> tuple[float, float]:
        """(seconds between heartbeats, seconds to wait for each answer).

        From ServerAliveInterval x ServerAliveCountMax (15 s x 3 by default): a
        heartbeat every interval, each waited on for interval x (count - 1), so
        a peer that went silent right after an answer is given up on within
        interval x count, as ``ssh`` does.
        """
        interval, count = 15.0, 3
        if self.route is not None:
            interval, count = (
                float(self.route.server.alive_interval),
                self.route.server.alive_count_max,
            )
        every = self._heartbeat_interval if self._heartbeat_interval is not None else interval
        wait = self._heartbeat_timeout
        if wait is None:
            wait = every * max(count - 1, 1)
        return every, wait

    @property
    def known_hosts(self) -> Path:
        """Where trusting the server's key writes (its first known_hosts file)."""
        if self.route is not None and self.route.server.known_hosts:
            return self.route.server.known_hosts[0]
        return known_hosts_path(self.profile)

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
            chain = self._open_chain()
        except (HostKeyError, SshError) as exc:
            self._set_state("failed", error=str(exc))
            raise
        self._install(chain)

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

    def _install(self, chain: list[paramiko.Transport]) -> None:
        old: list[paramiko.Transport] = []
        transport = chain[-1]
        with self._cond:
            closed = self._closed
            if not closed:
                if self._transport is not None:
                    old = [*self._carriers, self._transport]
                self._transport, self._carriers = transport, chain[:-1]
                self.last_error = None
                self._set_state("connected")  # with the transport, atomically
        if closed:
            close_chain(chain)
            raise ConnectFailed(f"the connection to {self.label} is closed")
        close_chain([t for t in old if t not in chain])

    def _route_now(self) -> Route:
        if self.route is None:
            try:
                self.route = resolve_route(self.profile, self.ssh_config)
            except RouteError as exc:
                raise SetupError(f"profile {self.profile.name!r}: {exc}") from None
            for warning in self.route.warnings:
                log.warning("%s", warning)
            self.label = self.route.server.label
        return self.route

    def _open_chain(self) -> list[paramiko.Transport]:
        """Log in to every hop in turn, each through the previous one's channel."""
        route = self._route_now()
        chain: list[paramiko.Transport] = []
        try:
            for hop in route.hops:
                timeout = hop.connect_timeout or self.connect_timeout
                sock = through(chain[-1], hop, timeout) if chain else self._dial(hop, timeout)
                chain.append(self._login(sock, hop, timeout))
        except BaseException:
            close_chain(chain)
            raise
        return chain

    def _dial(self, hop: Hop, timeout: float) -> Stream:
        """The first hop's byte stream, kept where ``close()`` can abort its handshake."""
        sock = dial(hop, timeout, self.label)
        with self._cond:
            if self._closed:
                sock.close()
                raise ConnectFailed(f"the connection to {self.label} is closed")
            self._pending = sock
        return sock

    def _login(
        self, sock: Stream | paramiko.Channel, hop: Hop, timeout: float
    ) -> paramiko.Transport:
        try:
            return login(sock, hop, timeout, self._secrets, self.profile.name)
        finally:
            with self._cond:
                self._pending = None

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
        return exec_channel(self._transport_now(timeout), command, timeout)

    def docker_command(self) -> str:
        """The server-side command that connects stdin/stdout to the Docker API."""
        return f"{docker_cli(self.profile)} system dial-stdio"

    def check_docker(self) -> None:
        """Raise ``DockerAccessDenied`` (one line, with the fixes) when the SSH user may
        not use the server's Docker; other failures are left to the Docker client.

        ``docker system dial-stdio`` reports a refused socket on its stderr, which
        the Docker client never shows: a short ``docker version`` first says why.
        """
        command = f"{docker_cli(self.profile)} version --format '{{{{.Server.APIVersion}}}}'"
        status, _out, err = self.run(command, self.connect_timeout)
        if status == 0:
            return
        route = self.route
        user = route.server.user if route is not None else (self.profile.user or "the SSH user")
        problem = docker_problem(self.profile.docker_command, user, self.label, err)
        if problem is not None:
            raise DockerAccessDenied(problem)

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
            checked = self._docker_checked
        if not checked:
            self.check_docker()  # outside the lock: it runs a command on the server
            with self._cond:
                self._docker_checked = True
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
        return read_to_exit(self._exec(command, timeout), deadline, timeout, self.label)

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
        if isinstance(pending, socket.socket):
            with contextlib.suppress(OSError):
                pending.shutdown(socket.SHUT_RDWR)  # aborts a handshake in progress
        elif pending is not None:
            with contextlib.suppress(Exception):
                pending.close()  # ends the ProxyCommand, which ends the handshake
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(self.connect_timeout + self.heartbeat_timeout + 5)
        for forwarder in forwarders:
            forwarder.close()
        with self._cond:
            transport, self._transport = self._transport, None
            carriers, self._carriers = self._carriers, []
        close_chain([*carriers, *([transport] if transport is not None else [])])
        log.info("%s: closed", self.label)
