"""Throwaway OpenSSH server: ``sshd -D -e -f <generated config>`` on a free port.

It creates two Unix accounts for the run (removed again by ``close()``):

- ``key_user`` (``auren-key-<random>``) logs in with a generated ed25519 key
  (private key at ``key_path``);
- ``password_user`` (``auren-pw-<random>``) logs in with a random ``password``
  only (``PasswordAuthentication`` is enabled for that user alone).

Optional, off by default:

- ``user_ca=True``: the server trusts a generated user CA (``TrustedUserCAKeys``);
  ``cert_user`` (``auren-cert-<random>``) logs in only with ``cert_key_path`` plus
  its certificate ``cert_path`` (the key is in no authorized_keys file);
  ``sign()`` certifies other keys;
- ``outsider=True``: ``outsider_user`` (``auren-out-<random>``) logs in with
  ``outsider_key_path`` and is in none of ``extra_groups``;
- ``sudo_docker=True`` (with ``outsider``): ``outsider_user`` may run the docker
  CLI, and nothing else, as root through ``sudo -n`` (a file in /etc/sudoers.d).

``host`` may be any address of the namespace ``netns`` (a ``NamespaceLink``
address, say). Clients check the server with ``known_hosts_line()`` (never
auto-add).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from tests.services.base import (
    ManagedProcess,
    ServiceUnavailable,
    find_binary,
    free_port,
    make_tempdir,
    netns_prefix,
    remove_tree,
    running,
    tcp_open,
    wait_until,
)

# Probe run inside a network namespace: exit 0 once the port answers with an SSH banner.
_PROBE = (
    "import socket,sys\n"
    "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1)\n"
    "sys.exit(0 if s.recv(4).startswith(b'SSH-') else 1)\n"
)


def _run(argv: Sequence[str], what: str, stdin: str | None = None) -> None:
    out = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, check=False, timeout=60
    )
    if out.returncode != 0:
        raise ServiceUnavailable(f"{what} failed ({out.returncode}): {out.stderr.strip()}")


def _uid_processes(uid: int) -> list[int]:
    """Pids of processes whose real uid is ``uid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid == uid:
                pids.append(int(entry.name))
    return pids


