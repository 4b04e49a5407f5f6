"""A Docker API socket that passes every call to a real engine, except the ones a
test tells it to break.

The restore tests point a profile's ``docker_host`` at this socket, so the
whole real path stays in place (auren-tui → SSH → ``docker system
dial-stdio`` on the server → here → the real dockerd); only the chosen call
fails, the way it fails in production: the daemon answers an error, the
connection drops before the request reaches the daemon, or the daemon does
it and the answer is lost. A call can also be held until the test releases
it (to kill a process or drop SSH at exactly that step).

Every request is one connection (auren-tui's Docker client sends
``Connection: close``), so the proxy reads one request, decides, forwards it
and pipes the answer back until the engine closes.
"""

from __future__ import annotations

import contextlib
import re
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Fault = Literal["error", "drop", "lose-answer", "hold"]


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    fault: Fault
    times: int = 1
    skip: int = 0
    """Matching calls to let through before the first one is broken."""
    release: threading.Event = field(default_factory=threading.Event)
    hit: threading.Event = field(default_factory=threading.Event)
    """Set when the rule first matched (for ``hold``: the call is being held)."""
    done: threading.Event = field(default_factory=threading.Event)
    """Set when a held call has been forwarded (or abandoned) after its release."""
    abandoned: bool = False

    def abandon(self) -> None:
        """Release a held call without forwarding it: it never reaches the daemon."""
        self.abandoned = True
        self.release.set()


class DockerFaultProxy:
    """Listens on ``path``; forwards to the engine socket ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.dir = Path(tempfile.mkdtemp(prefix="dkf-", dir="/tmp"))
        self.dir.chmod(0o711)
        self.path = self.dir / "docker.sock"
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> DockerFaultProxy:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        self.path.chmod(0o666)  # the SSH user's dial-stdio connects here
        sock.listen(64)
        self._sock = sock
        thread = threading.Thread(target=self._accept, name="docker-fault-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def fail(self, method: str, path: str, fault: Fault, times: int = 1, skip: int = 0) -> Rule:
        """Break ``times`` calls of ``method`` whose path matches ``path``, after
        letting ``skip`` of them through."""
        rule = Rule(method.upper(), re.compile(path), fault, times, skip)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            for rule in self.rules:
                if not rule.release.is_set():
                    rule.abandon()
            self.rules.clear()
            self.seen.clear()

    def close(self) -> None:
        self._closed.set()
        self.clear()
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    # -- serving -------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self.seen.append((method, path))
            for rule in self.rules:
                if rule.times > 0 and rule.method == method and rule.path.search(path):
                    if rule.skip > 0:
                        rule.skip -= 1
                        continue
                    rule.times -= 1
                    rule.hit.set()
                    return rule
        return None

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, body = head.partition(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, path = request_line.split(" ")[:2]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                chunk = client.recv(65536)
                if not chunk:
                    return
                body += chunk
            rule = self._match(method, path)
            if rule is not None and rule.fault == "error":
                text = b'{"message":"injected failure"}'
                client.sendall(
                    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(text), text)
                )
                return
            if rule is not None and rule.fault == "drop":
                return  # the connection ends before the daemon saw anything
            if rule is not None and rule.fault == "hold":
                rule.release.wait(120)
                if rule.abandoned:
                    rule.done.set()
                    return
            # One request per connection, whatever the client asked for: the engine
            # then closes after its answer, which ends the copy below.
            lines = [x for x in head.split(b"\r\n") if not x.lower().startswith(b"connection:")]
            head = b"\r\n".join([*lines, b"Connection: close"])
            try:
                answer = self._forward(head + b"\r\n\r\n" + body)
            finally:
                if rule is not None:
                    rule.done.set()
            if rule is not None and rule.fault == "lose-answer":
                return  # the daemon did it; the client never hears
            with contextlib.suppress(OSError):
                client.sendall(answer)

    def _forward(self, request: bytes) -> bytes:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with upstream:
            upstream.connect(str(self.target))
            upstream.sendall(request)
            parts = []
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                parts.append(chunk)
        return b"".join(parts)


def proxy_for(engine_socket: Path) -> DockerFaultProxy:
    return DockerFaultProxy(engine_socket).start()


__all__ = ["DockerFaultProxy", "Rule", "proxy_for"]
