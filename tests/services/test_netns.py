"""The server namespace: services inside it, reached from the root namespace;
and a server namespace behind a bastion namespace, reached only through it."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.services.base import ServiceUnavailable, running, unavailable
from tests.services.netns import NamespaceLink, ServerNamespace, link_namespaces, namespaces
from tests.services.postgres import Postgres
from tests.services.redis import Redis
from tests.services.sshd import Sshd

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def ns_redis(server_ns: ServerNamespace) -> Iterator[Redis]:
    yield from running(Redis(host=server_ns.server_ip, netns=server_ns.name))


@pytest.fixture(scope="module")
def ns_sshd(server_ns: ServerNamespace) -> Iterator[Sshd]:
    yield from running(Sshd(host=server_ns.server_ip, netns=server_ns.name))


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


# -- root -> bastion namespace -> server namespace -----------------------------
# Both are private namespaces: the session's server_ns must keep one interface.

# Exit 0 and print the banner once host:port answers (run inside a namespace).
_BANNER = (
    "import socket,sys\n"
    "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2)\n"
    "print(s.recv(4).decode())\n"
)


def private_namespace() -> Iterator[ServerNamespace]:
    return running(ServerNamespace())


def started_sshd(server: Sshd) -> Iterator[Sshd]:
    return running(server)


@pytest.fixture(scope="module")
def bastion_ns() -> Iterator[ServerNamespace]:
    yield from private_namespace()


@pytest.fixture(scope="module")
def inner_ns() -> Iterator[ServerNamespace]:
    yield from private_namespace()


@pytest.fixture(scope="module")
def bastion_link(bastion_ns: ServerNamespace, inner_ns: ServerNamespace) -> Iterator[NamespaceLink]:
    try:
        link = link_namespaces(bastion_ns, inner_ns)
    except ServiceUnavailable as exc:
        unavailable(exc)
    yield link
    link.close()


@pytest.fixture(scope="module")
def bastion_sshd(bastion_ns: ServerNamespace) -> Iterator[Sshd]:
    yield from started_sshd(Sshd(host=bastion_ns.server_ip, netns=bastion_ns.name))


@pytest.fixture(scope="module")
def inner_sshd(inner_ns: ServerNamespace, bastion_link: NamespaceLink) -> Iterator[Sshd]:
    # Listening on the link address only; start() returning means the readiness
    # probe (run inside the namespace) saw it on that address.
    yield from started_sshd(Sshd(host=bastion_link.b_ip, netns=inner_ns.name))


def fails_to_connect(host: str, port: int) -> bool:
    """True if a connection is refused, unreachable or times out (within 2 s)."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except TimeoutError:
        return True
    except OSError as exc:
        return exc.errno in {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}
    return False


def banner_from(ns: ServerNamespace, host: str, port: int) -> str:
    out = ns.exec([sys.executable, "-c", _BANNER, host, str(port)], timeout=15)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_link_joins_two_namespaces_only(
    bastion_ns: ServerNamespace,
    inner_ns: ServerNamespace,
    bastion_link: NamespaceLink,
) -> None:
    link = bastion_link
    assert (link.a, link.b) == (bastion_ns.name, inner_ns.name)
    assert link.a_ip.startswith("10.204.")
    assert link.network == f"{link.a_ip[: -len('.1')]}.0/30"
    assert link.b_ip == f"{link.a_ip[: -len('.1')]}.2"
    for ns, dev, ip in ((bastion_ns, link.a_if, link.a_ip), (inner_ns, link.b_if, link.b_ip)):
        out = ns.exec(["ip", "-o", "-4", "addr", "show", "dev", dev])
        assert f"{ip}/30" in out.stdout, out.stderr
        # Forwarding stays off: the link is a path between these two alone.
        assert ns.exec(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "0"
    root = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True)
    assert link.a_if not in root.stdout
    assert link.b_if not in root.stdout
    assert link.network.rsplit(".", 1)[0] + "." not in root.stdout
    assert link.exists()


