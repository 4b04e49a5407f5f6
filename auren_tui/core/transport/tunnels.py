"""Local forwarders: a listening socket whose every connection is pumped to an SSH channel.

``TcpForwarder`` listens on ``127.0.0.1:<random>`` (a service's tunnel);
``UnixForwarder`` listens on a unix socket in a private temp dir (the Docker
API over ``docker system dial-stdio``). The forwarder does not know the SSH
connection: it calls ``opener`` for each accepted connection, and the opener
asks the connection's *current* transport for a channel. So the listening
address stays the same across reconnects, and clients that hold it work
again once the connection is back.

Threads: one accept thread per forwarder, one pump thread per forwarded
connection. ``close()`` stops them all and joins them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import socket
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

import paramiko

from auren_tui.core.transport.ssh_errors import first_line

log = logging.getLogger(__name__)

# Opens the channel for one accepted connection; ``origin`` is the client's address.
ChannelOpener = Callable[[tuple[str, int]], paramiko.Channel]

BUFFER = 65536
POLL = 0.5  # how often idle loops look at the stop flag
MAX_STDERR = 4096
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes with the NUL


def pump(
    sock: socket.socket,
    chan: paramiko.Channel,
    stop: threading.Event,
    send_timeout: float,
    stderr: bytearray | None = None,
) -> None:
    """Copy bytes both ways until both sides are done, the channel closes, or ``stop``.

    EOF is passed on as a half-close (``shutdown_write`` on the channel,
    ``SHUT_WR`` on the socket), which ``dial-stdio`` and most protocols need.
    Sends block at most ``send_timeout`` seconds. Channel stderr (e.g. an
    error of ``dial-stdio``) goes to ``stderr`` up to a few KiB. The caller
    closes both ends.
    """
    sock.settimeout(send_timeout)
    chan.settimeout(send_timeout)
    sock_reading = chan_reading = True
    while not stop.is_set():
        watched: list[socket.socket | paramiko.Channel] = []
        if sock_reading:
            watched.append(sock)
        if chan_reading:
            watched.append(chan)
        if not watched:
            return  # EOF both ways
        readable, _, _ = select.select(watched, [], [], POLL)
        if sock in readable:
            data = sock.recv(BUFFER)
            if data:
                chan.sendall(data)
            else:
                sock_reading = False
                chan.shutdown_write()
        if chan in readable or chan.closed:
            while chan.recv_stderr_ready():
                chunk = chan.recv_stderr(BUFFER)
                if stderr is not None and len(stderr) < MAX_STDERR:
                    stderr.extend(chunk[: MAX_STDERR - len(stderr)])
            if chan.recv_ready():
                sock.sendall(chan.recv(BUFFER))
            elif chan_reading and (chan.eof_received or chan.closed):
                chan_reading = False
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
            if chan.closed and not chan.recv_ready():
                return  # the remote end (or the whole connection) is gone


class Forwarder:
    """Accepts connections on ``listener`` and pumps each to a channel from ``opener``."""

    def __init__(
        self,
        listener: socket.socket,
        opener: ChannelOpener,
        name: str,
        send_timeout: float = 60.0,
    ) -> None:
        self._listener = listener
        self._opener = opener
        self.name = name
        self._send_timeout = send_timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, paramiko.Channel | None] = {}
        self._threads: set[threading.Thread] = set()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"auren-fwd-accept[{name}]", daemon=True
        )

    def start(self) -> None:
        self._acceptor.start()

    @property
    def connections(self) -> int:
        """Forwarded connections open right now."""
        with self._lock:
            return len(self._conns)

    def _accept_loop(self) -> None:
        self._listener.settimeout(POLL)
        while not self._stop.is_set():
            try:
                client, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                log.exception("forwarder %s: accept failed", self.name)
                self._stop.wait(POLL)
                continue
            origin = peer if isinstance(peer, tuple) else ("127.0.0.1", 0)
            with self._lock:
                if self._stop.is_set():
                    client.close()
                    return
                self._conns[client] = None
                thread = threading.Thread(
                    target=self._serve,
                    args=(client, (str(origin[0]), int(origin[1]))),
                    name=f"auren-fwd[{self.name}]",
                    daemon=True,
                )
                self._threads.add(thread)
            thread.start()

    def _serve(self, client: socket.socket, origin: tuple[str, int]) -> None:
        chan: paramiko.Channel | None = None
        stderr = bytearray()
        try:
            try:
                chan = self._opener(origin)
            except Exception as exc:
                log.info("forwarder %s: cannot open a channel: %s", self.name, first_line(exc))
                return
            with self._lock:
                if self._stop.is_set():
                    return
                self._conns[client] = chan
            pump(client, chan, self._stop, self._send_timeout, stderr)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("forwarder %s: connection ended: %s", self.name, first_line(exc))
        except Exception:
            log.exception("forwarder %s: pump failed", self.name)
        finally:
            if stderr:
                text = stderr.decode(errors="replace").strip().splitlines()
                log.warning("forwarder %s: remote said: %s", self.name, text[0] if text else "")
            with self._lock:
                self._conns.pop(client, None)
                self._threads.discard(threading.current_thread())
            _close_pair(client, chan)

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, end every forwarded connection, join every thread."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once on Linux
        self._listener.close()
        with self._lock:
            pairs = list(self._conns.items())
            threads = list(self._threads)
        for client, chan in pairs:
            _close_pair(client, chan)
        if self._acceptor.is_alive() and self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout)
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            leftover = [t.name for t in self._threads if t.is_alive()]
        if leftover or self._acceptor.is_alive():
            log.warning("forwarder %s: threads still running after close: %s", self.name, leftover)


def _close_pair(client: socket.socket, chan: paramiko.Channel | None) -> None:
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)
    client.close()
    if chan is not None:
        with contextlib.suppress(Exception):
            chan.close()


class TcpForwarder(Forwarder):
    """``127.0.0.1:<random port>`` → a channel per connection."""

    def __init__(
        self, opener: ChannelOpener, name: str, host: str = "127.0.0.1", send_timeout: float = 60.0
    ) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((host, 0))
            listener.listen(64)
        except BaseException:
            listener.close()
            raise
        sockname = listener.getsockname()
        self.address: tuple[str, int] = (str(sockname[0]), int(sockname[1]))
        super().__init__(listener, opener, name, send_timeout)


class UnixForwarder(Forwarder):
    """A unix socket in a private (0700) temp dir → a channel per connection."""

    def __init__(
        self, opener: ChannelOpener, name: str, filename: str, send_timeout: float = 60.0
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="auren-ssh-"))
        if len(str(self.directory / filename)) > MAX_SOCKET_PATH:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = Path(tempfile.mkdtemp(prefix="auren-ssh-", dir="/tmp"))
        self.path = self.directory / filename
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.path))
            os.chmod(self.path, 0o600)
            listener.listen(64)
        except BaseException:
            listener.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        super().__init__(listener, opener, name, send_timeout)
        # Also at interpreter exit, if close() is never called.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def close(self, timeout: float = 5.0) -> None:
        super().close(timeout)
        self._cleanup()
