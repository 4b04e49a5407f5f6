"""SshConnection against the real harness sshd: auth, host keys, tunnels, docker, reconnects."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from pydantic import SecretStr

from auren_tui.core.config import Profile
from auren_tui.core.transport.connection import Connection, DockerAccessDenied
from auren_tui.core.transport.hostkeys import (
    HostKeyChanged,
    KnownHostsUnreadable,
    UnknownHostKey,
    trust,
)
from auren_tui.core.transport.ssh import SshConnection
from auren_tui.core.transport.ssh_auth import SecretLookup
from auren_tui.core.transport.ssh_errors import AuthFailed, ConnectFailed
from tests.services.base import ServiceUnavailable, free_port, unavailable
from tests.services.docker import DockerEngine
from tests.services.netns import ServerNamespace
from tests.services.redis import Redis
from tests.services.sshd import Sshd, _descendant_levels

pytestmark = pytest.mark.services


# -- helpers --------------------------------------------------------------------------


def eventually(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def our_threads() -> list[str]:
    """Threads started by auren-tui's SSH code or paramiko that are still alive."""
    return [
        t.name
        for t in threading.enumerate()
        if t.is_alive() and (t.name.startswith("auren-") or isinstance(t, paramiko.Transport))
    ]


def assert_no_leaks() -> None:
    assert eventually(lambda: not our_threads(), 5), our_threads()


def secrets(**values: str) -> SecretLookup:
    stored = {k: SecretStr(v) for k, v in values.items()}
    return stored.get


def no_secrets(name: str) -> SecretStr | None:
    return None


def key_profile(server: Sshd, known_hosts: Path, **kw: object) -> Profile:
    fields: dict[str, object] = {
        "name": "test",
        "host": server.host,
        "port": server.port,
        "user": server.key_user,
        "auth": "key",
        "key_file": server.key_path,
        "known_hosts": known_hosts,
    }
    fields.update(kw)
    return Profile(**fields)  # type: ignore[arg-type]


def password_profile(server: Sshd, known_hosts: Path) -> Profile:
    return key_profile(
        server, known_hosts, user=server.password_user, auth="password", key_file=None
    )