def _parents() -> dict[int, int]:
    """pid -> ppid of every process."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid ..." - comm may contain spaces: split after ')'
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendant_levels(root: int) -> list[list[int]]:
    """Descendants of ``root``: children, grandchildren, ... (sessions call setsid)."""
    parents = _parents()
    levels: list[list[int]] = []
    current = [root]
    while current:
        current = [pid for pid, ppid in parents.items() if ppid in current]
        if current:
            levels.append(current)
    return levels


def _kill(pids: Sequence[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


@dataclass
class Sshd:
    """One sshd with its own host key, pidfile and two (up to four) test accounts.

    ``stop()``/``start()`` keep the accounts, keys and port (outage tests);
    ``close()`` removes the accounts, the sudoers file and the temp dir.
    """

    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    extra_groups: Sequence[str] = ()
    workdir: Path | None = None
    key_user: str = ""
    password_user: str = ""
    password: str = field(default="", repr=False)
    host_public_key: str = ""
    user_ca: bool = False
    outsider: bool = False
    sudo_docker: bool = False
    cert_user: str = ""
    outsider_user: str = ""
    sudoers_path: Path | None = None
    _users: list[str] = field(default_factory=list, repr=False)
    _proc: ManagedProcess | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.sudo_docker and not self.outsider:
            raise ValueError("sshd: sudo_docker=True is for the outsider: add outsider=True")

    # -- paths ---------------------------------------------------------------

    @property
    def host_key_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "ssh_host_ed25519_key"

    @property
    def key_path(self) -> Path:
        """Private ed25519 key of ``key_user`` (OpenSSH format, no passphrase)."""
        assert self.workdir is not None
        return self.workdir / "id_ed25519"

    @property
    def ca_key_path(self) -> Path:
        """Private ed25519 key of the user CA (``user_ca=True``); ``.pub`` beside it."""
        assert self.workdir is not None
        return self.workdir / "user_ca"

    @property
    def cert_key_path(self) -> Path:
        """Private ed25519 key of ``cert_user`` (no passphrase, in no authorized_keys)."""
        assert self.workdir is not None
        return self.workdir / "id_ed25519_cert"

    @property
    def cert_path(self) -> Path:
        """The CA's certificate for ``cert_key_path`` (principal ``cert_user``, 1 h)."""
        return self.cert_key_path.with_name(self.cert_key_path.name + "-cert.pub")

    @property
    def outsider_key_path(self) -> Path:
        """Private ed25519 key of ``outsider_user`` (no passphrase)."""
        assert self.workdir is not None
        return self.workdir / "id_ed25519_outsider"

    @property
    def pidfile(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "sshd.pid"

    @property
    def config_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "sshd_config"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "sshd.log"

    def known_hosts_line(self) -> str:
        """``[host]:port ssh-ed25519 AAAA...`` for a known_hosts file."""
        return f"[{self.host}]:{self.port} {self.host_public_key}"

    def write_known_hosts(self, path: Path) -> Path:
        path.write_text(self.known_hosts_line() + "\n")
        return path

    def ssh_argv(self, user: str, key: Path, known_hosts: Path, *options: str) -> list[str]:
        """The OpenSSH client's argv for ``user@host`` with ``key`` only, the host
        key checked against ``known_hosts`` and no prompt; append the command.
        ``options`` come first: OpenSSH keeps the first value it is given."""
        ssh = find_binary("ssh", "openssh-client")
        defaults = [f"UserKnownHostsFile={known_hosts}", "StrictHostKeyChecking=yes"]
        defaults += ["IdentitiesOnly=yes", "BatchMode=yes", "ConnectTimeout=5"]
        return [
            ssh,
            "-F",
            "/dev/null",  # no user or system config on the way
            *options,
            "-i",
            str(key),
            *(arg for option in defaults for arg in ("-o", option)),
            "-p",
            str(self.port),
            f"{user}@{self.host}",
        ]

    def sign(self, public_key_path: Path, principal: str) -> Path:
        """Certify ``public_key_path`` with the user CA for ``principal``, valid from
        5 minutes ago for an hour. Returns the certificate, ``<key>-cert.pub``
        beside the key (what OpenSSH's client picks up on its own)."""
        if not self.user_ca or self.workdir is None:
            raise ValueError("sshd: sign() needs a started Sshd(user_ca=True)")
        keygen = find_binary("ssh-keygen", "openssh-client")
        ca = [keygen, "-q", "-s", str(self.ca_key_path), "-I", "auren-test"]
        _run(
            [*ca, "-n", principal, "-V", "-5m:+1h", str(public_key_path)],
            f"ssh-keygen (sign {public_key_path.name})",
        )
        return public_key_path.with_name(public_key_path.name.removesuffix(".pub") + "-cert.pub")

    # -- setup ---------------------------------------------------------------

    @staticmethod
    def _keygen(keygen: str, path: Path, comment: str, what: str) -> None:
        """A new ed25519 key pair without passphrase: ``path`` and ``path.pub``."""
        _run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            f"ssh-keygen ({what})",
        )

    def _setup(self) -> None:
        """First start: temp dir, host key, accounts, user key, config."""
        assert self.workdir is not None
        keygen = find_binary("ssh-keygen", "openssh-client")
        useradd = find_binary("useradd", "passwd")
        chpasswd = find_binary("chpasswd", "passwd")
        for group in self.extra_groups:
            if subprocess.run(["getent", "group", group], capture_output=True).returncode:
                raise ServiceUnavailable(f"sshd: group {group!r} does not exist (extra_groups)")
        # Accounts must reach their home and authorized_keys under the temp dir;
        # the secrets in it (host key, user key) are 0600 files.
        self.workdir.chmod(0o711)
        self._keygen(keygen, self.host_key_path, "auren-test-host", "host key")
        # Only "type base64", without the comment.
        pub = self.host_key_path.with_suffix(".pub").read_text().split()
        self.host_public_key = f"{pub[0]} {pub[1]}"
        self._keygen(keygen, self.key_path, "auren-test-user", "user key")

        suffix = secrets.token_hex(4)
        self.key_user = f"auren-key-{suffix}"
        self.password_user = f"auren-pw-{suffix}"
        self.password = secrets.token_urlsafe(18)
        homes = self.workdir / "home"
        homes.mkdir(mode=0o755)
        groups = ["-G", ",".join(self.extra_groups)] if self.extra_groups else []
        accounts = [(self.key_user, groups), (self.password_user, groups)]
        if self.user_ca:
            self.cert_user = f"auren-cert-{suffix}"
            accounts.append((self.cert_user, groups))
        if self.outsider:
            self.outsider_user = f"auren-out-{suffix}"
            accounts.append((self.outsider_user, []))  # in none of extra_groups
        for user, user_groups in accounts:
            # "*" instead of useradd's locked "!": with UsePAM no, sshd refuses
            # every login (keys included) to an account whose password is locked.
            _run(
                [
                    useradd,
                    "-m",
                    "-d",
                    str(homes / user),
                    "-s",
                    "/bin/sh",
                    "-U",
                    "-p",
                    "*",
                    *user_groups,
                    user,
                ],
                f"useradd {user}",
            )
            self._users.append(user)
        _run([chpasswd], "chpasswd", stdin=f"{self.password_user}:{self.password}\n")

        keys = self.workdir / "authorized_keys"
        keys.mkdir(mode=0o755)
        authorized = [(self.key_user, self.key_path)]
        if self.outsider:
            self._keygen(keygen, self.outsider_key_path, "auren-test-outsider", "outsider key")
            authorized.append((self.outsider_user, self.outsider_key_path))
        for user, key in authorized:
            auth = keys / user
            auth.write_text(key.with_suffix(".pub").read_text())
            auth.chmod(0o644)
        if self.user_ca:
            self._keygen(keygen, self.ca_key_path, "auren-test-user-ca", "user CA")
            self._keygen(keygen, self.cert_key_path, "auren-test-cert-user", "certified key")
            self.sign(self.cert_key_path.with_suffix(".pub"), self.cert_user)
        if self.sudo_docker:
            self._write_sudoers(suffix)

    def _write_sudoers(self, suffix: str) -> None:
        """Let ``outsider_user`` run the docker CLI as root without a password, only that."""
        docker = find_binary("docker", "docker.io")
        visudo = find_binary("visudo", "sudo")
        find_binary("sudo", "sudo")
        path = Path("/etc/sudoers.d") / f"auren-test-{suffix}"
        # sudo skips files whose name has a dot: the rule is checked there, then renamed.
        draft = path.with_name(path.name + ".new")
        self.sudoers_path = path
        try:
            draft.write_text(f"{self.outsider_user} ALL=(root) NOPASSWD: {docker}\n")
            draft.chmod(0o440)
            _run([visudo, "-c", "-q", "-f", str(draft)], f"visudo -cf {draft}")
            draft.replace(path)
        finally:
            draft.unlink(missing_ok=True)

    def _write_config(self) -> None:
        assert self.workdir is not None
        self.config_path.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}:{self.port}",
                    f"HostKey {self.host_key_path}",
                    f"PidFile {self.pidfile}",
                    f"AuthorizedKeysFile {self.workdir}/authorized_keys/%u",
                    *([f"TrustedUserCAKeys {self.ca_key_path}.pub"] if self.user_ca else []),
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitEmptyPasswords no",
                    "AllowTcpForwarding yes",
                    "AllowStreamLocalForwarding yes",
                    "X11Forwarding no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "UseDNS no",
                    "LogLevel VERBOSE",
                    "MaxStartups 100:30:200",
                    "Subsystem sftp internal-sftp",
                    f"AllowUsers {' '.join(self._allowed_users())}",
                    f"Match User {self.password_user}",
                    "    PasswordAuthentication yes",
                    "",
                ]
            )
        )

    def _allowed_users(self) -> list[str]:
        users = [self.key_user, self.password_user, self.cert_user, self.outsider_user]
        return [user for user in users if user]

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Sshd:
        binary = find_binary("sshd", "openssh-server")
        if self.netns:
            find_binary("ip", "iproute2")
        if os.geteuid() != 0:
            raise ServiceUnavailable("sshd: the test server needs root (accounts, sshd)")
        # Privilege separation directory, required by sshd at start.
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        self.port = self.port or free_port()
        if self.workdir is None:
            self.workdir = make_tempdir("sshd")
            try:
                self._setup()
            except BaseException:
                self.close()
                raise
        self._write_config()
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()
        check = subprocess.run(
            [binary, "-t", "-f", str(self.config_path)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise ServiceUnavailable(f"sshd: bad config: {check.stderr.strip()}")
        # sshd refuses to re-exec itself unless started with an absolute path.
        self._proc = ManagedProcess(
            [str(Path(binary).resolve()), "-D", "-e", "-f", str(self.config_path)],
            log=self.log_path,
            netns=self.netns,
        )
        proc = self._proc.start()
        wait_until(
            self._ready,
            timeout=15,
            what=f"sshd on {self.host}:{self.port}",
            proc=proc,
            log=self.log_path,
        )
        return self

    def _ready(self) -> bool:
        # The pidfile is written once the listening socket is bound.
        if not self.pidfile.exists() or not self.pidfile.read_text().strip():
            return False
        if self.netns is None:
            return tcp_open(self.host, self.port)
        probe = [*netns_prefix(self.netns), sys.executable, "-c", _PROBE, self.host, str(self.port)]
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

    def stop(self) -> None:
        """Stop the server and every session it started (``start()`` brings it back)."""
        if self._proc is not None:
            if self._proc.running():
                self._end_sessions(self._proc.pid)
            self._proc.stop()
            self._proc = None
        self._kill_user_processes()

    def drop_sessions(self) -> None:
        """End every open connection while the server keeps listening (a network
        drop, or a NAT forgetting the connection): clients must reconnect."""
        if self._proc is not None and self._proc.running():
            self._end_sessions(self._proc.pid)

    @staticmethod
    def _end_sessions(listener: int) -> None:
        """End every connection of ``listener`` without leaving orphans.

        Per-connection processes run in their own sessions, outside the group
        that ManagedProcess stops. Levels: 1 is the root monitor per connection,
        2 the unprivileged sshd, 3+ the user's commands. The commands are
        killed deepest first, so each parent reaps its child; the monitors get
        SIGTERM (forwarded to their child). A monitor exits without reaping
        that child, which init then reaps: wait for it, so that nothing, not
        even a zombie, is left when ``stop()`` returns.
        """

        def gone(pids: Sequence[int]) -> bool:
            return not any(Path(f"/proc/{p}").exists() for p in pids)

        def wait_gone(pids: Sequence[int]) -> None:
            with contextlib.suppress(ServiceUnavailable):
                wait_until(lambda: gone(pids), timeout=5, what="sshd sessions to end")

        levels = _descendant_levels(listener)
        for level in reversed(levels[2:]):
            _kill(level)
            wait_gone(level)
        everything = [pid for level in levels for pid in level]
        if levels:
            _kill(levels[0], signal.SIGTERM)
            wait_gone(everything)
        _kill(everything)  # whatever ignored SIGTERM
        wait_gone(everything)

    def _kill_user_processes(self) -> None:
        for user in self._users:
            with contextlib.suppress(KeyError):
                _kill(_uid_processes(pwd.getpwnam(user).pw_uid))

    def close(self) -> None:
        self.stop()
        if self.sudoers_path is not None:
            self.sudoers_path.unlink(missing_ok=True)
            self.sudoers_path = None
        left = []
        for user in list(self._users):
            # userdel refuses while a process of the account is alive: retry briefly.
            try:
                wait_until(partial(self._userdel, user), timeout=10, what=f"userdel {user}")
            except ServiceUnavailable:
                left.append(user)
            self._users.remove(user)
            # sudo's per-user state (Debian paths), left by any sudo run, even a refused one.
            for state in ("/run/sudo/ts", "/var/lib/sudo/lectured"):
                (Path(state) / user).unlink(missing_ok=True)
        remove_tree(self.workdir)
        if left:
            raise RuntimeError(f"sshd: could not remove test accounts {left}")

    def _userdel(self, user: str) -> bool:
        try:
            pwd.getpwnam(user)
        except KeyError:
            return True
        self._kill_user_processes()
        out = subprocess.run(["userdel", "-f", user], capture_output=True, check=False)
        return out.returncode == 0


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    yield from running(Sshd())
