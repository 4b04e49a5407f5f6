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

import contextlib
import getpass
import glob
import grp
import hashlib
import os
import pwd
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# Written with ``~`` on purpose: expanded each time they are read, so $HOME at call time counts.
DEFAULT_FILES: tuple[Path, ...] = (Path("~/.ssh/config"), Path("/etc/ssh/ssh_config"))
OPENSSH_DEFAULT = "OpenSSH default"

_SYSTEM_DIR = "/etc/ssh"
_MAX_INCLUDE_DEPTH = 16  # readconf.c READCONF_MAX_DEPTH
_INT_MAX = 2**31 - 1
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
_TIME = re.compile(r"(\+?[0-9]+)([sSmMhHdDwW]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SshConfigError(Exception):
    """One line: '<file> line N: <problem>'."""


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


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """One ProxyJump hop as ssh reads it: ``(user, host, port)``, None where not given.

    Accepts ``[user@]host[:port]``, ``[user@][v6addr]:port`` and
    ``ssh://[user@]host[:port]``; anything else is SshConfigError, so a typo in a
    hop is reported where it was written rather than when the hop is dialled.
    """
    if spec.startswith("ssh://"):
        return _parse_uri(spec)
    user = None
    rest = spec
    if "@" in spec:  # the last '@', as parse_user_host_port()
        user, _, rest = spec.rpartition("@")
        if not user:
            raise SshConfigError(f"ProxyJump hop {spec!r}: empty user name")
    host, delim, tail = _host_delim(rest, spec)
    if delim == "/":
        raise SshConfigError(f"ProxyJump hop {spec!r}: unexpected '/'")
    return user, host, _jump_port(tail, spec) if tail else None


def _parse_uri(spec: str) -> tuple[str | None, str, int | None]:
    """``ssh://[user[;params]@]host[:port][/]`` as readconf.c's parse_ssh_uri()."""
    rest = spec[len("ssh://") :]
    user = None
    if "@" in rest:  # the first '@' here
        user, _, rest = rest.partition("@")
        user = _url_decode(user.partition(";")[0], spec)
        if not user:
            raise SshConfigError(f"ProxyJump hop {spec!r}: empty user name")
    host, delim, tail = _host_delim(rest, spec)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", host) or ".." in host:
        raise SshConfigError(f"ProxyJump hop {spec!r}: {host!r} is not a valid host name")
    port = None
    if tail and delim == ":":
        port_text, _, tail = tail.partition("/")
        port = _jump_port(port_text, spec)
    if tail:
        raise SshConfigError(f"ProxyJump hop {spec!r}: a path is not allowed")
    return user, host.removesuffix("."), port


def _host_delim(text: str, spec: str) -> tuple[str, str, str]:
    """misc.c hpdelim2(): ``[v6addr]`` or a name, then ':' or '/' and the rest."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and text[end + 1] not in ":/"):
            raise SshConfigError(f"ProxyJump hop {spec!r}: bad [address]")
        host, delim, tail = text[1:end], text[end + 1 : end + 2], text[end + 2 :]
    else:
        found = re.search(r"[:/]", text)
        cut = found.start() if found else len(text)
        host, delim, tail = text[:cut], text[cut : cut + 1], text[cut + 1 :]
    if not host:
        raise SshConfigError(f"ProxyJump hop {spec!r}: no host")
    return host, delim, tail


def _jump_port(text: str, spec: str) -> int:
    port = _number(text, 65535)
    if not port:
        raise SshConfigError(f"ProxyJump hop {spec!r}: bad port {text!r}")
    return port


def _url_decode(text: str, spec: str) -> str:
    """misc.c urldecode(): ``+`` is a space, ``%XX`` a byte."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise SshConfigError(f"ProxyJump hop {spec!r}: bad %-escape in the user")
    return re.sub(r"%([0-9A-Fa-f]{2})|\+", lambda m: chr(int(m[1], 16)) if m[1] else " ", text)


def _number(text: str, top: int) -> int | None:
    """strtonum(text, 0, top): digits with an optional '+', else None."""
    if not re.fullmatch(r"\+?[0-9]+", text) or int(text) > top:
        return None
    return int(text)


def _seconds(text: str) -> int | None:
    """misc.c convtime(): ``90``, ``1m30s``, ``2h``…; None when it is not a time."""
    parts = list(_TIME.finditer(text))
    if not parts or "".join(p[0] for p in parts) != text or any(not p[2] for p in parts[:-1]):
        return None
    total = sum(int(p[1]) * _UNITS[p[2].lower()] for p in parts)
    return total if total <= _INT_MAX else None


def _split_args(text: str) -> list[str]:
    """misc.c argv_split() with comments: quotes ('…' or "…"), \\ escapes, '#' starts a comment."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        arg: list[str] = []
        quote = ""
        while i < n:
            char = text[i]
            if (
                char == "\\"
                and i + 1 < n
                and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " "))
            ):
                i += 1
                arg.append(text[i])
            elif not quote and char in " \t":
                break
            elif not quote and char in "'\"":
                quote = char
            elif quote and char == quote:
                quote = ""
            else:
                arg.append(char)
            i += 1
        if quote:
            raise ValueError("unbalanced quotes")
        args.append("".join(arg))
    return args


def _display(path: Path | str) -> str:
    """``path`` with the home directory shown as ``~``."""
    home, text = str(Path.home()), str(path)
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


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


def _pattern_matches(name: str, pattern: str) -> bool:
    """match.c match_pattern(): only ``*`` and ``?`` are special, case matters."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def _canonical_host(host: str) -> str:
    """ssh.c: a name is lowercased, an address written canonically (``10.1`` → ``10.0.0.1``).

    It is the name ssh looks up in known_hosts, so ours must be the same. Pure parsing
    (inet_aton/inet_pton), no lookup; an address with a %scope is left as written.
    """
    canonical = None
    with contextlib.suppress(OSError):
        if re.fullmatch(r"[0-9A-Fa-fXx.]+", host):  # inet_aton() forms, nothing after them
            canonical = socket.inet_ntop(socket.AF_INET, socket.inet_aton(host))
        elif ":" in host:
            canonical = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, host))
    if canonical is not None:
        return host if canonical.lower() == host.lower() else canonical
    if "%" in host or ":" in host or not host.strip("0123456789."):
        return host  # looks like an address, but not one ssh could parse either
    return host.lower()


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
            raise SshConfigError(f"{_display(path)}: no such SSH config file")

    def _read(
        self, path: Path, *, user: bool, check: bool, depth: int, active: bool, never: bool
    ) -> bool:
        """One file; False when it does not exist. ``never``: parse only (an inactive Include)."""
        shown = _display(path)
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
        for number, line in enumerate(text.split("\n"), start=1):
            where = f"{shown} line {number}"
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
        args = _split_args(rest)
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
            if _pattern_matches(self.alias, pattern[1:] if negated else pattern):
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
                        f"(does {_display(match)} include itself?)"
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
            port = _number(value, 65535)
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
            seconds = None if value == "none" else _seconds(value)
            if seconds is None and value != "none":
                raise ValueError(f"bad {name} {value!r} (seconds, e.g. 30 or 1m30s, or none)")
            slot = self.connect_timeout if keyword == "connecttimeout" else self.alive_interval
            if active and seconds is not None:  # "none" leaves it unset: a later line may set it
                slot.offer(seconds, where)
        elif keyword == "serveralivecountmax":
            count = _number(value, _INT_MAX)
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
            hostname = _expand(self.hostname.value, {"h": self.alias}, str(self.hostname.where))
        hostname = _canonical_host(hostname)
        if (self.canonicalize.value or "no").lower() not in ("no", "false"):
            self.warnings.append(
                f"{self.canonicalize.where}: CanonicalizeHostname is not applied by auren-tui "
                "(Host blocks are matched against the name as given)"
            )
        port, user = self.port.value or 22, self.user.value or getpass.getuser()
        tokens = _tokens(self.alias, hostname, port, user, self.host_key_alias.value)
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
            identity_files=_paths(identities, tokens),
            identity_files_default=not self.identities,
            identities_only=bool(self.identities_only.value),
            certificate_files=_paths(self.certificates, tokens),
            proxy_jump=self.proxy_jump.value or (),
            proxy_command=None if command is None or command.lower() == "none" else command,
            user_known_hosts_files=_paths([(name, known_where) for name in known], tokens),
            connect_timeout=float(timeout) if timeout else None,
            server_alive_interval=self.alive_interval.value or 0,
            server_alive_count_max=3 if self.alive_count.value is None else self.alive_count.value,
            sources=MappingProxyType(sources),
            warnings=tuple(self.warnings),
        )


