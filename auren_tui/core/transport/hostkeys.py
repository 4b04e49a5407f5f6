"""Host keys: OpenSSH ``known_hosts`` files, checked before anything is sent.

A server's key is checked right after the key exchange and before any
authentication (core/transport/ssh.py), so an unverified host never sees a user name,
a key signature or a password. Nothing here ever adds a key on its own:
``trust()`` is called only after an operator has seen the fingerprint (the
TUI's dialog, or ``auren-tui profile trust NAME``: core/transport/trust.py).

Semantics follow OpenSSH: entries are looked up as ``host`` (port 22) or
``[host]:port``; hashed names (``|1|salt|hash``), comma lists, ``*``/``?``
wildcards and ``!`` negations match as in ``ssh``; a key listed under
``@revoked`` is refused; ``@cert-authority`` lines are ignored (no host
certificates). A host with a known key of another type is treated as a
changed key, not as a new one: the connection prefers the known key types,
so reaching that case means the server no longer offers the key we know.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import os
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from auren_tui.core.format import display_path

if TYPE_CHECKING:
    from auren_tui.core.config import Profile

DEFAULT_PORT = 22

# Key type in known_hosts -> the host key algorithms that prove it, in our order of preference.
_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


def fingerprint_sha256(key: paramiko.PKey) -> str:
    """``SHA256:<base64, no padding>`` of the public key blob, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def host_label(host: str, port: int) -> str:
    """The name known_hosts uses: ``host`` on port 22, ``[host]:port`` otherwise."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def default_known_hosts() -> Path:
    return Path.home() / ".ssh" / "known_hosts"


def known_hosts_path(profile: Profile) -> Path:
    """The known_hosts file a profile uses (``~/.ssh/known_hosts`` unless it names one)."""
    return profile.known_hosts.expanduser() if profile.known_hosts else default_known_hosts()


class HostKeyError(Exception):
    """The server's host key cannot be accepted; nothing was sent to it."""


class UnknownHostKey(HostKeyError):
    """No known_hosts entry for this host: an operator must look at the fingerprint first."""

    def __init__(
        self, host: str, port: int, key: paramiko.PKey, known_hosts: Path, role: str = ""
    ) -> None:
        self.host = host
        self.port = port
        self.key = key
        self.key_type = key.get_name()
        self.fingerprint = fingerprint_sha256(key)
        self.known_hosts = known_hosts
        self.role = role  # "" for the server, "jump host NAME" for a hop on the way
        super().__init__(
            f"host key for {_named(role, host, port)} is not known ({self.key_type} "
            f"{self.fingerprint}, not in {display_path(known_hosts)}); check the fingerprint "
            "with the server's administrator, then trust it "
            "(in the TUI, or `auren-tui profile trust NAME`)."
        )


class HostKeyChanged(HostKeyError):
    """The host presents another key than the one known_hosts holds for it."""

    def __init__(
        self,
        host: str,
        port: int,
        key: paramiko.PKey,
        known_hosts_path: Path,
        line_number: int,
        revoked: bool = False,
        role: str = "",
    ) -> None:
        self.role = role
        self.host = host
        self.port = port
        self.key = key
        self.key_type = key.get_name()
        self.fingerprint = fingerprint_sha256(key)
        self.known_hosts_path = known_hosts_path
        self.line_number = line_number
        self.revoked = revoked
        where = f"{display_path(known_hosts_path)} line {line_number}"
        label = _named(role, host, port)
        if revoked:
            message = (
                f"host key for {label} ({self.fingerprint}) is REVOKED ({where}); "
                "refusing to connect."
            )
        else:
            message = (
                f"host key for {label} has CHANGED ({self.fingerprint}); refusing to connect. "
                f"The known key is {where}. "
                "If the change is expected, remove that line and trust the new key."
            )
        super().__init__(message)

    @property
    def known_hosts(self) -> Path:
        return self.known_hosts_path


def _named(role: str, host: str, port: int) -> str:
    """``[host]:port``, after the role of a hop on the way: "jump host b ([h]:p)"."""
    label = host_label(host, port)
    return f"{role} ({label})" if role else label


class KnownHostsUnreadable(HostKeyError):
    """The known_hosts file exists but cannot be read: no key can be checked."""

    def __init__(self, known_hosts: Path, error: OSError) -> None:
        self.known_hosts = known_hosts
        reason = error.strerror or type(error).__name__
        super().__init__(
            f"cannot read {display_path(known_hosts)}: {reason}; no host key can be checked"
        )


@dataclass(frozen=True)
class KnownHostEntry:
    """One usable line of a known_hosts file."""

    line_number: int
    marker: str | None  # None, "@revoked" or "@cert-authority"
    patterns: tuple[str, ...]
    key_type: str
    blob: bytes

    def matches(self, name: str) -> bool:
        return _match_patterns(self.patterns, name)


