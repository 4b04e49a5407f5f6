"""One SSH connection per profile, shared by everything that reaches the server.

``SshConnection`` implements the ``Connection`` protocol (core/transport/connection.py)
with paramiko:

- the host key is checked against known_hosts right after the key exchange
  and before authentication (core/transport/hostkeys.py); an unknown or changed key
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
connection (core/transport/tunnels.py); a timer while an exec request is pending.
``close()`` stops and joins all of them.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import paramiko
from pydantic import SecretStr

from auren_tui.core.config import Profile
from auren_tui.core.format import display_path
from auren_tui.core.model import ConnState
from auren_tui.core.transport.connection import DockerAccessDenied
from auren_tui.core.transport.hostkeys import (
    HostKeyError,
    check_host_key,
    close_transport,
    host_label,
    known_hosts_path,
    known_key_types,
    preferred_algorithms,
)
from auren_tui.core.transport.sshroute import Hop, Route, RouteError, resolve_route
from auren_tui.core.transport.tunnels import TcpForwarder, UnixForwarder

log = logging.getLogger(__name__)

# Returns a secret of this profile by name: "ssh_password", "key_passphrase".
SecretLookup = Callable[[str], SecretStr | None]

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

    hop: Hop | None = None
    """The hop that refused (set by ``_login``): a jump host's or the server's."""


class SetupError(SshError):
    """The profile or the SSH config cannot be used as written (never retried)."""


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
            _close_chain(chain)
            raise ConnectFailed(f"the connection to {self.label} is closed")
        _close_chain([t for t in old if t not in chain])

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
                sock = self._through(chain[-1], hop, timeout) if chain else self._dial(hop, timeout)
                chain.append(self._login(sock, hop, timeout))
        except BaseException:
            _close_chain(chain)
            raise
        return chain

    def _dial(self, hop: Hop, timeout: float) -> socket.socket | paramiko.ProxyCommand:
        """The first hop's byte stream: a TCP connection, or the allowed ProxyCommand."""
        if hop.proxy_command:
            command = _expand_proxy_command(hop)
            log.info("%s: ProxyCommand %s", self.label, command)
            try:
                # Run as ssh runs it (the user's shell syntax), never without consent:
                # resolve_route refuses it unless the profile allows it.
                sock: socket.socket | paramiko.ProxyCommand = paramiko.ProxyCommand(
                    shlex.join(["/bin/sh", "-c", f"exec {command}"])
                )
            except paramiko.SSHException as exc:
                raise ConnectFailed(
                    f"cannot start the ProxyCommand for {hop.label}: {_reason(exc)}"
                ) from None
        else:
            try:
                sock = socket.create_connection((hop.hostname, hop.port), timeout=timeout)
            except OSError as exc:
                raise ConnectFailed(f"cannot reach {hop.named(hop.label)}: {_reason(exc)}") from exc
        with self._cond:
            if self._closed:
                sock.close()
                raise ConnectFailed(f"the connection to {self.label} is closed")
            self._pending = sock
        return sock

    @staticmethod
    def _through(carrier: paramiko.Transport, hop: Hop, timeout: float) -> paramiko.Channel:
        """A direct-tcpip channel of the previous hop to this one."""
        try:
            return carrier.open_channel(
                "direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0), timeout=timeout
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectFailed(
                f"the jump host cannot reach {hop.named(hop.label)}: {_reason(exc)}"
            ) from exc

    def _login(
        self,
        sock: socket.socket | paramiko.ProxyCommand | paramiko.Channel,
        hop: Hop,
        timeout: float,
    ) -> paramiko.Transport:
        transport: paramiko.Transport | None = None
        try:
            transport = paramiko.Transport(sock)
            transport.banner_timeout = timeout
            transport.handshake_timeout = timeout
            transport.auth_timeout = timeout
            options = transport.get_security_options()
            known = known_key_types(hop.known_hosts, hop.hostname, hop.port)
            options.key_types = preferred_algorithms(known, options.key_types)
            try:
                transport.start_client(timeout=timeout)
                key = transport.get_remote_server_key()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise ConnectFailed(
                    f"SSH handshake with {hop.named(hop.label)} failed: {_reason(exc)}"
                ) from exc
            # Before anything else is sent: no user name, no key, no password.
            role = "" if hop.is_server else hop.role
            check_host_key(hop.known_hosts, hop.hostname, hop.port, key, role)
            self._authenticate(transport, hop)
        except BaseException as exc:
            if isinstance(exc, AuthFailed):
                exc.hop = hop
            if transport is not None:
                close_transport(transport)
            sock.close()
            raise
        finally:
            with self._cond:
                self._pending = None
        return transport

    # -- authentication ------------------------------------------------------------

    def _authenticate(self, transport: paramiko.Transport, hop: Hop) -> None:
        who = hop.named(hop.who)
        tried: list[str] = []
        try:
            if hop.auth == "password":
                self._auth_password(transport, hop.user, who)
            else:
                self._auth_keys(transport, hop, who, tried)
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(exc.allowed_types) or "nothing"
            raise AuthFailed(
                f"{who} does not accept {hop.auth} login (it allows: {allowed})"
            ) from None
        except paramiko.AuthenticationException:
            raise AuthFailed(self._refused(hop, who, tried)) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectFailed(
                f"connection to {hop.named(hop.label)} lost while logging in: {_reason(exc)}"
            ) from exc
        if not transport.is_authenticated():
            raise AuthFailed(f"{who} asks for more login steps than auren-tui supports")

    def _refused(self, hop: Hop, who: str, tried: list[str]) -> str:
        if hop.auth == "password":
            return f"password login as {who} was refused (wrong password?)"
        if hop.auth == "key":
            return f"key login as {who} was refused (is {hop.identity_files[0]} authorized?)"
        if hop.auth == "agent":
            return f"none of the SSH agent's keys is accepted for {who}"
        offered = ", ".join(tried) if tried else "nothing (no agent keys, no identity file found)"
        return f"login as {who} was refused; offered: {offered}"

    def _auth_password(self, transport: paramiko.Transport, user: str, who: str) -> None:
        secret = self._secrets("ssh_password")
        if secret is None:
            raise AuthFailed(
                f"cannot log in as {who}: no SSH password is stored for profile "
                f"{self.profile.name!r}"
            )
        transport.auth_password(user, secret.get_secret_value())

    def _auth_keys(
        self, transport: paramiko.Transport, hop: Hop, who: str, tried: list[str]
    ) -> None:
        """Offer keys as ``ssh`` does: the agent's (unless IdentitiesOnly), then each
        identity file, a certificate (CertificateFile, or ``KEY-cert.pub``) before its
        plain key. Raises AuthenticationException when none is accepted."""
        if hop.auth == "agent" or (hop.auth == "auto" and not hop.identities_only):
            agent = _agent()
            try:
                keys = list(agent.get_keys()) if agent is not None else []
                if not keys and hop.auth == "agent":
                    raise AuthFailed(
                        f"cannot log in as {who}: the SSH agent has no keys "
                        "(is SSH_AUTH_SOCK set? run ssh-add)"
                    )
                if keys:
                    tried.append(f"{len(keys)} agent key(s)")
                if self._offer(transport, hop.user, keys):
                    return
            finally:
                if agent is not None:
                    agent.close()
            if hop.auth == "agent":
                raise paramiko.AuthenticationException(f"no agent key accepted for {who}")
        for path in hop.identity_files:
            loaded = self._load_key(path, hop)
            if loaded is None:
                continue
            candidates, what = loaded
            tried.append(what)
            if self._offer(transport, hop.user, candidates):
                return
        raise paramiko.AuthenticationException(f"no key accepted for {who}")

    @staticmethod
    def _offer(transport: paramiko.Transport, user: str, keys: Sequence[paramiko.PKey]) -> bool:
        for key in keys:
            try:
                transport.auth_publickey(user, key)
            except paramiko.AuthenticationException:
                if not transport.is_active():
                    raise
                continue
            if transport.is_authenticated():
                return True
        return False

    def _load_key(self, path: Path, hop: Hop) -> tuple[list[paramiko.PKey], str] | None:
        """The key at ``path`` (its certified copy first), and how it is named in errors.

        None when there is nothing to offer: a file that does not exist, or (for
        ``auto``) one that cannot be used, as ``ssh`` goes on to the next.
        """
        strict = hop.auth == "key"
        path = path.expanduser()
        if not strict and not path.exists():
            return None
        try:
            key = self._read_key(path)
        except AuthFailed as exc:
            if strict:
                raise
            log.info("%s: %s", hop.label, exc)
            return None
        keys = [key]
        certificates = [*hop.certificate_files, path.with_name(path.name + "-cert.pub")]
        for cert in dict.fromkeys(certificates):
            certified = _certified(key, cert)
            if certified is not None:
                keys.insert(0, certified)
                return keys, f"{display_path(path)} (with certificate {display_path(cert)})"
        return keys, display_path(path)

    def _read_key(self, path: Path) -> paramiko.PKey:
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
            carriers, self._carriers = self._carriers, []
        if old is not None:
            exc = old.get_exception()
            _close_chain([*carriers, old])
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

    def _docker_cli(self) -> str:
        """The docker CLI as the profile runs it, with ``-H`` when it names a socket."""
        words = [shlex.quote(w) for w in shlex.split(self.profile.docker_command)]
        if self.profile.docker_host:
            words += ["-H", shlex.quote(self.profile.docker_host)]
        return " ".join(words)

    def docker_command(self) -> str:
        """The server-side command that connects stdin/stdout to the Docker API."""
        return f"{self._docker_cli()} system dial-stdio"

    def check_docker(self) -> None:
        """Raise ``DockerAccessDenied`` (one line, with the fixes) when the SSH user may
        not use the server's Docker; other failures are left to the Docker client.

        ``docker system dial-stdio`` reports a refused socket on its stderr, which
        the Docker client never shows: a short ``docker version`` first says why.
        """
        command = f"{self._docker_cli()} version --format '{{{{.Server.APIVersion}}}}'"
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
        _close_chain([*carriers, *([transport] if transport is not None else [])])
        log.info("%s: closed", self.label)


def docker_problem(docker_command: str, user: str, where: str, stderr: str) -> str | None:
    """One line for a docker CLI failure the operator must fix on the server, or None."""
    text = stderr.lower()
    if "permission denied" in text and "docker" in text:
        found = re.search(r"unix://[^\s:]+", stderr)
        socket_at = f" {found.group(0)[len('unix://') :]}" if found else ""
        return (
            f"{user}@{where} may not use the Docker socket{socket_at} (permission denied): "
            "add the user "
            f"to the docker group on the server (`sudo usermod -aG docker {user}`, then log in "
            'again), or set the profile\'s docker_command = "sudo -n docker" (with a sudoers '
            "rule that needs no password)"
        )
    if "password is required" in text or "a terminal is required" in text:
        return (
            f"`{docker_command}` on {where} asks for a password: allow it without one "
            f"(a sudoers rule `{user} ALL=(root) NOPASSWD: /usr/bin/docker`), or add "
            f'{user} to the docker group and set docker_command = "docker"'
        )
    if "not found" in text and ("docker" in text or "sudo" in text):
        first = stderr.strip().splitlines()[0] if stderr.strip() else "command not found"
        return (
            f"`{docker_command}` is not available to {user} on {where} ({first[:120]}); "
            "install the docker CLI there or set the profile's docker_command"
        )
    return None


def _close_chain(chain: Sequence[paramiko.Transport]) -> None:
    """Close the server's transport first, then each jump host's, backwards."""
    for transport in reversed(chain):
        close_transport(transport)


def _agent() -> paramiko.Agent | None:
    """The SSH agent of ``SSH_AUTH_SOCK`` (None when it cannot be reached)."""
    try:
        return paramiko.Agent()
    except (paramiko.SSHException, OSError) as exc:
        log.info("SSH agent unavailable: %s", _reason(exc))
        return None


def _certified(key: paramiko.PKey, cert: Path) -> paramiko.PKey | None:
    """A copy of ``key`` carrying the certificate at ``cert`` (None if absent or not its own)."""
    if not cert.is_file():
        return None
    try:
        copy = _copy_key(key)
        copy.load_certificate(str(cert))
    except (OSError, ValueError, paramiko.SSHException) as exc:
        log.info("certificate %s not used: %s", cert, _reason(exc))
        return None
    return copy


def _copy_key(key: paramiko.PKey) -> paramiko.PKey:
    """Another object for the same private key: a certificate is loaded onto the copy,
    so the plain key can still be offered after it."""
    return copy.copy(key)


_TOKENS = re.compile(r"%(.)")


def _expand_proxy_command(hop: Hop) -> str:
    """ProxyCommand's tokens, as ssh expands them (%h %p %r %n %%)."""
    values = {"h": hop.hostname, "p": str(hop.port), "r": hop.user, "n": hop.alias, "%": "%"}

    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if token not in values:
            raise SetupError(f"ProxyCommand for {hop.alias}: unknown token %{token}")
        value = values[token]
        return value if value == "%" else shlex.quote(value)

    return _TOKENS.sub(one, hop.proxy_command or "")