def _tokens(
    alias: str, hostname: str, port: int, user: str, key_alias: str | None
) -> dict[str, str]:
    """The %-tokens of ssh.c's DEFAULT_CLIENT_PERCENT_EXPAND_ARGS (OpenSSH 9.2)."""
    here = socket.gethostname()
    digest = hashlib.sha1(f"{here}{hostname}{port}{user}".encode(), usedforsecurity=False)
    return {
        "C": digest.hexdigest(),
        "L": here.split(".")[0],
        "i": str(os.getuid()),
        "k": key_alias.lower() if key_alias else alias,
        "l": here,
        "n": alias,
        "p": str(port),
        "d": str(Path.home()),
        "h": hostname,
        "r": user,
        "u": getpass.getuser(),
    }


def _paths(entries: list[tuple[str, str]], tokens: Mapping[str, str]) -> tuple[Path, ...]:
    """``~`` first, then %-tokens and ${VAR}, as ssh.c does; a path listed twice is kept once."""
    paths: list[Path] = []
    for raw, where in entries:
        path = Path(_expand(_tilde(raw, where), tokens, where, dollar=True))
        if path not in paths:
            paths.append(path)
    return tuple(paths)


def _tilde(raw: str, where: str) -> str:
    """misc.c tilde_expand(): ``~``, ``~/path``, ``~user/path`` at the very start only."""
    if not raw.startswith("~"):
        return raw
    name, _, path = raw[1:].partition("/")
    if name:
        try:
            home = pwd.getpwnam(name).pw_dir
        except KeyError:
            raise SshConfigError(f"{where}: no such user {name!r} in {raw!r}") from None
    else:
        home = str(Path.home())
    return home.rstrip("/") + "/" + path.lstrip("/")


def _expand(text: str, tokens: Mapping[str, str], where: str, *, dollar: bool = False) -> str:
    """misc.c percent_dollar_expand(): ``%%``, ``%X`` from ``tokens``, ``${VAR}`` if ``dollar``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if dollar and text.startswith("${", i):
            end = text.find("}", i + 2)
            name = text[i + 2 : end]
            if end < 0 or not name:
                raise SshConfigError(f"{where}: bad ${{…}} in {text!r}")
            if name not in os.environ:
                raise SshConfigError(f"{where}: environment variable {name} is not set ({text!r})")
            out.append(os.environ[name])
            i = end + 1
            continue
        if char == "%":
            i += 1
            key = text[i : i + 1]
            if key != "%" and key not in tokens:
                shown = f"%{key}" if key else "a lone %"
                raise SshConfigError(f"{where}: unknown token {shown} in {text!r}")
            char = "%" if key == "%" else tokens[key]
        out.append(char)
        i += 1
    return "".join(out)
