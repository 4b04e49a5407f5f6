"""The words of an OpenSSH client config: arguments, ProxyJump hops, numbers, times,
host patterns and names, ``~`` and %-tokens, as readconf.c and misc.c read them.

Pure text in, values out: nothing here opens a file, resolves a name or runs a
command. core/transport/sshconfig.py applies the lines; this module reads each word.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import pwd
import re
import socket
from collections.abc import Mapping
from pathlib import Path

_TIME = re.compile(r"(\+?[0-9]+)([sSmMhHdDwW]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
INT_MAX = 2**31 - 1


class SshConfigError(Exception):
    """One line: '<file> line N: <problem>'."""


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
    port = number(text, 65535)
    if not port:
        raise SshConfigError(f"ProxyJump hop {spec!r}: bad port {text!r}")
    return port


def _url_decode(text: str, spec: str) -> str:
    """misc.c urldecode(): ``+`` is a space, ``%XX`` a byte."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise SshConfigError(f"ProxyJump hop {spec!r}: bad %-escape in the user")
    return re.sub(r"%([0-9A-Fa-f]{2})|\+", lambda m: chr(int(m[1], 16)) if m[1] else " ", text)


def number(text: str, top: int) -> int | None:
    """strtonum(text, 0, top): digits with an optional '+', else None."""
    if not re.fullmatch(r"\+?[0-9]+", text) or int(text) > top:
        return None
    return int(text)


def seconds(text: str) -> int | None:
    """misc.c convtime(): ``90``, ``1m30s``, ``2h``…; None when it is not a time."""
    parts = list(_TIME.finditer(text))
    if not parts or "".join(p[0] for p in parts) != text or any(not p[2] for p in parts[:-1]):
        return None
    total = sum(int(p[1]) * _UNITS[p[2].lower()] for p in parts)
    return total if total <= INT_MAX else None


def split_args(text: str) -> list[str]:
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


def pattern_matches(name: str, pattern: str) -> bool:
    """match.c match_pattern(): only ``*`` and ``?`` are special, case matters."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def canonical_host(host: str) -> str:
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


def tokens_for(
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


def expand_paths(entries: list[tuple[str, str]], tokens: Mapping[str, str]) -> tuple[Path, ...]:
    """``~`` first, then %-tokens and ${VAR}, as ssh.c does; a path listed twice is kept once."""
    paths: list[Path] = []
    for raw, where in entries:
        path = Path(expand(_tilde(raw, where), tokens, where, dollar=True))
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


def expand(text: str, tokens: Mapping[str, str], where: str, *, dollar: bool = False) -> str:
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
