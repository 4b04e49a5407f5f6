"""OpenSSH client config: resolve a host alias as ``ssh`` would, and say where each value came from.

Why our own reader: paramiko's ``SSHConfig`` has no ``Include`` and keeps no
line numbers, so it can neither read a modern ``~/.ssh/config`` (a
``conf.d/*`` include is common) nor tell an operator *which line* set the user,
port or key that auren-tui is about to use. This module follows OpenSSH's
``readconf.c`` (checked against ``ssh -G`` in the tests) for the options the
connection uses; every other keyword is skipped. It opens nothing but config
files: no key is read, no ``ProxyCommand`` run, no name resolved.

Where it knowingly differs from ``ssh`` (OpenSSH 9.2 as Debian 12 ships it):
- ``Match`` is not evaluated: its block is skipped and a warning recorded
  (``Match all`` is the one criterion that needs no evaluating, and applies).
  ``CanonicalizeHostname`` is not applied either, and is reported the same way.
- ``~`` and ``%d`` are ``$HOME`` (as everywhere in auren-tui); ssh takes the
  passwd entry, which is the same directory unless ``$HOME`` was changed.
- Keywords ssh does not know are skipped (ssh refuses them); a ``Port`` given
  as a service name (``Port ssh``) is refused (ssh looks it up in /etc/services).
- Identity files that expand to the same path are listed once.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from auren_tui.core.transport.sshconfig_reader import ConfigReader, Slot
from auren_tui.core.transport.sshconfig_syntax import (
    SshConfigError,
    canonical_host,
    expand,
    expand_paths,
    tokens_for,
)

# Written with ``~`` on purpose: expanded each time they are read, so $HOME at call time counts.
DEFAULT_FILES: tuple[Path, ...] = (Path("~/.ssh/config"), Path("/etc/ssh/ssh_config"))
OPENSSH_DEFAULT = "OpenSSH default"
# fill_default_options(), in the order `ssh -G` lists them (Debian's build has XMSS).
_KEY_TYPES = ("rsa", "ecdsa", "ecdsa_sk", "ed25519", "ed25519_sk", "xmss", "dsa")
_DEFAULT_IDENTITIES = tuple(f"~/.ssh/id_{kind}" for kind in _KEY_TYPES)
_DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")


@dataclass(frozen=True)
class HostConfig:
    """What ``ssh ALIAS`` would use, with the config line behind each value."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[Path, ...]
    """Expanded (``~``, %-tokens, ${VAR}); OpenSSH's default list when none is configured."""
    identity_files_default: bool
    identities_only: bool
    certificate_files: tuple[Path, ...]
    proxy_jump: tuple[str, ...]
    """The hops as written, in order; parse each with parse_jump()."""
    proxy_command: str | None
    """As written, tokens unexpanded: never run by this module."""
    user_known_hosts_files: tuple[Path, ...]
    connect_timeout: float | None
    """None when unset, ``none`` or 0 (0 is no timeout to ssh, no waiting at all to paramiko)."""
    server_alive_interval: int
    server_alive_count_max: int
    sources: Mapping[str, str] = field(hash=False)
    """Field name -> ``"~/.ssh/config line 12"`` or OPENSSH_DEFAULT (lists: their first value)."""
    warnings: tuple[str, ...]
    """What was read but not applied, e.g. a Match block; each names its file and line."""


def resolve(alias: str, files: Sequence[Path] | None = None) -> HostConfig:
    """The options ``ssh ALIAS`` would use, from ``files`` or, when None, from DEFAULT_FILES.

    DEFAULT_FILES are read like ssh reads them when given no ``-F``: a missing one
    is skipped, ``~/.ssh/config`` must not be writable by others, and relative
    Includes in the system file are under /etc/ssh. An explicit list is like
    ``ssh -F FILE``: only those files, each must exist (SshConfigError if not).
    Raises SshConfigError, one line naming file and line, where ssh would refuse.
    """
    if not alias:
        raise SshConfigError("no host alias given")
    reader = ConfigReader(alias)
    if files is None:
        # As ssh: the user's file (permissions checked), then the system one.
        for index, path in enumerate(DEFAULT_FILES):
            reader.read_top(path.expanduser(), user=index == 0, check=index == 0, must_exist=False)
    else:
        for path in files:
            path = path.expanduser()
            system = path.is_absolute() and path.parts[1:3] == ("etc", "ssh")
            reader.read_top(path, user=not system, check=False, must_exist=True)
    return _host_config(reader)


def _host_config(reader: ConfigReader) -> HostConfig:
    """Defaults filled in, then tokens expanded, as ssh.c does after reading the files."""
    hostname = reader.alias
    if reader.hostname.value is not None:
        hostname = expand(reader.hostname.value, {"h": reader.alias}, str(reader.hostname.where))
    hostname = canonical_host(hostname)
    if (reader.canonicalize.value or "no").lower() not in ("no", "false"):
        reader.warnings.append(
            f"{reader.canonicalize.where}: CanonicalizeHostname is not applied by auren-tui "
            "(Host blocks are matched against the name as given)"
        )
    port, user = reader.port.value or 22, reader.user.value or getpass.getuser()
    tokens = tokens_for(reader.alias, hostname, port, user, reader.host_key_alias.value)
    identities = [(raw, where) for raw, where in reader.identities if raw.lower() != "none"]
    if not reader.identities:
        identities = [(raw, OPENSSH_DEFAULT) for raw in _DEFAULT_IDENTITIES]
    known = reader.known_hosts.value or _DEFAULT_KNOWN_HOSTS
    known_where = reader.known_hosts.where or OPENSSH_DEFAULT
    if [name.lower() for name in known] == ["none"]:
        known = ()
    command, timeout = reader.proxy_command.value, reader.connect_timeout.value
    # For a list, the line of its first value (or of the "none" that emptied it).
    listed = {
        "identity_files": (identities or reader.identities or [("", OPENSSH_DEFAULT)])[0][1],
        "certificate_files": (reader.certificates or [("", OPENSSH_DEFAULT)])[0][1],
    }
    slots: dict[str, Slot[Any]] = {
        "hostname": reader.hostname,
        "port": reader.port,
        "user": reader.user,
        "identities_only": reader.identities_only,
        "proxy_jump": reader.proxy_jump,
        "proxy_command": reader.proxy_command,
        "user_known_hosts_files": reader.known_hosts,
        "connect_timeout": reader.connect_timeout,
        "server_alive_interval": reader.alive_interval,
        "server_alive_count_max": reader.alive_count,
    }
    sources = {name: slot.where or OPENSSH_DEFAULT for name, slot in slots.items()} | listed
    return HostConfig(
        alias=reader.alias,
        hostname=hostname,
        port=port,
        user=user,
        identity_files=expand_paths(identities, tokens),
        identity_files_default=not reader.identities,
        identities_only=bool(reader.identities_only.value),
        certificate_files=expand_paths(reader.certificates, tokens),
        proxy_jump=reader.proxy_jump.value or (),
        proxy_command=None if command is None or command.lower() == "none" else command,
        user_known_hosts_files=expand_paths([(name, known_where) for name in known], tokens),
        connect_timeout=float(timeout) if timeout else None,
        server_alive_interval=reader.alive_interval.value or 0,
        server_alive_count_max=3 if reader.alive_count.value is None else reader.alive_count.value,
        sources=MappingProxyType(sources),
        warnings=tuple(reader.warnings),
    )