def test_server_behind_bastion_is_not_reachable_from_root(
    bastion_ns: ServerNamespace,
    inner_ns: ServerNamespace,
    bastion_link: NamespaceLink,
    bastion_sshd: Sshd,
    inner_sshd: Sshd,
) -> None:
    # root -> bastion
    with socket.create_connection((bastion_ns.server_ip, bastion_sshd.port), timeout=5) as s:
        assert s.recv(4) == b"SSH-"
    # bastion -> server, over the link
    assert banner_from(bastion_ns, bastion_link.b_ip, inner_sshd.port) == "SSH-"
    # root -> server's link address: root has no route into the link (the
    # default route, if any, leads elsewhere) ...
    assert fails_to_connect(bastion_link.b_ip, inner_sshd.port)
    # ... and even routed through the bastion nothing arrives: it does not forward.
    route = [bastion_link.network, "via", bastion_ns.server_ip, "dev", bastion_ns.host_if]
    subprocess.run(["ip", "route", "add", *route], check=True)
    try:
        assert fails_to_connect(bastion_link.b_ip, inner_sshd.port)
    finally:
        subprocess.run(["ip", "route", "del", *route], check=False)
    # The server listens on its link address only, not on its own root-side veth.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((inner_ns.server_ip, inner_sshd.port), timeout=2).close()


def test_sshd_on_link_address_reachable_from_bastion_only(
    bastion_ns: ServerNamespace,
    inner_ns: ServerNamespace,
    bastion_link: NamespaceLink,
    inner_sshd: Sshd,
    tmp_path: Path,
) -> None:
    known = inner_sshd.write_known_hosts(tmp_path / "known_hosts")
    assert inner_sshd.known_hosts_line().startswith(f"[{bastion_link.b_ip}]:{inner_sshd.port} ")
    ssh = inner_sshd.ssh_argv(inner_sshd.key_user, inner_sshd.key_path, known)
    out = bastion_ns.exec([*ssh, "id -un; ls /sys/class/net"], timeout=30)
    assert out.returncode == 0, out.stderr
    user, *interfaces = out.stdout.split()
    assert user == inner_sshd.key_user
    assert sorted(interfaces) == sorted(["lo", inner_ns.server_if, bastion_link.b_if])
    ssh = inner_sshd.ssh_argv(
        inner_sshd.key_user, inner_sshd.key_path, known, "-o", "ConnectTimeout=2"
    )
    out = subprocess.run([*ssh, "true"], capture_output=True, text=True, check=False, timeout=30)
    assert out.returncode == 255


def test_proxyjump_from_root_through_bastion(
    bastion_sshd: Sshd,
    inner_sshd: Sshd,
    tmp_path: Path,
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"{bastion_sshd.known_hosts_line()}\n{inner_sshd.known_hosts_line()}\n")
    # A config file, not -o: the jump's own ssh reads -F but not the -o options.
    config = tmp_path / "ssh_config"
    config.write_text(
        f"""Host bastion
    HostName {bastion_sshd.host}
    Port {bastion_sshd.port}
    User {bastion_sshd.key_user}
    IdentityFile {bastion_sshd.key_path}
Host server
    HostName {inner_sshd.host}
    Port {inner_sshd.port}
    User {inner_sshd.key_user}
    IdentityFile {inner_sshd.key_path}
    ProxyJump bastion
Host *
    UserKnownHostsFile {known}
    StrictHostKeyChecking yes
    IdentitiesOnly yes
    BatchMode yes
    ConnectTimeout 5
"""
    )
    out = subprocess.run(
        ["ssh", "-F", str(config), "server", "id -un; hostname -I"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    user, *addresses = out.stdout.split()
    assert user == inner_sshd.key_user
    assert inner_sshd.host in addresses


def test_link_close_is_idempotent_and_goes_with_a_namespace() -> None:
    a, b, c = ServerNamespace(), ServerNamespace(), ServerNamespace()
    try:
        for ns in (a, b, c):
            ns.start()
    except ServiceUnavailable as exc:
        for ns in (a, b, c):
            ns.close()
        unavailable(exc)
    try:
        first = link_namespaces(a, b)
        second = link_namespaces(a, c)
        assert first.network != second.network  # a's addresses are taken into account
        first.close()
        first.close()
        assert not first.exists()
        assert first.a_if not in a.exec(["ip", "-o", "link", "show"]).stdout
        assert second.exists()
        c.close()  # deleting either namespace takes the pair with it
        assert not second.exists()
        assert second.a_if not in a.exec(["ip", "-o", "link", "show"]).stdout
        second.close()
        with pytest.raises(ValueError, match="two different"):
            link_namespaces(a, a)
    finally:
        for ns in (a, b, c):
            ns.close()