def _match_patterns(patterns: Sequence[str], name: str) -> bool:
    """OpenSSH ``match_hostname``: a negated match wins; else any positive match."""
    name = name.lower()
    found = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if pattern.startswith("|1|"):
            hit = _match_hashed(pattern, name)
        else:
            hit = _glob(pattern.lower()).fullmatch(name) is not None
        if hit and negated:
            return False
        found = found or hit
    return found


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """OpenSSH patterns know only ``*`` and ``?`` (``[`` of ``[host]:port`` is literal)."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )


def _match_hashed(pattern: str, name: str) -> bool:
    parts = pattern.split("|")  # "", "1", salt, hash
    if len(parts) != 4:
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except ValueError:
        return False
    actual = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(actual, expected)


def read_entries(known_hosts: Path) -> Iterator[KnownHostEntry]:
    """The file's usable entries with their line numbers (a missing file has none)."""
    try:
        text = known_hosts.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise KnownHostsUnreadable(known_hosts, exc) from exc
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except ValueError:
            continue
        yield KnownHostEntry(number, marker, tuple(fields[0].split(",")), fields[1], blob)


KnownHosts = Path | Sequence[Path]


def _files(known_hosts: KnownHosts) -> list[Path]:
    return [known_hosts] if isinstance(known_hosts, Path) else list(known_hosts)


def known_key_types(known_hosts: KnownHosts, host: str, port: int) -> list[str]:
    """Key types the known_hosts file(s) hold for this host, in file order."""
    name = host_label(host, port)
    types: list[str] = []
    for path in _files(known_hosts):
        for entry in read_entries(path):
            if entry.marker is None and entry.key_type not in types and entry.matches(name):
                types.append(entry.key_type)
    return types


def preferred_algorithms(known_types: Sequence[str], available: Sequence[str]) -> list[str]:
    """``available`` host key algorithms, those proving a known key type first."""
    first: list[str] = []
    for key_type in known_types:
        for algorithm in _ALGORITHMS.get(key_type, (key_type,)):
            if algorithm in available and algorithm not in first:
                first.append(algorithm)
    return first + [a for a in available if a not in first]


def check_host_key(
    known_hosts: KnownHosts, host: str, port: int, key: paramiko.PKey, role: str = ""
) -> None:
    """Return if ``key`` is the known key of ``host:port``; raise otherwise.

    Several files (``UserKnownHostsFile a b``) are one list, as for ``ssh``:
    a revocation in any refuses, a match in any accepts. Raises
    ``HostKeyChanged`` (another key is known, or the key is revoked) or
    ``UnknownHostKey`` (nothing is known for this host; it names the first
    file, where trusting writes). ``role`` names a hop on the way in errors.
    """
    name = host_label(host, port)
    blob = key.asbytes()
    other: tuple[Path, KnownHostEntry] | None = None
    matched = False
    files = _files(known_hosts)
    entries = [(path, e) for path in files for e in read_entries(path) if e.matches(name)]
    for path, entry in entries:
        if entry.marker == "@revoked" and entry.blob == blob:
            raise HostKeyChanged(host, port, key, path, entry.line_number, revoked=True, role=role)
    for path, entry in entries:
        if entry.marker is not None:
            continue
        if entry.blob == blob and entry.key_type == key.get_name():
            matched = True
        elif other is None or (
            entry.key_type == key.get_name() and other[1].key_type != key.get_name()
        ):
            # Name the entry of the same type if there is one, else the first.
            other = (path, entry)
    if matched:
        return
    if other is not None:
        raise HostKeyChanged(host, port, key, other[0], other[1].line_number, role=role)
    raise UnknownHostKey(host, port, key, files[0] if files else default_known_hosts(), role)


def trust(known_hosts: Path, host: str, port: int, key: paramiko.PKey, hashed: bool = False) -> int:
    """Append ``key`` for ``host:port`` to known_hosts; return its line number.

    Creates the directory (0700) and the file (0600) if needed. Call it only
    after an operator accepted the fingerprint.
    """
    name = host_label(host, port)
    if hashed:
        name = paramiko.HostKeys.hash_host(name)
    entry = f"{name} {key.get_name()} {key.get_base64()}\n"
    known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(known_hosts, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two trusts at once must not interleave
        f.seek(0)
        existing = f.read()
        prefix = b"\n" if existing and not existing.endswith(b"\n") else b""
        f.write(prefix + entry.encode())
        f.flush()
        os.fsync(f.fileno())
    return existing.count(b"\n") + len(prefix) + 1


def fetch_host_key(
    host: str, port: int, timeout: float, prefer: Sequence[str] = ()
) -> paramiko.PKey:
    """Connect and do the key exchange only (no authentication); return the host key.

    ``prefer`` lists key types (e.g. from ``known_key_types``) to negotiate
    first, as a connection would. Raises ``OSError`` (unreachable, timeout)
    or ``paramiko.SSHException`` (not an SSH server, no common algorithm).
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        options = transport.get_security_options()
        options.key_types = preferred_algorithms(prefer, options.key_types)
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        close_transport(transport)
        sock.close()


def close_transport(transport: paramiko.Transport, timeout: float = 5.0) -> None:
    """Close a transport and wait for its thread, so that none is left behind."""
    with contextlib.suppress(Exception):
        transport.close()
    if transport.is_alive():
        transport.join(timeout)
