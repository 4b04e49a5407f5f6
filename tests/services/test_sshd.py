"""The throwaway sshd: key, password and certificate logins with a checked host key."""

from __future__ import annotations

import base64
import pwd
import shutil
import subprocess
from collections.abc import Iterator
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


# -- optional pieces: user CA, outsider, sudo for docker -----------------------


def has_group(name: str) -> bool:
    return subprocess.run(["getent", "group", name], capture_output=True).returncode == 0


def started(server: Sshd) -> Sshd:
    try:
        return server.start()
    except ServiceUnavailable as exc:
        server.close()
        unavailable(exc)  # skips or fails the test
        raise


@pytest.fixture(scope="module")
def ca_sshd() -> Iterator[Sshd]:
    groups = ["docker"] if has_group("docker") else []
    server = started(Sshd(user_ca=True, outsider=True, extra_groups=groups))
    yield server
    server.close()


def openssh(
    server: Sshd, user: str, key: Path, known_hosts: Path, command: str, *options: str
) -> subprocess.CompletedProcess[str]:
    """``command`` run as ``user`` by the real OpenSSH client."""
    argv = [*server.ssh_argv(user, key, known_hosts, *options), command]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def test_new_accounts_are_off_by_default(sshd: Sshd) -> None:
    assert (sshd.cert_user, sshd.outsider_user, sshd.sudoers_path) == ("", "", None)
    config = sshd.config_path.read_text()
    assert "TrustedUserCAKeys" not in config
    assert f"AllowUsers {sshd.key_user} {sshd.password_user}\n" in config
    with pytest.raises(ValueError, match="user_ca=True"):
        sshd.sign(sshd.key_path.with_suffix(".pub"), sshd.key_user)


def test_sudo_docker_needs_outsider() -> None:
    with pytest.raises(ValueError, match="outsider=True"):
        Sshd(sudo_docker=True)


def test_certificate_login_with_openssh_client(ca_sshd: Sshd, tmp_path: Path) -> None:
    known = ca_sshd.write_known_hosts(tmp_path / "known_hosts")
    cert = f"CertificateFile={ca_sshd.cert_path}"
    out = openssh(ca_sshd, ca_sshd.cert_user, ca_sshd.cert_key_path, known, "true", "-o", cert)
    assert out.returncode == 0, out.stderr
    out = openssh(ca_sshd, ca_sshd.cert_user, ca_sshd.cert_key_path, known, "id -nG", "-o", cert)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [ca_sshd.cert_user, *ca_sshd.extra_groups]
    # The server took the certificate, not a key of its own list.
    accepted = f"Accepted publickey for {ca_sshd.cert_user} "
    lines = [line for line in ca_sshd.log_path.read_text().splitlines() if accepted in line]
    assert lines
    assert all("ED25519-CERT" in line and "ID auren-test" in line for line in lines)
    assert ca_sshd.workdir is not None
    assert not (ca_sshd.workdir / "authorized_keys" / ca_sshd.cert_user).exists()


def test_certified_key_without_its_certificate_is_refused(ca_sshd: Sshd, tmp_path: Path) -> None:
    known = ca_sshd.write_known_hosts(tmp_path / "known_hosts")
    # ssh loads "<key>-cert.pub" beside a key by itself: the key alone goes elsewhere.
    bare = tmp_path / "bare_key"
    shutil.copyfile(ca_sshd.cert_key_path, bare)
    bare.chmod(0o600)
    out = openssh(ca_sshd, ca_sshd.cert_user, bare, known, "true")
    assert out.returncode == 255
    assert "Permission denied (publickey)" in out.stderr


def test_sign_certifies_for_the_named_principal_only(ca_sshd: Sshd, tmp_path: Path) -> None:
    known = ca_sshd.write_known_hosts(tmp_path / "known_hosts")
    key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cert = ca_sshd.sign(key.with_suffix(".pub"), ca_sshd.key_user)
    assert cert == tmp_path / "other-cert.pub"
    out = openssh(ca_sshd, ca_sshd.key_user, key, known, "id -un", "-o", f"CertificateFile={cert}")
    assert (out.returncode, out.stdout) == (0, f"{ca_sshd.key_user}\n"), out.stderr
    out = openssh(ca_sshd, ca_sshd.cert_user, key, known, "true", "-o", f"CertificateFile={cert}")
    assert out.returncode == 255
    assert "Permission denied" in out.stderr


def test_outsider_logs_in_outside_extra_groups(ca_sshd: Sshd, tmp_path: Path) -> None:
    known = ca_sshd.write_known_hosts(tmp_path / "known_hosts")
    with connect(
        ca_sshd,
        known,
        username=ca_sshd.outsider_user,
        key_filename=str(ca_sshd.outsider_key_path),
    ) as c:
        assert run(c, "id -nG") == (0, f"{ca_sshd.outsider_user}\n")
    with key_login(ca_sshd, known) as c:
        assert run(c, "id -nG") == (0, " ".join([ca_sshd.key_user, *ca_sshd.extra_groups]) + "\n")
    # Its key is its own: not accepted for the key user.
    with pytest.raises(paramiko.AuthenticationException):
        connect(
            ca_sshd,
            known,
            username=ca_sshd.key_user,
            key_filename=str(ca_sshd.outsider_key_path),
        )


def test_sudo_docker_lets_the_outsider_run_docker_only(tmp_path: Path) -> None:
    server = started(Sshd(outsider=True, sudo_docker=True))
    try:
        sudoers = server.sudoers_path
        assert sudoers is not None
        assert sudoers.stat().st_mode & 0o777 == 0o440
        known = server.write_known_hosts(tmp_path / "known_hosts")
        outsider = server.outsider_user, server.outsider_key_path, known
        out = openssh(server, *outsider, "sudo -n docker --version")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("Docker version")
        out = openssh(server, *outsider, "sudo -n id")
        assert out.returncode != 0
        assert "a password is required" in out.stderr
        # The rule names the outsider alone.
        out = openssh(server, server.key_user, server.key_path, known, "sudo -n docker --version")
        assert out.returncode != 0
        assert "a password is required" in out.stderr
        users = (server.key_user, server.password_user, server.outsider_user)
    finally:
        server.close()
    assert not sudoers.exists()
    for user in users:
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
        assert not (Path("/run/sudo/ts") / user).exists()
