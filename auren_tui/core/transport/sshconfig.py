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
import glob
import grp
import os
import pwd
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from auren_tui.core.format import display_path
from auren_tui.core.transport.sshconfig_syntax import (
    INT_MAX,
    SshConfigError,
    canonical_host,
    expand,
    expand_paths,
    number,
    parse_jump,
    pattern_matches,
    seconds,
    split_args,
    tokens_for,
)

__all__ = [
    "DEFAULT_FILES",
    "OPENSSH_DEFAULT",
    "HostConfig",
    "SshConfigError",
    "parse_jump",
    "resolve",
]

T = TypeVar("T")

# Written with ``~`` on purpose: expanded each time they are read, so $HOME at call time counts.
DEFAULT_FILES: tuple[Path, ...] = (Path("~/.ssh/config"), Path("/etc/ssh/ssh_config"))
OPENSSH_DEFAULT = "OpenSSH default"

_SYSTEM_DIR = "/etc/ssh"
_MAX_INCLUDE_DEPTH = 16  # readconf.c READCONF_MAX_DEPTH
_WS = " \t\r\n"
# fill_default_options(), in the order `ssh -G` lists them (Debian's build has XMSS).
_KEY_TYPES = ("rsa", "ecdsa", "ecdsa_sk", "ed25519", "ed25519_sk", "xmss", "dsa")
_DEFAULT_IDENTITIES = tuple(f"~/.ssh/id_{kind}" for kind in _KEY_TYPES)
_DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
_FLAGS = {"yes": True, "true": True, "no": False, "false": False}
_KEYWORDS = (
    "HostName User Port IdentityFile CertificateFile IdentitiesOnly ConnectTimeout "
    "ServerAliveInterval ServerAliveCountMax UserKnownHostsFile HostKeyAlias "
    "ProxyCommand ProxyJump Host Match Include CanonicalizeHostname"
)
_NAMES = {name.lower(): name for name in _KEYWORDS.split(" ")}
_LINE = re.compile(r"[ \t\r\n]*([^ \t\r\n=\"]*)[ \t\r\n]*=?[ \t\r\n]*")


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


@dataclass
class _Slot(Generic[T]):
    """A single-valued option: the first value obtained wins, as in readconf.c."""

    value: T | None = None
    where: str | None = None

    def offer(self, value: T, where: str) -> None:
        if self.where is None:
            self.value, self.where = value, where


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
    reader = _Reader(alias)
    if files is None:
        # As ssh: the user's file (permissions checked), then the system one.
        for index, path in enumerate(DEFAULT_FILES):
            reader.read_top(path.expanduser(), user=index == 0, check=index == 0, must_exist=False)
    else:
        for path in files:
            path = path.expanduser()
            system = path.is_absolute() and path.parts[1:3] == ("etc", "ssh")
            reader.read_top(path, user=not system, check=False, must_exist=True)
    return reader.result()


def _safe_permissions(info: os.stat_result) -> bool:
    """misc.c secure_permissions() as Debian builds it: yours or root's, not world-writable.

    Group-writable is refused upstream, but Debian's ssh accepts it when that group holds
    only the owner (a user private group, Debian's default with umask 002); so do we, or
    auren-tui would refuse a config that ssh uses on the operators' machines.
    """
    if info.st_uid not in (0, os.getuid()) or info.st_mode & 0o002:
        return False
    if not info.st_mode & 0o020:
        return True
    try:
        group, owner = grp.getgrgid(info.st_gid), pwd.getpwuid(info.st_uid)
    except KeyError:
        return False
    members = {p.pw_name for p in pwd.getpwall() if p.pw_gid == info.st_gid} | set(group.gr_mem)
    return members == {owner.pw_name}


