"""Reading OpenSSH client config files line by line, as readconf.c does.

``ConfigReader`` follows ``Host`` blocks and ``Include``s, checks every value
of the options a connection of ours uses (even where they do not apply, as
ssh does) and keeps the first one obtained of each, with the file and line
that set it. core/transport/sshconfig.py turns what it kept into a
``HostConfig``; core/transport/sshconfig_syntax.py reads each word.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from auren_tui.core.format import display_path
from auren_tui.core.transport.sshconfig_syntax import (
    INT_MAX,
    SshConfigError,
    number,
    parse_jump,
    pattern_matches,
    seconds,
    split_args,
)

T = TypeVar("T")

_SYSTEM_DIR = "/etc/ssh"
_MAX_INCLUDE_DEPTH = 16  # readconf.c READCONF_MAX_DEPTH
WS = " \t\r\n"
_FLAGS = {"yes": True, "true": True, "no": False, "false": False}
_KEYWORDS = (
    "HostName User Port IdentityFile CertificateFile IdentitiesOnly ConnectTimeout "
    "ServerAliveInterval ServerAliveCountMax UserKnownHostsFile HostKeyAlias "
    "ProxyCommand ProxyJump Host Match Include CanonicalizeHostname"
)
_NAMES = {name.lower(): name for name in _KEYWORDS.split(" ")}
_LINE = re.compile(r"[ \t\r\n]*([^ \t\r\n=\"]*)[ \t\r\n]*=?[ \t\r\n]*")


@dataclass
class Slot(Generic[T]):
    """A single-valued option: the first value obtained wins, as in readconf.c."""

    value: T | None = None
    where: str | None = None

    def offer(self, value: T, where: str) -> None:
        if self.where is None:
            self.value, self.where = value, where


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


class ConfigReader:
    """readconf.c's read_config_file(): every line checked, only active ones applied."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.hostname: Slot[str] = Slot()
        self.user: Slot[str] = Slot()
        self.port: Slot[int] = Slot()
        self.identities_only: Slot[bool] = Slot()
        self.connect_timeout: Slot[int] = Slot()
        self.alive_interval: Slot[int] = Slot()
        self.alive_count: Slot[int] = Slot()
        self.known_hosts: Slot[tuple[str, ...]] = Slot()
        self.host_key_alias: Slot[str] = Slot()
        self.canonicalize: Slot[str] = Slot()
        self.proxy_command: Slot[str] = Slot()
        self.proxy_jump: Slot[tuple[str, ...]] = Slot()
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
        line = line.rstrip(WS + "\f")
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
            self._proxy(keyword, rest.lstrip(WS + "="), where, active)
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
