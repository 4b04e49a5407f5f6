"""The throwaway sshd: key and password logins with a checked host key."""

from __future__ import annotations

import base64
import pwd
import subprocess
from pathlib import Path

import paramiko
import pytest

from tests.services.base import ServiceUnavailable, unavailable
from tests.services.sshd import Sshd

pytestmark = pytest.mark.services


def client(known_hosts: Path) -> paramiko.SSHClient:
    """A client that knows only ``known_hosts`` and rejects any other host key."""
    c = paramiko.SSHClient()
    c.load_host_keys(str(known_hosts))
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    return c


def connect(server: Sshd, known_hosts: Path, **auth: object) -> paramiko.SSHClient:
    c = client(known_hosts)
    try:
        c.connect(
            server.host,
            server.port,
            timeout=10,
            banner_timeout=10,
            auth_timeout=10,
            allow_agent=False,
            look_for_keys=False,
            **auth,  # type: ignore[arg-type]
        )
    except BaseException:
        c.close()  # a failed connect leaves the transport open
        raise
    return c


def run(c: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, _ = c.exec_command(command, timeout=10)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


def key_login(server: Sshd, known_hosts: Path) -> paramiko.SSHClient:
    return connect(server, known_hosts, username=server.key_user, key_filename=str(server.key_path))


@pytest.fixture
def known_hosts(sshd: Sshd, tmp_path: Path) -> Path:
    return sshd.write_known_hosts(tmp_path / "known_hosts")


def test_known_hosts_line(sshd: Sshd) -> None:
    line = sshd.known_hosts_line()
    assert line.startswith(f"[{sshd.host}]:{sshd.port} ssh-ed25519 AAAA")
    assert len(line.split()) == 3
    pub = sshd.host_key_path.with_suffix(".pub").read_text().split()
    assert line.split()[1:] == pub[:2]


def test_key_login_runs_command(sshd: Sshd, known_hosts: Path) -> None:
    with key_login(sshd, known_hosts) as c:
        assert run(c, "id -un") == (0, f"{sshd.key_user}\n")
        assert run(c, "echo hello; exit 3") == (3, "hello\n")


def test_password_login_runs_command(sshd: Sshd, known_hosts: Path) -> None:
    with connect(sshd, known_hosts, username=sshd.password_user, password=sshd.password) as c:
        assert run(c, "id -un") == (0, f"{sshd.password_user}\n")
        assert run(c, "echo hello") == (0, "hello\n")


def test_wrong_password_is_refused(sshd: Sshd, known_hosts: Path) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        connect(sshd, known_hosts, username=sshd.password_user, password=sshd.password + "x")


def allowed_methods(server: Sshd, user: str) -> list[str]:
    """The authentication methods the server offers ``user``, host key checked."""
    kind, blob = server.host_public_key.split()
    assert kind == "ssh-ed25519"
    transport = paramiko.Transport((server.host, server.port))
    try:
        # connect(hostkey=...) raises on any other host key.
        transport.connect(hostkey=paramiko.Ed25519Key(data=base64.b64decode(blob)))
        transport.auth_none(user)
    except paramiko.BadAuthenticationType as exc:
        return sorted(exc.allowed_types)
    finally:
        transport.close()
    raise AssertionError(f"auth none accepted for {user}")


def test_password_auth_is_offered_to_password_user_only(
    sshd: Sshd,
    known_hosts: Path,
) -> None:
    assert allowed_methods(sshd, sshd.key_user) == ["publickey"]
    assert allowed_methods(sshd, sshd.password_user) == ["password", "publickey"]
    with pytest.raises(paramiko.AuthenticationException):
        connect(sshd, known_hosts, username=sshd.key_user, password=sshd.password)


def test_key_is_only_authorized_for_key_user(sshd: Sshd, known_hosts: Path) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        connect(sshd, known_hosts, username=sshd.password_user, key_filename=str(sshd.key_path))


def test_wrong_host_key_is_rejected(sshd: Sshd, tmp_path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
        check=True,
    )
    other_pub = (tmp_path / "other.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.host}]:{sshd.port} {other_pub[0]} {other_pub[1]}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        key_login(sshd, known)


def test_unknown_host_is_rejected(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        key_login(sshd, known)


def test_tcp_forwarding_is_allowed(sshd: Sshd, known_hosts: Path) -> None:
    # A direct-tcpip channel to the server's own port reads its SSH banner.
    with key_login(sshd, known_hosts) as c:
        transport = c.get_transport()
        assert transport is not None
        chan = transport.open_channel(
            "direct-tcpip", (sshd.host, sshd.port), ("127.0.0.1", 0), timeout=10
        )
        chan.settimeout(10)
        try:
            assert chan.recv(4) == b"SSH-"
        finally:
            chan.close()


def test_extra_groups_and_close_removes_everything(tmp_path: Path) -> None:
    if subprocess.run(["getent", "group", "docker"], capture_output=True).returncode:
        pytest.skip("no docker group on this machine")
    server = Sshd(extra_groups=["docker"])
    try:
        server.start()
    except ServiceUnavailable as exc:
        server.close()
        unavailable(exc)
    try:
        known = server.write_known_hosts(tmp_path / "known_hosts")
        c = key_login(server, known)
        status, groups = run(c, "id -nG")
        assert status == 0
        assert "docker" in groups.split()
        users = (server.key_user, server.password_user)
        workdir = server.workdir
        assert workdir is not None
        pid = int(server.pidfile.read_text())
        # close() must also end the session still open here.
    finally:
        server.close()
    c.close()
    for user in users:
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
        assert subprocess.run(["getent", "group", user], capture_output=True).returncode != 0
    assert not workdir.exists()
    assert not Path(f"/proc/{pid}").exists()