class _Reader:
    """readconf.c's read_config_file(): every line checked, only active ones applied."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.hostname: _Slot[str] = _Slot()
        self.user: _Slot[str] = _Slot()
        self.port: _Slot[int] = _Slot()
        self.identities_only: _Slot[bool] = _Slot()
        self.connect_timeout: _Slot[int] = _Slot()
        self.alive_interval: _Slot[int] = _Slot()
        self.alive_count: _Slot[int] = _Slot()
        self.known_hosts: _Slot[tuple[str, ...]] = _Slot()
        self.host_key_alias: _Slot[str] = _Slot()
        self.canonicalize: _Slot[str] = _Slot()
        self.proxy_command: _Slot[str] = _Slot()
        self.proxy_jump: _Slot[tuple[str, ...]] = _Slot()
        self.identities: list[tuple[str, str]] = []  # (as written, where)
        self.certificates: list[tuple[str, str]] = []
        self.warnings: list[str] = []

    def read_top(self, path: Path, *, user: bool, check: bool, must_exist: bool) -> None:
        if not must_exist and not os.access(path, os.R_OK):
            return  # ssh skips a default file it cannot open, whatever the reason
        found = self._read(path, user=user, check=check, depth=0, active=True, never=False)
        if must_exist and not found:
            raise SshConfigError(f"{display_path(path)}: no such SSH config file")

    def _read(
        self, path: Path, *, user: bool, check: bool, depth: int, active: bool, never: bool
    ) -> bool:
        """One file; False when it does not exist. ``never``: parse only (an inactive Include)."""
        shown = display_path(path)
        try:
            with path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                if check and not _safe_permissions(info):
                    raise SshConfigError(
                        f"{shown}: bad owner or permissions (ssh refuses it too; "
                        "it must be yours and not writable by others: chmod go-w)"
                    )
                text = handle.read().decode("utf-8", "surrogateescape")
        except (FileNotFoundError, NotADirectoryError):
            return False
        except IsADirectoryError:
            return True  # ssh reads a directory as an empty file
        except OSError as exc:
            raise SshConfigError(f"{shown}: cannot read ({exc.strerror})") from None
        for line_number, line in enumerate(text.split("\n"), start=1):
            where = f"{shown} line {line_number}"
            try:
                active = self._line(line, where, user, depth, active, never)
            except ValueError as exc:
                raise SshConfigError(f"{where}: {exc}") from None
        return True

    def _line(
        self, line: str, where: str, user: bool, depth: int, active: bool, never: bool
    ) -> bool:
        """Apply one line; returns whether the lines after it apply (Host/Match change that)."""
        line = line.rstrip(_WS + "\f")
        head = _LINE.match(line)
        assert head is not None  # the pattern matches any string
        keyword, rest = head[1].lower(), line[head.end() :]
        if keyword.startswith("#") or (not keyword and not rest):
            return active
        if not keyword:
            raise ValueError("no keyword at the start of the line")
        name = _NAMES.get(keyword, keyword)
        if not rest:
            raise ValueError(f"no value after {name}")
        args = split_args(rest)
        if keyword == "host":
            if "" in args:
                raise ValueError("empty Host pattern")
            return not never and self._host_matches(args)
        if keyword == "match":
            if never:
                return False
            if [a.lower() for a in args] == ["all"]:
                return True
            self.warnings.append(f"{where}: Match blocks are not evaluated by auren-tui (ignored)")
            return False
        if keyword == "include":
            self._include(args, where, user, depth, active, never)
            return active
        self._option(keyword, name, rest, args, where, active)
        return active

    def _host_matches(self, patterns: list[str]) -> bool:
        matched = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            if pattern_matches(self.alias, pattern[1:] if negated else pattern):
                if negated:
                    return False  # a negated match excludes the block whatever else matched
                matched = True
        return matched

    def _include(
        self, args: list[str], where: str, user: bool, depth: int, active: bool, never: bool
    ) -> None:
        for arg in args:
            if not arg:
                raise ValueError("empty Include path")
            if arg.startswith("~") and not user:
                raise ValueError(f"bad Include path {arg!r} (~ is not allowed in a system file)")
            if not arg.startswith(("/", "~")):
                arg = ("~/.ssh/" if user else f"{_SYSTEM_DIR}/") + arg
            for match in sorted(glob.glob(os.path.expanduser(arg))):
                if depth + 1 > _MAX_INCLUDE_DEPTH:
                    raise ValueError(
                        f"Include nested more than {_MAX_INCLUDE_DEPTH} deep "
                        f"(does {display_path(match)} include itself?)"
                    )
                # Included files are read even under an inactive Host (ssh checks them too),
                # and cannot change whether the rest of this file applies.
                self._read(
                    Path(match),
                    user=user,
                    check=True,
                    depth=depth + 1,
                    active=active,
                    never=never or not active,
                )

    def _option(
        self, keyword: str, name: str, rest: str, args: list[str], where: str, active: bool
    ) -> None:
        """One of our options: its value is checked even where it does not apply, as ssh does."""
        if keyword in ("proxycommand", "proxyjump"):
            self._proxy(keyword, rest.lstrip(_WS + "="), where, active)
            return
        if keyword not in _NAMES:
            return  # ssh has hundreds of options; these are the ones a connection of ours uses
        if keyword == "userknownhostsfile":
            if "" in args:
                raise ValueError("empty UserKnownHostsFile")
            if len(args) > 1 and any(a.lower() == "none" for a in args):
                raise ValueError('UserKnownHostsFile "none" must appear alone')
            if active:
                self.known_hosts.offer(tuple(args), where)
            return
        if len(args) != 1 or not args[0]:
            raise ValueError(f"{name} takes one value" if args else f"no value after {name}")
        value = args[0]
        if keyword in ("identityfile", "certificatefile"):
            if active:
                (self.identities if keyword == "identityfile" else self.certificates).append(
                    (value, where)
                )
        elif keyword in ("hostname", "user", "hostkeyalias", "canonicalizehostname"):
            if active:
                strings = {
                    "hostname": self.hostname,
                    "user": self.user,
                    "hostkeyalias": self.host_key_alias,
                }
                strings.get(keyword, self.canonicalize).offer(value, where)
        elif keyword == "port":
            port = number(value, 65535)
            if not port:
                raise ValueError(f"bad Port {value!r} (a number 1-65535)")
            if active:
                self.port.offer(port, where)
        elif keyword == "identitiesonly":
            if value.lower() not in _FLAGS:
                raise ValueError(f"bad IdentitiesOnly {value!r} (yes or no)")
            if active:
                self.identities_only.offer(_FLAGS[value.lower()], where)
        elif keyword in ("connecttimeout", "serveraliveinterval"):
            given = None if value == "none" else seconds(value)
            if given is None and value != "none":
                raise ValueError(f"bad {name} {value!r} (seconds, e.g. 30 or 1m30s, or none)")
            slot = self.connect_timeout if keyword == "connecttimeout" else self.alive_interval
            if active and given is not None:  # "none" leaves it unset: a later line may set it
                slot.offer(given, where)
        elif keyword == "serveralivecountmax":
            count = number(value, INT_MAX)
            if count is None:
                raise ValueError(f"bad ServerAliveCountMax {value!r} (a whole number)")
            if active:
                self.alive_count.offer(count, where)

    def _proxy(self, keyword: str, value: str, where: str, active: bool) -> None:
        """ProxyCommand and ProxyJump exclude each other: the first one obtained wins.

        As in OpenSSH 10 (and Debian 12's patched 9.2): ``ProxyJump none`` only blocks later
        ProxyJump lines; any ProxyCommand (even ``none``) blocks ProxyJump; a ProxyJump host
        blocks both.
        """
        if keyword == "proxycommand":
            if active:
                self.proxy_command.offer(value, where)  # as written, comment and all
            return
        if value.lower() == "none":
            if active:
                self.proxy_jump.offer((), where)
            return
        # Up to a comment, then (as Debian's ssh 9.2 does) up to the first blank: the rest of
        # the line is dropped, and "a, b" is an empty second hop, refused here, not at dial time.
        hops = tuple(re.split(r"[ \t\r\n]", value.partition("#")[0], maxsplit=1)[0].split(","))
        for hop in hops:
            try:
                parse_jump(hop)
            except SshConfigError as exc:
                raise ValueError(str(exc)) from None
        if active and self.proxy_command.where is None and self.proxy_jump.where is None:
            self.proxy_jump.offer(hops, where)
            self.proxy_command.offer("none", where)

    def result(self) -> HostConfig:
        """Defaults filled in, then tokens expanded, as ssh.c does after reading the files."""
        hostname = self.alias
        if self.hostname.value is not None:
            hostname = expand(self.hostname.value, {"h": self.alias}, str(self.hostname.where))
        hostname = canonical_host(hostname)
        if (self.canonicalize.value or "no").lower() not in ("no", "false"):
            self.warnings.append(
                f"{self.canonicalize.where}: CanonicalizeHostname is not applied by auren-tui "
                "(Host blocks are matched against the name as given)"
            )
        port, user = self.port.value or 22, self.user.value or getpass.getuser()
        tokens = tokens_for(self.alias, hostname, port, user, self.host_key_alias.value)
        identities = [(raw, where) for raw, where in self.identities if raw.lower() != "none"]
        if not self.identities:
            identities = [(raw, OPENSSH_DEFAULT) for raw in _DEFAULT_IDENTITIES]
        known = self.known_hosts.value or _DEFAULT_KNOWN_HOSTS
        known_where = self.known_hosts.where or OPENSSH_DEFAULT
        if [name.lower() for name in known] == ["none"]:
            known = ()
        command, timeout = self.proxy_command.value, self.connect_timeout.value
        # For a list, the line of its first value (or of the "none" that emptied it).
        listed = {
            "identity_files": (identities or self.identities or [("", OPENSSH_DEFAULT)])[0][1],
            "certificate_files": (self.certificates or [("", OPENSSH_DEFAULT)])[0][1],
        }
        slots: dict[str, _Slot[Any]] = {
            "hostname": self.hostname,
            "port": self.port,
            "user": self.user,
            "identities_only": self.identities_only,
            "proxy_jump": self.proxy_jump,
            "proxy_command": self.proxy_command,
            "user_known_hosts_files": self.known_hosts,
            "connect_timeout": self.connect_timeout,
            "server_alive_interval": self.alive_interval,
            "server_alive_count_max": self.alive_count,
        }
        sources = {name: slot.where or OPENSSH_DEFAULT for name, slot in slots.items()} | listed
        return HostConfig(
            alias=self.alias,
            hostname=hostname,
            port=port,
            user=user,
            identity_files=expand_paths(identities, tokens),
            identity_files_default=not self.identities,
            identities_only=bool(self.identities_only.value),
            certificate_files=expand_paths(self.certificates, tokens),
            proxy_jump=self.proxy_jump.value or (),
            proxy_command=None if command is None or command.lower() == "none" else command,
            user_known_hosts_files=expand_paths([(name, known_where) for name in known], tokens),
            connect_timeout=float(timeout) if timeout else None,
            server_alive_interval=self.alive_interval.value or 0,
            server_alive_count_max=3 if self.alive_count.value is None else self.alive_count.value,
            sources=MappingProxyType(sources),
            warnings=tuple(self.warnings),
        )