def sshd_log_since(server: Sshd, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode(errors="replace")


def exchange(address: tuple[str, int], payload: bytes, timeout: float = 10) -> bytes:
    """Send ``payload``, half-close, read until EOF."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks: list[bytes] = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


class EchoServer:
    """A TCP echo server on loopback (one thread per connection; echoes until EOF)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.listener = socket.create_server((host, 0))
        self.port = int(self.listener.getsockname()[1])
        self.threads: list[threading.Thread] = []
        self.accepted = 0
        self._stop = False
        self.thread = threading.Thread(target=self._accept, name="echo-accept", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            t = threading.Thread(target=self._echo, args=(conn,), name="echo", daemon=True)
            self.threads.append(t)
            t.start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            with contextlib.suppress(OSError):
                while data := conn.recv(65536):
                    conn.sendall(data)

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        self.thread.join(5)
        for t in self.threads:
            t.join(5)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def known_hosts(sshd: Sshd, tmp_path: Path) -> Path:
    return sshd.write_known_hosts(tmp_path / "known_hosts")


@pytest.fixture
def conn(sshd: Sshd, known_hosts: Path) -> Iterator[SshConnection]:
    c = SshConnection(key_profile(sshd, known_hosts), no_secrets)
    c.start()
    yield c
    c.close()
    assert_no_leaks()


def private_sshd(**kw: object) -> Sshd:
    server = Sshd(**kw)  # type: ignore[arg-type]
    try:
        server.start()
    except ServiceUnavailable as exc:
        server.close()
        unavailable(exc)
    return server


# -- connecting and authenticating ----------------------------------------------------


def test_key_auth_connects_and_runs(sshd: Sshd, known_hosts: Path) -> None:
    c: Connection = SshConnection(key_profile(sshd, known_hosts), no_secrets)  # mypy: conforms
    assert isinstance(c, SshConnection)
    assert c.state == "connecting"
    began = time.monotonic()
    c.start()
    connect_seconds = time.monotonic() - began
    try:
        assert (c.state, c.attempt, c.last_error) == ("connected", 0, None)
        assert c.run("id -un", timeout=10) == (0, f"{sshd.key_user}\n", "")
        assert c.run("echo out; echo err >&2; exit 3", timeout=10) == (3, "out\n", "err\n")
        big = c.run("head -c 300000 /dev/zero | tr '\\0' x", timeout=10)
        assert big[0] == 0
        assert big[1] == "x" * 300000
    finally:
        c.close()
    assert_no_leaks()
    print(f"connect (key auth): {connect_seconds * 1000:.0f} ms")
    assert connect_seconds < 5


def test_run_timeout(conn: SshConnection) -> None:
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.5 s"):
        conn.run("sleep 30", timeout=0.5)
    assert time.monotonic() - began < 3
    assert conn.run("echo still fine", timeout=10)[1] == "still fine\n"


def test_password_auth_never_leaks_the_password(
    sshd: Sshd, known_hosts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # paramiko's own debug log included
    profile = password_profile(sshd, known_hosts)
    c = SshConnection(profile, secrets(ssh_password=sshd.password))
    c.start()
    try:
        assert c.run("id -un", timeout=10)[1] == f"{sshd.password_user}\n"
    finally:
        c.close()

    wrong = sshd.password + "-wrong"
    bad = SshConnection(profile, secrets(ssh_password=wrong))
    with pytest.raises(AuthFailed) as info:
        bad.start()
    bad.close()
    message = str(info.value)
    assert message == (
        f"password login as {sshd.password_user}@[{sshd.host}]:{sshd.port} was refused "
        "(wrong password?)"
    )
    assert bad.state == "failed"
    assert bad.last_error == message

    records = caplog.records
    assert records, "paramiko logged at debug level"
    for text in [message, repr(info.value), repr(bad), caplog.text] + [
        r.getMessage() for r in records
    ]:
        assert sshd.password not in text
        assert wrong not in text
    assert_no_leaks()


def test_password_missing_from_keyring(sshd: Sshd, known_hosts: Path) -> None:
    c = SshConnection(password_profile(sshd, known_hosts), no_secrets)
    with pytest.raises(AuthFailed, match="no SSH password is stored for profile 'test'"):
        c.connect()
    c.close()


def test_wrong_key_is_refused(sshd: Sshd, known_hosts: Path, tmp_path: Path) -> None:
    other = tmp_path / "id_other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    c = SshConnection(key_profile(sshd, known_hosts, key_file=other), no_secrets)
    with pytest.raises(AuthFailed, match=r"key login as .* was refused"):
        c.connect()
    c.close()
    c = SshConnection(key_profile(sshd, known_hosts, key_file=tmp_path / "nope"), no_secrets)
    with pytest.raises(AuthFailed, match=r"cannot read key file .*nope: No such file"):
        c.connect()
    c.close()
    assert_no_leaks()


def test_encrypted_key_uses_the_stored_passphrase(
    sshd: Sshd, known_hosts: Path, tmp_path: Path
) -> None:
    key = tmp_path / "id_enc"
    key.write_bytes(sshd.key_path.read_bytes())
    key.chmod(0o600)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-P", "", "-N", "s3cret-phrase", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    profile = key_profile(sshd, known_hosts, key_file=key)

    c = SshConnection(profile, no_secrets)
    with pytest.raises(AuthFailed, match="is encrypted and no passphrase is stored"):
        c.connect()
    c.close()

    c = SshConnection(profile, secrets(key_passphrase="wrong"))
    with pytest.raises(AuthFailed, match=r"cannot decrypt key file .* \(wrong passphrase\?\)"):
        c.connect()
    c.close()

    c = SshConnection(profile, secrets(key_passphrase="s3cret-phrase"))
    c.connect()
    try:
        assert c.run("id -un", timeout=10)[1] == f"{sshd.key_user}\n"
    finally:
        c.close()
    assert_no_leaks()


def test_agent_auth(
    sshd: Sshd, known_hosts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        assert eventually(sock.exists, 10)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        profile = key_profile(sshd, known_hosts, auth="agent", key_file=None)
        c = SshConnection(profile, no_secrets)
        with pytest.raises(AuthFailed, match="the SSH agent has no keys"):
            c.connect()
        c.close()

        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(sshd.key_path)], env=env, check=True)
        c = SshConnection(profile, no_secrets)
        c.connect()
        try:
            assert c.run("id -un", timeout=10)[1] == f"{sshd.key_user}\n"
        finally:
            c.close()
    finally:
        agent.terminate()
        agent.wait(10)
    assert_no_leaks()


def test_unreachable_is_connect_failed(tmp_path: Path) -> None:
    port = free_port()
    profile = Profile(name="gone", host="127.0.0.1", port=port, known_hosts=tmp_path / "kh")
    c = SshConnection(profile, no_secrets, connect_timeout=2)
    with pytest.raises(
        ConnectFailed, match=rf"cannot reach \[127.0.0.1\]:{port}: Connection refused"
    ):
        c.start()
    assert c.state == "failed"
    c.close()
    assert_no_leaks()


def test_not_an_ssh_server_times_out(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never says a word
    port = silent.getsockname()[1]
    try:
        profile = Profile(name="mute", host="127.0.0.1", port=port, known_hosts=tmp_path / "kh")
        c = SshConnection(profile, no_secrets, connect_timeout=1)
        began = time.monotonic()
        with pytest.raises(ConnectFailed, match=r"SSH handshake with .* failed"):
            c.connect()
        assert time.monotonic() - began < 5
        c.close()
    finally:
        silent.close()
    assert_no_leaks()


# -- host keys ------------------------------------------------------------------------


def test_unknown_host_key_nothing_authenticated(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    offset = sshd.log_path.stat().st_size
    c = SshConnection(key_profile(sshd, known), no_secrets)
    with pytest.raises(UnknownHostKey) as info:
        c.start()
    c.close()
    expected = subprocess.run(
        ["ssh-keygen", "-lf", str(sshd.host_key_path.with_suffix(".pub")), "-E", "sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    err = info.value
    assert err.fingerprint == expected
    assert (err.host, err.port, err.key_type) == (sshd.host, sshd.port, "ssh-ed25519")
    assert err.known_hosts == known
    assert not known.exists()  # never auto-added
    assert c.state == "failed"

    assert eventually(lambda: "[preauth]" in sshd_log_since(sshd, offset), 10)
    log = sshd_log_since(sshd, offset)
    assert "Accepted" not in log
    assert "Failed" not in log
    assert sshd.key_user not in log

    # What the TUI does after the operator said yes.
    trust(known, err.host, err.port, err.key)
    c = SshConnection(key_profile(sshd, known), no_secrets)
    c.start()
    assert c.state == "connected"
    c.close()
    assert_no_leaks()


def test_unreadable_known_hosts_fails_before_connecting(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.mkdir()
    c = SshConnection(key_profile(sshd, known), no_secrets)
    with pytest.raises(KnownHostsUnreadable):
        c.connect()
    assert c.state == "failed"
    c.close()
    assert_no_leaks()


def test_changed_host_key_is_refused_before_auth(sshd: Sshd, tmp_path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True
    )
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(
        f"# my servers\nunrelated.example {other}\n[{sshd.host}]:{sshd.port} {other}\n"
    )
    offset = sshd.log_path.stat().st_size
    profile = password_profile(sshd, known)
    c = SshConnection(profile, secrets(ssh_password=sshd.password))
    with pytest.raises(HostKeyChanged) as info:
        c.start()
    c.close()
    err = info.value
    assert (err.known_hosts_path, err.line_number) == (known, 3)
    text = str(err)
    assert "\n" not in text
    assert f"[{sshd.host}]:{sshd.port} has CHANGED (SHA256:" in text
    assert f"{known} line 3" in text
    assert c.state == "failed"
    assert c.last_error == text

    assert eventually(lambda: "[preauth]" in sshd_log_since(sshd, offset), 10)
    log = sshd_log_since(sshd, offset)
    assert "Accepted" not in log
    assert "Failed password" not in log
    assert "Failed" not in log
    assert sshd.password_user not in log  # the user name was never even sent
    assert known.read_text().count("\n") == 3  # untouched
    assert_no_leaks()


# -- tunnels --------------------------------------------------------------------------


def test_endpoint_tunnels_tcp(conn: SshConnection, echo: EchoServer) -> None:
    address = conn.endpoint("127.0.0.1", echo.port)
    assert address[0] == "127.0.0.1"
    assert address[1] != echo.port
    assert conn.endpoint("127.0.0.1", echo.port) == address  # one forwarder per target
    assert exchange(address, b"hello") == b"hello"
    payload = os.urandom(3 * 1024 * 1024)  # well past the SSH window
    assert exchange(address, payload) == payload

    # Many at once.
    results: list[bool] = []

    def one(i: int) -> None:
        data = f"conn {i} ".encode() * 1000
        results.append(exchange(address, data) == data)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [True] * 12


def test_endpoint_to_a_closed_port_closes_the_client(conn: SshConnection, echo: EchoServer) -> None:
    dead = conn.endpoint("127.0.0.1", free_port())
    with socket.create_connection(dead, timeout=10) as s:
        s.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(10) == b""
    # The connection and the other tunnels are fine.
    assert exchange(conn.endpoint("127.0.0.1", echo.port), b"ok") == b"ok"
    assert conn.state == "connected"


def test_endpoint_reaches_what_only_the_server_sees() -> None:
    """A Redis on the loopback of a network namespace: only the server's sshd can reach it."""
    try:
        ns = ServerNamespace().start()
    except ServiceUnavailable as exc:
        unavailable(exc)
    redis = Redis(host="127.0.0.1", netns=ns.name)
    server = Sshd(host=ns.server_ip, netns=ns.name)
    try:
        try:
            redis.start()
            server.start()
        except ServiceUnavailable as exc:
            unavailable(exc)
        known = Path(server.workdir or ".") / "client_known_hosts"
        server.write_known_hosts(known)
        c = SshConnection(key_profile(server, known), no_secrets)
        c.start()
        try:
            address = c.endpoint("127.0.0.1", redis.port)
            with socket.create_connection(address, timeout=10) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                assert s.recv(64) == b"+PONG\r\n"
        finally:
            c.close()
    finally:
        server.close()
        redis.close()
        ns.close()
    assert_no_leaks()


# -- docker through dial-stdio --------------------------------------------------------


@pytest.fixture(scope="module")
def docker_sshd() -> Iterator[Sshd]:
    """An sshd whose users are in the ``docker`` group (the engine's socket group)."""
    if subprocess.run(["getent", "group", "docker"], capture_output=True).returncode:
        pytest.skip("no docker group on this machine")
    server = private_sshd(extra_groups=["docker"])
    yield server
    server.close()


@pytest.fixture
def reachable_engine(docker_engine: DockerEngine) -> Iterator[DockerEngine]:
    """The engine's dir is 0700 root: let the ssh users reach the socket inside for the test."""
    workdir = docker_engine.workdir
    assert workdir is not None
    mode = workdir.stat().st_mode & 0o7777
    workdir.chmod(0o711)
    try:
        yield docker_engine
    finally:
        workdir.chmod(mode)


def test_docker_through_dial_stdio(
    docker_sshd: Sshd, reachable_engine: DockerEngine, tmp_path: Path
) -> None:
    import docker

    known = docker_sshd.write_known_hosts(tmp_path / "known_hosts")
    profile = key_profile(docker_sshd, known, docker_host=reachable_engine.base_url)
    c = SshConnection(profile, no_secrets)
    c.start()
    try:
        url = c.docker_url()
        assert url.startswith("unix://")
        sock_path = Path(url.removeprefix("unix://"))
        assert sock_path.is_socket()
        assert (sock_path.stat().st_mode & 0o777) == 0o600
        assert c.docker_url() == url
        assert c.docker_command() == (f"docker -H {reachable_engine.base_url} system dial-stdio")

        began = time.monotonic()
        client = docker.DockerClient(base_url=url, timeout=20)
        try:
            assert client.ping() is True
            first_call = time.monotonic() - began
            version = client.version()
            assert version["ApiVersion"]
            # The same engine as the local client sees.
            local = reachable_engine.client()
            try:
                assert client.info()["ID"] == local.info()["ID"]
            finally:
                local.close()
            assert isinstance(client.containers.list(all=True), list)
            assert isinstance(client.images.list(), list)
        finally:
            client.close()
        print(f"first docker call through dial-stdio: {first_call * 1000:.0f} ms")
    finally:
        c.close()
    assert not sock_path.exists()
    assert not sock_path.parent.exists()
    assert_no_leaks()

    # No dial-stdio (or session) is left on the server either.
    def server_processes() -> str:
        ps = subprocess.run(
            ["pgrep", "-a", "-u", docker_sshd.key_user], capture_output=True, text=True
        )
        return ps.stdout

    assert eventually(lambda: not server_processes(), 10), server_processes()


def test_docker_errors_do_not_crash(
    docker_sshd: Sshd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import docker
    import docker.errors

    known = docker_sshd.write_known_hosts(tmp_path / "known_hosts")
    # In a directory every user may enter: the socket is just not there.
    missing = f"unix:///tmp/auren-no-such-docker-{uuid.uuid4().hex[:8]}.sock"
    c = SshConnection(key_profile(docker_sshd, known, docker_host=missing), no_secrets)
    c.start()
    try:
        with pytest.raises(docker.errors.DockerException, match="Connection aborted"):
            docker.DockerClient(base_url=c.docker_url(), timeout=10)
        # dial-stdio's complaint reaches the log, one line.
        assert eventually(lambda: "no-such-docker" in caplog.text, 5)
        [said] = [r.getMessage() for r in caplog.records if "remote said" in r.getMessage()][:1]
        assert "no such file" in said
        assert c.state == "connected"
        assert c.run("echo alive", timeout=10)[1] == "alive\n"
    finally:
        c.close()
    # Behind a directory the SSH user may not enter: refused, said in one line with the fixes.
    hidden = f"unix://{tmp_path}/docker.sock"
    c = SshConnection(key_profile(docker_sshd, known, docker_host=hidden), no_secrets)
    c.start()
    try:
        with pytest.raises(DockerAccessDenied) as caught:
            c.docker_url()
        message = str(caught.value)
        assert "\n" not in message
        assert f"may not use the Docker socket {tmp_path}/docker.sock (permission denied)" in (
            message
        )
        assert c.run("echo alive", timeout=10)[1] == "alive\n"
    finally:
        c.close()
    assert_no_leaks()


# -- losing the connection ------------------------------------------------------------


def test_reconnects_and_keeps_local_addresses(echo: EchoServer, tmp_path: Path) -> None:
    server = private_sshd()
    try:
        known = server.write_known_hosts(tmp_path / "known_hosts")
        c = SshConnection(
            key_profile(server, known),
            no_secrets,
            connect_timeout=3,
            heartbeat_interval=0.5,
            backoff_max=1,
        )
        c.start()
        try:
            address = c.endpoint("127.0.0.1", echo.port)
            assert exchange(address, b"before") == b"before"
            # A connection held open across the outage.
            held = socket.create_connection(address, timeout=10)

            server.stop()
            assert c.wait_state("reconnecting", timeout=10), c.state
            assert eventually(lambda: c.attempt >= 1, 10)
            assert c.last_error
            assert "\n" not in c.last_error
            # While down: calls fail in bounded time, tunnels refuse politely.
            began = time.monotonic()
            with pytest.raises(ConnectFailed, match="not connected to"):
                c.run("true", timeout=1)
            assert time.monotonic() - began < 3
            held.settimeout(10)
            with contextlib.suppress(ConnectionResetError):
                assert held.recv(10) == b""  # the old forwarded connection ended
            held.close()

            server.start()
            assert c.wait_state("connected", timeout=30), (c.state, c.last_error)
            assert c.attempt == 0
            assert c.endpoint("127.0.0.1", echo.port) == address
            assert exchange(address, b"after") == b"after"
            assert c.run("echo back", timeout=10)[1] == "back\n"
        finally:
            c.close()
    finally:
        server.close()
    assert_no_leaks()


def test_client_waiting_during_outage_gets_through(echo: EchoServer, tmp_path: Path) -> None:
    """A connection accepted while reconnecting waits (bounded) for the new transport."""
    server = private_sshd()
    try:
        known = server.write_known_hosts(tmp_path / "known_hosts")
        c = SshConnection(
            key_profile(server, known), no_secrets, connect_timeout=8, backoff_max=0.5
        )
        c.start()
        try:
            address = c.endpoint("127.0.0.1", echo.port)
            server.stop()
            assert c.wait_state("reconnecting", timeout=10)
            result: list[bytes] = []
            t = threading.Thread(target=lambda: result.append(exchange(address, b"patient")))
            t.start()
            time.sleep(0.3)
            server.start()
            t.join(30)
            assert result == [b"patient"]
        finally:
            c.close()
    finally:
        server.close()
    assert_no_leaks()


def test_silent_server_is_detected_by_the_heartbeat(echo: EchoServer, tmp_path: Path) -> None:
    """The session's processes are frozen (TCP stays up): the heartbeat notices."""
    server = private_sshd()
    frozen: list[int] = []
    try:
        known = server.write_known_hosts(tmp_path / "known_hosts")
        c = SshConnection(
            key_profile(server, known),
            no_secrets,
            connect_timeout=3,
            heartbeat_interval=0.5,
            heartbeat_timeout=1,
        )
        c.start()
        try:
            address = c.endpoint("127.0.0.1", echo.port)
            assert exchange(address, b"x") == b"x"
            listener = int(server.pidfile.read_text())
            frozen = [pid for level in _descendant_levels(listener) for pid in level]
            assert frozen
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            assert c.wait_state("reconnecting", timeout=10), c.state
            assert c.last_error is not None
            assert "no answer for 1 s" in c.last_error
            # The listener still accepts: a new session comes up.
            assert c.wait_state("connected", timeout=20), (c.state, c.last_error)
            assert exchange(address, b"y") == b"y"
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            c.close()
    finally:
        server.close()
    assert_no_leaks()


def test_new_host_key_on_reconnect_fails_without_retrying(tmp_path: Path) -> None:
    server = private_sshd()
    try:
        known = server.write_known_hosts(tmp_path / "known_hosts")
        c = SshConnection(key_profile(server, known), no_secrets, backoff_max=0.5)
        c.start()
        try:
            server.stop()
            assert c.wait_state("reconnecting", timeout=10)
            # The "server" comes back with another host key (reinstalled, or a man in the middle).
            server.host_key_path.unlink()
            server.host_key_path.with_suffix(".pub").unlink()
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(server.host_key_path)],
                check=True,
            )
            server.start()
            assert c.wait_state("failed", timeout=30), c.state
            assert c.last_error is not None
            assert "has CHANGED" in c.last_error
            assert f"{known} line 1" in c.last_error
            assert known.read_text() == server.known_hosts_line() + "\n"  # untouched
            attempts = c.attempt
            time.sleep(1.5)
            assert (c.state, c.attempt) == ("failed", attempts)  # no more tries
            with pytest.raises(ConnectFailed, match="has CHANGED"):
                c.run("true", timeout=1)
        finally:
            c.close()
    finally:
        server.close()
    assert_no_leaks()


# -- closing --------------------------------------------------------------------------


def test_close_leaves_nothing(
    sshd: Sshd, known_hosts: Path, echo: EchoServer, tmp_path: Path
) -> None:
    before = set(threading.enumerate())
    c = SshConnection(key_profile(sshd, known_hosts), no_secrets, heartbeat_interval=0.2)
    c.start()
    address = c.endpoint("127.0.0.1", echo.port)
    url = c.docker_url()
    held = [socket.create_connection(address, timeout=10) for _ in range(3)]
    for s in held:
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"
    time.sleep(0.5)  # a few heartbeats
    began = time.monotonic()
    c.close()
    assert time.monotonic() - began < 5
    c.close()  # twice is fine
    for s in held:
        s.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(10) == b""
        s.close()
    assert not Path(url.removeprefix("unix://")).exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2)
    with pytest.raises(ConnectFailed, match="closed"):
        c.endpoint("127.0.0.1", echo.port)
    with pytest.raises(ConnectFailed, match="closed"):
        c.run("true", timeout=1)
    assert_no_leaks()
    assert eventually(lambda: set(threading.enumerate()) - before <= set(echo.threads), 5)


def test_close_during_reconnect_is_prompt(tmp_path: Path) -> None:
    """close() aborts a reconnect stuck in a handshake with a server that never answers."""
    server = private_sshd()
    silent: socket.socket | None = None
    try:
        known = server.write_known_hosts(tmp_path / "known_hosts")
        c = SshConnection(key_profile(server, known), no_secrets, connect_timeout=10)
        c.start()
        server.stop()
        silent = socket.create_server((server.host, server.port))  # accepts, never speaks
        assert c.wait_state("reconnecting", timeout=10)
        assert eventually(lambda: c._pending is not None, 10)
        began = time.monotonic()
        c.close()
        assert time.monotonic() - began < 3
    finally:
        if silent is not None:
            silent.close()
        server.close()
    assert_no_leaks()
