"""Why an SSH connection cannot be used: the errors of core/transport/ssh.py.

Each message is one line without secrets, naming the host (or the hop on the
way) and what failed; ``reason`` makes that line of a library's error.
Host key failures have their own family (core/transport/hostkeys.py).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auren_tui.core.transport.sshroute import Hop


class SshError(Exception):
    """A one-line, secret-free reason the server cannot be used."""


class ConnectFailed(SshError):
    """The server is unreachable, the handshake failed, or the connection is down."""


class AuthFailed(SshError):
    """The server refused our credentials, or we have none to offer."""

    hop: Hop | None = None
    """The hop that refused (set by ``login``): a jump host's or the server's."""


class SetupError(SshError):
    """The profile or the SSH config cannot be used as written (never retried)."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def reason(exc: BaseException) -> str:
    """One line about a library error (paramiko's messages carry no secret)."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, EOFError):
        return "closed by the server"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return first_line(exc)
