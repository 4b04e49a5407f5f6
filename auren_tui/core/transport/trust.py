"""Trusting a host key: ``auren-tui profile trust NAME``, hop by hop.

The fingerprint is shown and the operator asked before anything is written;
a changed key is never overwritten. The checks and the known_hosts file
itself are core/transport/hostkeys.py; the TUI asks the same question in
its own dialog (dialogs/trust_host.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

import paramiko

from auren_tui.core.format import display_path
from auren_tui.core.transport.hostkeys import (
    HostKeyChanged,
    KnownHostsUnreadable,
    UnknownHostKey,
    check_host_key,
    fetch_host_key,
    fingerprint_sha256,
    host_label,
    known_key_types,
    trust,
)
from auren_tui.core.transport.ssh import SshConnection
from auren_tui.core.transport.ssh_errors import AuthFailed, SshError, first_line

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import SecretStr

    from auren_tui.core.config import Profile
    from auren_tui.core.paths import Locations
    from auren_tui.core.transport.sshroute import Route


def trust_host(
    profile: Profile,
    locations: Locations,
    assume_yes: bool,
    out: TextIO,
    inp: TextIO | None = None,
    timeout: float = 10.0,
    secrets: Callable[[str], SecretStr | None] | None = None,
) -> int:
    """``auren-tui profile trust NAME``: show the host key, ask, record it. Returns the exit code.

    0: trusted now or already; 1: refused, changed, or unreachable. A changed
    key is never overwritten. known_hosts is the hop's (profile, SSH config,
    or ~/.ssh/known_hosts); ``locations.ssh_config`` is ``--ssh-config``.
    Behind jump hosts (or a ProxyCommand) each hop's key is checked in turn by
    logging in to the hops before it (``secrets`` gives their passphrase or
    password); a server's key is then recorded before its own login, which
    may fail without undoing it.
    """
    from auren_tui.core.transport.sshroute import RouteError, resolve_route

    try:
        route = resolve_route(profile, locations.ssh_config)
    except RouteError as exc:
        out.write(f"profile {profile.name!r}: {exc}\n")
        return 1
    server = route.server
    if route.jumps or server.proxy_command:
        return _trust_route(profile, route, assume_yes, out, inp, timeout, secrets)
    label = server.label
    try:
        prefer = known_key_types(server.known_hosts, server.hostname, server.port)
    except KnownHostsUnreadable as exc:
        out.write(f"{exc}\n")
        return 1
    try:
        key = fetch_host_key(server.hostname, server.port, timeout, prefer=prefer)
    except (OSError, paramiko.SSHException, EOFError) as exc:
        out.write(f"cannot fetch the host key of {label}: {first_line(exc)}\n")
        return 1
    try:
        check_host_key(server.known_hosts, server.hostname, server.port, key)
    except HostKeyChanged as exc:
        _show(out, label, key)
        out.write(f"{exc}\n")
        return 1
    except UnknownHostKey as exc:
        return _ask_and_trust(exc, label, assume_yes, out, inp)
    _show(out, label, key)
    out.write(f"This key is already trusted in {display_path(server.known_hosts[0])}.\n")
    return 0


def _show(out: TextIO, label: str, key: paramiko.PKey) -> None:
    out.write(f"Host:        {label}\n")
    out.write(f"Key type:    {key.get_name()}\n")
    out.write(f"Fingerprint: {fingerprint_sha256(key)}\n")


def _ask_and_trust(
    exc: UnknownHostKey, label: str, assume_yes: bool, out: TextIO, inp: TextIO | None
) -> int:
    _show(out, label, exc.key)
    if not assume_yes:
        out.write("Trust this host key? [y/N] ")
        out.flush()
        answer = (inp if inp is not None else sys.stdin).readline()
        if not answer.endswith("\n"):
            out.write("\n")
        if answer.strip().lower() not in ("y", "yes"):
            out.write("Not trusted; known_hosts unchanged.\n")
            return 1
    line = trust(exc.known_hosts, exc.host, exc.port, exc.key)
    out.write(f"Trusted: added to {display_path(exc.known_hosts)} line {line}.\n")
    return 0


def _trust_route(
    profile: Profile,
    route: Route,
    assume_yes: bool,
    out: TextIO,
    inp: TextIO | None,
    timeout: float,
    secrets: Callable[[str], SecretStr | None] | None,
) -> int:
    """Log in hop by hop; each unknown key on the way is shown and (if accepted) trusted."""
    trusted = 0
    for _ in range(len(route.hops) + 1):
        conn = SshConnection(profile, secrets or (lambda _name: None), timeout, route=route)
        try:
            conn.connect()
        except UnknownHostKey as exc:
            label = f"{exc.role} {host_label(exc.host, exc.port)}".strip()
            if _ask_and_trust(exc, label, assume_yes, out, inp) != 0:
                return 1
            trusted += 1
            continue
        except HostKeyChanged as exc:
            out.write(f"{exc}\n")
            return 1
        except AuthFailed as exc:
            if exc.hop is not None and not exc.hop.is_server:
                out.write(f"cannot check the hops after it: {exc}\n")
                return 1
            # Every host key on the way was checked before this login failed.
            out.write(f"Every host key on the way is trusted (login then failed: {exc}).\n")
            return 0
        except SshError as exc:
            out.write(f"cannot check the host keys of {route.server.label}: {exc}\n")
            return 1
        finally:
            conn.close()
        if not trusted:
            hops = ", ".join(h.label for h in route.hops)
            out.write(f"Every host key on the way is already trusted ({hops}).\n")
        return 0
    return 1
