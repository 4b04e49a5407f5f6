"""Reaching and logging in to one hop of a route: dial, handshake, host key, login.

The first hop is dialled over TCP (or through the ProxyCommand the profile
allows); each later hop through a ``direct-tcpip`` channel of the one before.
On every hop the host key is checked right after the key exchange, before
any user name, key or password is sent (core/transport/hostkeys.py), then
``authenticate`` logs in (core/transport/ssh_auth.py). ``SshConnection``
(core/transport/ssh.py) chains the hops and keeps the result.
"""

from __future__ import annotations

import logging
import re
import shlex
import socket
from collections.abc import Sequence

import paramiko

from auren_tui.core.transport.hostkeys import (
    check_host_key,
    close_transport,
    known_key_types,
    preferred_algorithms,
)
from auren_tui.core.transport.ssh_auth import SecretLookup, authenticate
from auren_tui.core.transport.ssh_errors import AuthFailed, ConnectFailed, SetupError, reason
from auren_tui.core.transport.sshroute import Hop

log = logging.getLogger(__name__)

Stream = socket.socket | paramiko.ProxyCommand
"""What the first hop's SSH runs over: a TCP connection, or a ProxyCommand."""


def dial(hop: Hop, timeout: float, label: str) -> Stream:
    """The first hop's byte stream: a TCP connection, or the allowed ProxyCommand."""
    if hop.proxy_command:
        command = expand_proxy_command(hop)
        log.info("%s: ProxyCommand %s", label, command)
        try:
            # Run as ssh runs it (the user's shell syntax), never without consent:
            # resolve_route refuses it unless the profile allows it.
            return paramiko.ProxyCommand(shlex.join(["/bin/sh", "-c", f"exec {command}"]))
        except paramiko.SSHException as exc:
            raise ConnectFailed(
                f"cannot start the ProxyCommand for {hop.label}: {reason(exc)}"
            ) from None
    try:
        return socket.create_connection((hop.hostname, hop.port), timeout=timeout)
    except OSError as exc:
        raise ConnectFailed(f"cannot reach {hop.named(hop.label)}: {reason(exc)}") from exc


def through(carrier: paramiko.Transport, hop: Hop, timeout: float) -> paramiko.Channel:
    """A direct-tcpip channel of the previous hop to this one."""
    try:
        return carrier.open_channel(
            "direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0), timeout=timeout
        )
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise ConnectFailed(
            f"the jump host cannot reach {hop.named(hop.label)}: {reason(exc)}"
        ) from exc


def login(
    sock: Stream | paramiko.Channel,
    hop: Hop,
    timeout: float,
    secrets: SecretLookup,
    profile_name: str,
) -> paramiko.Transport:
    """SSH over ``sock`` to ``hop``: handshake, host key check, then login.

    On any failure the transport and ``sock`` are closed before it raises
    (``HostKeyError``, ``AuthFailed`` naming the hop, or ``ConnectFailed``).
    """
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
                f"SSH handshake with {hop.named(hop.label)} failed: {reason(exc)}"
            ) from exc
        # Before anything else is sent: no user name, no key, no password.
        role = "" if hop.is_server else hop.role
        check_host_key(hop.known_hosts, hop.hostname, hop.port, key, role)
        authenticate(transport, hop, secrets, profile_name)
    except BaseException as exc:
        if isinstance(exc, AuthFailed):
            exc.hop = hop
        if transport is not None:
            close_transport(transport)
        sock.close()
        raise
    return transport


def close_chain(chain: Sequence[paramiko.Transport]) -> None:
    """Close the server's transport first, then each jump host's, backwards."""
    for transport in reversed(chain):
        close_transport(transport)


_TOKENS = re.compile(r"%(.)")


def expand_proxy_command(hop: Hop) -> str:
    """ProxyCommand's tokens, as ssh expands them (%h %p %r %n %%)."""
    values = {"h": hop.hostname, "p": str(hop.port), "r": hop.user, "n": hop.alias, "%": "%"}

    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if token not in values:
            raise SetupError(f"ProxyCommand for {hop.alias}: unknown token %{token}")
        value = values[token]
        return value if value == "%" else shlex.quote(value)

    return _TOKENS.sub(one, hop.proxy_command or "")
