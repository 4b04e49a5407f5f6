"""How the rest of the code reaches a server's services: the Connection protocol.

``SshConnection`` (core/transport/ssh.py) reaches them through one SSH connection;
``LocalConnection`` reaches services on this machine directly (the built-in
``local`` profile and the demo). Both are blocking objects: call them from
worker threads, never from the UI event loop.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Protocol

from auren_tui.core.model import ConnState


class DockerAccessDenied(Exception):
    """The server's user may not use its Docker (the socket, sudo, or no docker CLI);
    one line naming the fixes."""


class Connection(Protocol):
    state: ConnState
    attempt: int  # reconnect attempt (0 when connected)
    last_error: str | None  # one line

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        """A local (host, port) that reaches ``host:port`` as seen from the server."""
        ...

    def docker_url(self) -> str | None:
        """A docker SDK base_url reaching the server's Docker Engine, or None.

        Raises ``DockerAccessDenied`` when the Engine is there but not for this user."""
        ...

    def run(self, command: str, timeout: float) -> tuple[int, str, str]:
        """Run a command on the server: (exit status, stdout, stderr)."""
        ...

    def close(self) -> None: ...


class LocalConnection:
    """Services on this machine; no SSH."""

    def __init__(self, docker_host: str | None = None) -> None:
        self.state: ConnState = "local"
        self.attempt = 0
        self.last_error: str | None = None
        self._docker_host = docker_host

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    def docker_url(self) -> str | None:
        if self._docker_host:
            return self._docker_host
        env = os.environ.get("DOCKER_HOST")
        if env:
            return env
        sock = Path("/var/run/docker.sock")
        return f"unix://{sock}" if sock.exists() else None

    def run(self, command: str, timeout: float) -> tuple[int, str, str]:
        proc = subprocess.run(  # noqa: S602 - the operator's own command, on their machine
            command, shell=True, capture_output=True, text=True, timeout=timeout, check=False
        )
        return proc.returncode, proc.stdout, proc.stderr

    def close(self) -> None:
        return None
