"""The server namespace: services inside it, reached from the root namespace."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.services.base import ServiceUnavailable, unavailable
from tests.services.netns import ServerNamespace, namespaces
from tests.services.postgres import Postgres
from tests.services.redis import Redis
from tests.services.sshd import Sshd

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def ns_redis(server_ns: ServerNamespace) -> Iterator[Redis]:
    server = Redis(host=server_ns.server_ip, netns=server_ns.name)
    try:
        server.start()
    except ServiceUnavailable as exc:
        server.close()
        unavailable(exc)
    yield server
    server.close()


@pytest.fixture(scope="module")
def ns_sshd(server_ns: ServerNamespace) -> Iterator[Sshd]:
    server = Sshd(host=server_ns.server_ip, netns=server_ns.name)
    try:
        server.start()
    except ServiceUnavailable as exc:
        server.close()
        unavailable(exc)
    yield server
    server.close()


def test_namespace_has_its_own_interfaces(server_ns: ServerNamespace) -> None:
    assert server_ns.name in namespaces()
    out = server_ns.exec(["ip", "-o", "-4", "addr", "show"])
    assert out.returncode == 0, out.stderr
    assert f"{server_ns.server_ip}/30" in out.stdout
    assert "127.0.0.1/8" in out.stdout
    assert server_ns.host_ip not in out.stdout
    links = server_ns.exec(["ip", "-o", "link", "show"]).stdout
    assert {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()} == {
        "lo",
        server_ns.server_if,
    }


def test_root_side_has_host_ip(server_ns: ServerNamespace) -> None:
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", server_ns.host_if],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"{server_ns.host_ip}/30" in out.stdout


def test_redis_inside_reached_from_root_namespace(
    server_ns: ServerNamespace,
    ns_redis: Redis,
) -> None:
    assert ns_redis.host == server_ns.server_ip
    with socket.create_connection((server_ns.server_ip, ns_redis.port), timeout=5) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert s.recv(64) == b"+PONG\r\n"
        # The server sees the connection coming from the root side of the veth.
        s.sendall(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n")
        assert f"addr={server_ns.host_ip}:".encode() in s.recv(4096)


def test_redis_inside_is_not_on_root_loopback(ns_redis: Redis) -> None:
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", ns_redis.port), 1),
    ):
        pass


def test_ssh_into_sshd_inside_namespace(
    server_ns: ServerNamespace,
    ns_sshd: Sshd,
    tmp_path: Path,
) -> None:
    known = ns_sshd.write_known_hosts(tmp_path / "known_hosts")
    assert ns_sshd.known_hosts_line().startswith(f"[{server_ns.server_ip}]:{ns_sshd.port} ")
    c = paramiko.SSHClient()
    c.load_host_keys(str(known))
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.connect(
        ns_sshd.host,
        ns_sshd.port,
        username=ns_sshd.key_user,
        key_filename=str(ns_sshd.key_path),
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
    with c:
        _, stdout, _ = c.exec_command("id -un; ls /sys/class/net", timeout=10)
        lines = stdout.read().decode().split()
        assert stdout.channel.recv_exit_status() == 0
    # The shell runs inside the namespace: it sees only the namespace's interfaces.
    assert lines[0] == ns_sshd.key_user
    assert sorted(lines[1:]) == sorted(["lo", server_ns.server_if])


def test_postgres_inside_namespace(server_ns: ServerNamespace) -> None:
    server = Postgres(host=server_ns.server_ip, netns=server_ns.name)
    try:
        server.start()
        assert server.psql("select inet_server_addr()") == server_ns.server_ip
        with socket.create_connection((server_ns.server_ip, server.port), timeout=5):
            pass
    finally:
        server.close()


def test_close_removes_namespace_and_veth() -> None:
    ns = ServerNamespace()
    try:
        ns.start()
    except ServiceUnavailable as exc:
        unavailable(exc)
    try:
        assert ns.exists()
        assert ns.name in namespaces()
        assert ns.exec(["true"]).returncode == 0
    finally:
        ns.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert ns.name not in listed.stdout
    link = subprocess.run(["ip", "link", "show", ns.host_if], capture_output=True, check=False)
    assert link.returncode != 0
    assert not ns.exists()
