"""The workstation through a bastion, as operators reach production.

Three network places: this machine (the root namespace), a bastion namespace
joined to it, and the whole server (tests/auren_tui/server_stack.py) joined to
the bastion only. A second sshd of the server listens on the server's end of
the bastion link: from here that address is unreachable (no forwarding on the
bastion), so every byte goes through the bastion's direct-tcpip channels.

The operator's side is an SSH config file, as in ~/.ssh/config: ``Host``
patterns, ``ProxyJump``, ``IdentityFile``, ``UserKnownHostsFile``,
``ServerAliveInterval``. The profiles name only ``ssh_host``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import SecretStr

from auren_tui.app import AurenApp, build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.config import AppConfig, Profile, UiPrefs, save_config
from auren_tui.core.transport.connection import DockerAccessDenied
from auren_tui.core.transport.hostkeys import HostKeyChanged
from auren_tui.core.transport.loop import TunnelLoop
from auren_tui.core.transport.ssh import SshConnection
from auren_tui.core.transport.ssh_errors import AuthFailed, ConnectFailed, SetupError
from auren_tui.dialogs.trust_host import TrustHostDialog
from auren_tui.widgets.status_bar import StatusBar
from tests.auren_tui.kafka_util import BIN, create_topic
from tests.auren_tui.server_stack import (
    CATALOG,
    CONTAINER,
    OVERRIDES,
    ServerStack,
    assert_whole_stack_healthy,
    locations,
    other_public_key,
    sshd_log_since,
    status_line,
    wait_for,
)
from tests.bridge_service.signing import SECRETS
from tests.services.base import ServiceUnavailable, unavailable, wait_until
from tests.services.docker import wait_container_health
from tests.services.keyring import RealKeyring
from tests.services.netns import NamespaceLink, ServerNamespace, link_namespaces
from tests.services.sshd import Sshd

pytestmark = pytest.mark.services

REFRESH = 1.0
SIZE = (160, 40)
ALIVE = 1  # ServerAliveInterval of the test config (count 3): a silent peer within 3 s


@dataclass
class Jump:
    """The bastion (its namespace and sshd) and the server's sshd behind it."""

    stack: ServerStack
    bastion_ns: ServerNamespace
    bastion: Sshd
    link: NamespaceLink
    inner: Sshd  # in the server's namespace, on its end of the bastion link only

    def known_hosts(self, path: Path, *sshds: Sshd) -> Path:
        """A known_hosts file trusting ``sshds`` (default: the bastion and the server)."""
        chosen = sshds or (self.bastion, self.inner)
        path.write_text("".join(s.known_hosts_line() + "\n" for s in chosen))
        return path

    def ssh_config(self, path: Path, known_hosts: Path, extra: str = "") -> Path:
        """The operator's ~/.ssh/config for this server (``extra`` goes first: it wins)."""
        b, s = self.bastion, self.inner
        path.write_text(
            f"{extra}\n"
            "Host bastion\n"
            f"    HostName {b.host}\n"
            f"    Port {b.port}\n"
            f"    User {b.key_user}\n"
            f"    IdentityFile {b.key_path}\n"
            "    IdentitiesOnly yes\n"
            "Host prod-*\n"
            "    ProxyJump bastion\n"
            f"    ServerAliveInterval {ALIVE}\n"
            "    ServerAliveCountMax 3\n"
            f"    HostName {self.link.b_ip}\n"
            f"    Port {s.port}\n"
            "Host prod-box\n"
            f"    User {s.key_user}\n"
            f"    IdentityFile {s.key_path}\n"
            "    IdentitiesOnly yes\n"
            "Host *\n"
            f"    UserKnownHostsFile {known_hosts}\n"
        )
        return path

    def profile(self, name: str, config: Path, ssh_host: str = "prod-box", **kw: Any) -> Profile:
        return Profile(
            name=name,
            ssh_host=ssh_host,
            ssh_config=config,
            docker_host=self.stack.engine.base_url,
            catalog=CATALOG,
            service_overrides=OVERRIDES,
            **kw,
        )


@pytest.fixture(scope="module")
def jump(stack: ServerStack) -> Iterator[Jump]:
    bastion_ns = ServerNamespace()
    bastion = Sshd(netns=None)
    inner = Sshd(extra_groups=("docker",), user_ca=True, outsider=True, sudo_docker=True)
    link: NamespaceLink | None = None
    try:
        bastion_ns.start()
        link = link_namespaces(bastion_ns, stack.ns)
        bastion.host, bastion.netns = bastion_ns.server_ip, bastion_ns.name
        bastion.start()
        inner.host, inner.netns = link.b_ip, stack.ns.name
        inner.start()
    except ServiceUnavailable as exc:
        _close(inner, bastion, link, bastion_ns)
        unavailable(exc)
    except BaseException:
        _close(inner, bastion, link, bastion_ns)
        raise
    assert link is not None
    yield Jump(stack, bastion_ns, bastion, link, inner)
    _close(inner, bastion, link, bastion_ns)


def _close(*parts: Sshd | NamespaceLink | ServerNamespace | None) -> None:
    for part in parts:
        if part is not None:
            with contextlib.suppress(Exception):
                part.close()


def _conn(profile: Profile, secrets: dict[str, str] | None = None, **kw: Any) -> SshConnection:
    known = secrets or {}
    return SshConnection(
        profile,
        lambda name: SecretStr(known[name]) if name in known else None,
        connect_timeout=5,
        **kw,
    )


def _redis_ping(conn: SshConnection) -> bytes:
    """PING the server's Redis (127.0.0.1:6379 as the server sees it) through a tunnel."""
    host, port = conn.endpoint("127.0.0.1", 6379)
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def _cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "auren-tui"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


# -- the topology -----------------------------------------------------------------------


def test_the_server_answers_only_through_the_bastion(jump: Jump, tmp_path: Path) -> None:
    with pytest.raises(OSError):  # noqa: PT011 - unreachable, refused or timed out: all mean no
        socket.create_connection((jump.link.b_ip, jump.inner.port), timeout=2).close()
    # The same address, one hop further, is an SSH server.
    config = jump.ssh_config(tmp_path / "config", jump.known_hosts(tmp_path / "known_hosts"))
    with contextlib.closing(_conn(jump.profile("topo", config))) as conn:
        conn.connect()
        status, out, _ = conn.run("hostname -I || ip -o addr", timeout=10)
        assert status == 0
        assert jump.link.b_ip in out
        assert len(conn._carriers) == 1  # one jump host on the way


# -- the whole workstation through ProxyJump -----------------------------------------------


async def test_dashboard_through_the_bastion(jump: Jump, tmp_path: Path) -> None:
    config = jump.ssh_config(tmp_path / "config", jump.known_hosts(tmp_path / "known_hosts"))
    bastion_log = jump.bastion.log_path.stat().st_size
    inner_log = jump.inner.log_path.stat().st_size
    backend = LiveBackend(jump.profile("jump-dash", config), locations(tmp_path))
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=REFRESH))
    try:
        async with app.run_test(size=SIZE):
            await assert_whole_stack_healthy(app)
    finally:
        await asyncio.to_thread(backend.close)
    assert f"Accepted publickey for {jump.bastion.key_user}" in sshd_log_since(
        jump.bastion, bastion_log
    )
    inner = sshd_log_since(jump.inner, inner_log)
    assert f"Accepted publickey for {jump.inner.key_user}" in inner
    # The server saw the connection come from the bastion's end of the link.
    assert f"from {jump.link.a_ip}" in inner


@pytest.fixture
def cli_env(jump: Jump, real_keyring: RealKeyring, tmp_path: Path) -> dict[str, str]:
    """The real ``auren-tui`` with profile ``prod`` = ``ssh_host prod-box`` and nothing else
    about the server in config.toml: the rest is the SSH config's."""
    home = tmp_path / "home"
    config = jump.ssh_config(tmp_path / "ssh_config", jump.known_hosts(tmp_path / "known_hosts"))
    save_config(locations(home), AppConfig().with_profile(jump.profile("prod", config)))
    return {
        **real_keyring.env,
        "AUREN_TUI_HOME": str(home),
        "PATH": "/usr/bin:/bin",
        **{f"AUREN_TUI_{p.upper()}_SECRET": s for p, s in SECRETS.items()},
    }


def test_send_trace_and_tail_through_the_bastion(
    jump: Jump, cli_env: dict[str, str], tmp_path: Path
) -> None:
    topic = jump.stack.bridge.env["KAFKA_TOPIC"]
    # The bridge's topic, made through the bastion too (Kafka's own protocol, tunnelled).
    config = jump.ssh_config(tmp_path / "config", jump.known_hosts(tmp_path / "known_hosts"))
    with contextlib.closing(_conn(jump.profile("topic", config))) as conn:
        conn.connect()
        runner = asyncio.Runner(loop_factory=lambda: TunnelLoop(conn))
        with runner, contextlib.suppress(TopicAlreadyExistsError):
            runner.run(create_topic("127.0.0.1:9092", topic, 3))
    sent = _cli(cli_env, "webhook", "send", "oura", "--event", "daily_readiness.update",
                "--profile", "prod", "--trace", "--topic", topic, "--json")  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    out = json.loads(sent.stdout)
    assert out["status"] == 202
    assert out["kafka"] is not None, "the event never showed up in Kafka"
    where = out["kafka"]
    tailed = _cli(cli_env, "tail", topic, "--profile", "prod", "--from", str(where["offset"]),
                  "--partition", str(where["partition"]), "--count", "1", "--json")  # fmt: skip
    assert tailed.returncode == 0, tailed.stderr
    assert json.loads(tailed.stdout)["value"]["event_id"] == out["response"]["event_id"]


def test_restore_through_the_bastion(jump: Jump, cli_env: dict[str, str]) -> None:
    client = jump.stack.engine.client()
    try:
        done = _cli(cli_env, "spec", "capture", "biometric", "--profile", "prod")
        assert done.returncode == 0, done.stderr
        # Broken as the old bridge was: an env the process cannot start with, restarted forever.
        good = client.containers.get(CONTAINER)
        image = good.attrs["Config"]["Image"]
        good.remove(force=True)
        client.containers.run(
            image,
            detach=True,
            name=CONTAINER,
            network_mode="host",
            environment={"PORT": "notaport"},
            restart_policy={"Name": "unless-stopped"},
        )
        wait_until(
            lambda: int(client.containers.get(CONTAINER).attrs["RestartCount"]) >= 1,
            30,
            "a restart loop",
        )
        dry = _cli(cli_env, "restore", "biometric", "--profile", "prod", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing changed" in dry.stdout
        done = _cli(cli_env, "restore", "biometric", "--profile", "prod", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"restored {CONTAINER} from v1: healthy" in done.stdout
        now = client.containers.get(CONTAINER)
        assert now.attrs["State"]["Health"]["Status"] == "healthy"
        assert "PORT=8888" in now.attrs["Config"]["Env"]
    finally:
        # The shared stack keeps a healthy biometric-production whatever happened here.
        with contextlib.suppress(Exception):
            wait_container_health(client.containers.get(CONTAINER), "healthy", 30)
        for c in client.containers.list(all=True):
            if c.name.startswith(CONTAINER + "-failed-"):
                c.remove(force=True)
        client.close()


# -- host keys on the way ------------------------------------------------------------------


def _dialog(app: AurenApp) -> TrustHostDialog | None:
    screen = app.screen
    if not isinstance(screen, TrustHostDialog):
        return None
    buttons = screen.query("#trust")
    return screen if buttons and buttons.first().region.area > 0 else None


async def test_an_unknown_bastion_key_asks_then_trusting_connects(
    jump: Jump, tmp_path: Path
) -> None:
    known = jump.known_hosts(tmp_path / "known_hosts", jump.inner)  # not the bastion's
    config = jump.ssh_config(tmp_path / "config", known)
    offset = jump.bastion.log_path.stat().st_size
    backend = LiveBackend(jump.profile("jump-trust", config), locations(tmp_path))
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=REFRESH))
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(jump.bastion.host_key_path.with_suffix(".pub")), "-E", "sha256"],
        capture_output=True, text=True, check=True,
    ).stdout.split()[1]  # fmt: skip
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: _dialog(app) is not None, 20, "the trust dialog")
            dialog = _dialog(app)
            assert dialog is not None
            assert dialog.role == "jump host bastion"
            assert dialog.fingerprint == fingerprint
            assert (dialog.host, dialog.port) == (jump.bastion.host, jump.bastion.port)
            # Nothing but the key exchange reached the bastion: no user name yet.
            assert jump.bastion.key_user not in sshd_log_since(jump.bastion, offset)
            await pilot.click("#trust")
            await wait_for(lambda: backend.conn_info().state == "connected", 20, "connected")
            await assert_whole_stack_healthy(app)
    finally:
        await asyncio.to_thread(backend.close)
    assert jump.bastion.known_hosts_line() in known.read_text().splitlines()


def test_a_changed_bastion_key_is_refused_naming_the_hop_and_line(
    jump: Jump, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    bastion_label = f"[{jump.bastion.host}]:{jump.bastion.port}"
    known.write_text(
        f"{jump.inner.known_hosts_line()}\n{bastion_label} {other_public_key(tmp_path)}\n"
    )
    config = jump.ssh_config(tmp_path / "config", known)
    offset = jump.bastion.log_path.stat().st_size
    conn = _conn(jump.profile("jump-changed", config))
    try:
        with pytest.raises(HostKeyChanged) as caught:
            conn.connect()
    finally:
        conn.close()
    message = str(caught.value)
    assert f"jump host bastion ({bastion_label})" in message
    assert "CHANGED" in message
    assert f"{known} line 2" in message
    assert "\n" not in message
    assert jump.bastion.key_user not in sshd_log_since(jump.bastion, offset)


# -- keeping the connection -----------------------------------------------------------------


def test_the_bastion_sshd_killed_midway_then_back_reconnects(jump: Jump, tmp_path: Path) -> None:
    config = jump.ssh_config(tmp_path / "config", jump.known_hosts(tmp_path / "known_hosts"))
    conn = _conn(jump.profile("jump-outage", config), backoff_max=1.0)
    try:
        conn.start()
        address = conn.endpoint("127.0.0.1", 6379)
        assert _redis_ping(conn) == b"+PONG\r\n"
        jump.bastion.stop()
        try:
            assert conn.wait_state("reconnecting", timeout=10), conn.state
            wait_until(lambda: conn.attempt >= 2, 15, "reconnect attempts while it is down")
        finally:
            jump.bastion.start()
        assert conn.wait_state("connected", timeout=30), (conn.state, conn.last_error)
        assert conn.endpoint("127.0.0.1", 6379) == address  # the same local address
        assert _redis_ping(conn) == b"+PONG\r\n"
    finally:
        conn.close()


def _link_up(ns: ServerNamespace, up: bool) -> None:
    """The root side of the bastion's veth: down drops every packet without a word."""
    subprocess.run(
        ["ip", "link", "set", ns.host_if, "up" if up else "down"], check=True, timeout=10
    )
    if up:
        subprocess.run(
            ["ip", "addr", "replace", f"{ns.host_ip}/{ns.prefix_len}", "dev", ns.host_if],
            check=True,
            timeout=10,
        )


async def test_a_silent_peer_is_noticed_and_the_header_says_so(
    jump: Jump, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = jump.ssh_config(tmp_path / "config", jump.known_hosts(tmp_path / "known_hosts"))
    backend = LiveBackend(jump.profile("jump-silent", config), locations(tmp_path))
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=REFRESH))
    try:
        async with app.run_test(size=SIZE):
            bar = app.dashboard.query_one(StatusBar)
            await assert_whole_stack_healthy(app)
            # No FIN, no RST: the packets vanish, as when a laptop sleeps or a NAT forgets.
            cut = time.monotonic()
            await asyncio.to_thread(_link_up, jump.bastion_ns, False)
            try:
                await wait_for(
                    lambda: "reconnecting" in status_line(bar), 3 * ALIVE + 5, "reconnecting"
                )
                noticed = time.monotonic() - cut
                # ServerAliveInterval 1 x ServerAliveCountMax 3: given up after 2 s unanswered.
                lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
                assert any(m.endswith("lost: no answer for 2 s") for m in lost), lost
            finally:
                await asyncio.to_thread(_link_up, jump.bastion_ns, True)
            await wait_for(lambda: backend.conn_info().state == "connected", 40, "reconnected")
            await assert_whole_stack_healthy(app)
            print(f"\nsilent peer noticed after {noticed:.2f} s (ServerAlive {ALIVE} s x 3)")
    finally:
        await asyncio.to_thread(backend.close)


# -- keys: agent, certificates, passphrases --------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ``ssh-agent`` on a socket of its own, as SSH_AUTH_SOCK."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until(sock.exists, 10, "ssh-agent's socket")
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def _keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True
    )
    return path


def test_the_agent_comes_first_unless_identities_only(
    jump: Jump, agent: Path, tmp_path: Path
) -> None:
    stranger = _keygen(tmp_path / "id_stranger")  # authorized nowhere
    subprocess.run(
        ["ssh-add", str(jump.inner.key_path)],
        env={**os.environ, "SSH_AUTH_SOCK": str(agent)},
        check=True,
        capture_output=True,
    )
    known = jump.known_hosts(tmp_path / "known_hosts")
    host = f"Host prod-agent\n    User {jump.inner.key_user}\n    IdentityFile {stranger}\n{{only}}"
    config = jump.ssh_config(tmp_path / "config", known, extra=host.format(only=""))
    with contextlib.closing(_conn(jump.profile("agent", config, ssh_host="prod-agent"))) as c:
        c.connect()  # the agent's key, offered before the identity file
        assert c.run("id -un", 10)[1].strip() == jump.inner.key_user

    only = "    IdentitiesOnly yes\n"
    config = jump.ssh_config(tmp_path / "config2", known, extra=host.format(only=only))
    conn = _conn(jump.profile("agent2", config, ssh_host="prod-agent"))
    with contextlib.closing(conn), pytest.raises(AuthFailed) as caught:
        conn.connect()
    message = str(caught.value)
    assert f"offered: {stranger}" in message.replace(str(Path.home()), "~")
    assert "agent key" not in message  # IdentitiesOnly: the agent was not asked


def test_a_certificate_beside_the_key_logs_in(jump: Jump, tmp_path: Path) -> None:
    inner = jump.inner
    known = jump.known_hosts(tmp_path / "known_hosts")
    host = (
        "Host prod-cert\n"
        f"    User {inner.cert_user}\n"
        "    IdentitiesOnly yes\n"
        "    IdentityFile {key}\n"
        "{cert}"
    )
    offset = inner.log_path.stat().st_size
    # 1. KEY-cert.pub beside the key, as ssh-keygen -s leaves it.
    config = jump.ssh_config(
        tmp_path / "c1", known, extra=host.format(key=inner.cert_key_path, cert="")
    )
    with contextlib.closing(_conn(jump.profile("cert1", config, ssh_host="prod-cert"))) as c:
        c.connect()
        assert c.run("id -un", 10)[1].strip() == inner.cert_user
    log = sshd_log_since(inner, offset)
    assert re.search(rf"Accepted publickey for {inner.cert_user} .*ED25519-CERT", log), log

    # 2. The key alone, elsewhere: refused (it is in no authorized_keys).
    alone = tmp_path / "alone" / "id"
    alone.parent.mkdir()
    shutil.copy(inner.cert_key_path, alone)
    alone.chmod(0o600)
    config = jump.ssh_config(tmp_path / "c2", known, extra=host.format(key=alone, cert=""))
    conn = _conn(jump.profile("cert2", config, ssh_host="prod-cert"))
    with contextlib.closing(conn), pytest.raises(AuthFailed, match="refused"):
        conn.connect()

    # 3. The same key with CertificateFile naming the certificate: accepted.
    cert = f"    CertificateFile {inner.cert_path}\n"
    config = jump.ssh_config(tmp_path / "c3", known, extra=host.format(key=alone, cert=cert))
    with contextlib.closing(_conn(jump.profile("cert3", config, ssh_host="prod-cert"))) as c:
        c.connect()


def test_an_encrypted_key_takes_its_passphrase_from_the_secrets(jump: Jump, tmp_path: Path) -> None:
    passphrase = "pass-" + uuid.uuid4().hex
    key = tmp_path / "id_locked"
    shutil.copy(jump.inner.key_path, key)
    key.chmod(0o600)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", str(key)], check=True
    )
    with pytest.raises(paramiko.SSHException):
        paramiko.Ed25519Key.from_private_key_file(str(key))  # really encrypted
    known = jump.known_hosts(tmp_path / "known_hosts")
    extra = f"Host prod-locked\n    User {jump.inner.key_user}\n    IdentityFile {key}\n"
    config = jump.ssh_config(tmp_path / "config", known, extra=extra)
    profile = jump.profile("locked", config, ssh_host="prod-locked")
    with contextlib.closing(_conn(profile, {"key_passphrase": passphrase})) as c:
        c.connect()
    with contextlib.closing(_conn(profile)) as c, pytest.raises(AuthFailed) as caught:
        c.connect()
    assert passphrase not in str(caught.value)


# -- the Docker socket -----------------------------------------------------------------------


def test_a_user_without_the_docker_socket_gets_the_one_line_hint(
    jump: Jump, tmp_path: Path
) -> None:
    inner = jump.inner
    known = jump.known_hosts(tmp_path / "known_hosts")
    extra = (
        f"Host prod-outsider\n    User {inner.outsider_user}\n"
        f"    IdentityFile {inner.outsider_key_path}\n    IdentitiesOnly yes\n"
    )
    config = jump.ssh_config(tmp_path / "config", known, extra=extra)
    profile = jump.profile("outsider", config, ssh_host="prod-outsider")
    with contextlib.closing(_conn(profile)) as c:
        c.connect()
        with pytest.raises(DockerAccessDenied) as caught:
            c.docker_url()
    message = str(caught.value)
    assert "\n" not in message
    assert "permission denied" in message
    assert f"usermod -aG docker {inner.outsider_user}" in message
    assert 'docker_command = "sudo -n docker"' in message

    # The operator sees the same line, from the command that needed Docker.
    env = {
        "AUREN_TUI_HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    save_config(locations(tmp_path / "home"), AppConfig().with_profile(profile))
    done = _cli(env, "spec", "capture", "biometric", "--profile", "outsider")
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert "may not use the Docker socket" in line
    assert 'docker_command = "sudo -n docker"' in line

    # The second fix, as the hint words it: sudo without a password prompt.
    sudo = jump.profile("outsider-sudo", config, ssh_host="prod-outsider",
                        docker_command="sudo -n docker")  # fmt: skip
    with contextlib.closing(_conn(sudo)) as c:
        c.connect()
        import docker

        client = docker.DockerClient(base_url=c.docker_url(), timeout=10)
        try:
            names = [x.name for x in client.containers.list(all=True)]
        finally:
            client.close()
    assert CONTAINER in names


# -- the CLI: what is resolved, and trusting every hop -----------------------------------------


def _line_of(path: Path, text: str, after: str = "") -> int:
    """The 1-based line of ``path`` holding ``text`` (the first after the line ``after``)."""
    lines = path.read_text().splitlines()
    start = lines.index(after) if after else 0
    return next(i for i, line in enumerate(lines[start:], start + 1) if text in line)


def test_profile_show_and_trust_resolve_through_the_ssh_config(jump: Jump, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"  # nothing trusted yet
    config = jump.ssh_config(tmp_path / "ssh_config", known)
    env = {
        "AUREN_TUI_HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    flag = ("--ssh-config", str(config))  # for this run, as ssh -F
    added = _cli(env, *flag, "profile", "add", "prod", "--ssh-host", "prod-box")
    assert added.returncode == 0, added.stderr
    inner, bastion = jump.inner, jump.bastion
    assert f"connects to {inner.key_user}@[{jump.link.b_ip}]:{inner.port} via " in added.stdout

    shown = _cli(env, *flag, "profile", "show", "prod")
    assert shown.returncode == 0, shown.stderr
    rows = {
        k.strip(): v.strip()
        for k, v in (line.split(":", 1) for line in shown.stdout.splitlines() if "  [" in line)
    }
    where = f"{config} line"
    assert rows["hostname"] == (
        f"{jump.link.b_ip}  [{where} {_line_of(config, 'HostName', 'Host prod-*')}]"
    )
    assert rows["port"] == f"{inner.port}  [{where} {_line_of(config, 'Port', 'Host prod-*')}]"
    assert (
        rows["user"] == f"{inner.key_user}  [{where} {_line_of(config, 'User', 'Host prod-box')}]"
    )
    assert rows["identity files"].startswith(f"{inner.key_path}  [")
    assert rows["identities only"].startswith("yes  [")
    assert rows["known hosts"] == f"{known}  [{where} {_line_of(config, 'UserKnownHostsFile')}]"
    assert rows["keepalive"] == f"1 s x 3  [{where} {_line_of(config, 'ServerAliveInterval')}]"
    assert rows["jump hosts"] == (
        f"{bastion.key_user}@[{bastion.host}]:{bastion.port}  "
        f"[{where} {_line_of(config, 'ProxyJump')}]"
    )
    # Without the flag, ~/.ssh/config (absent here) knows no prod-box: nothing is resolved.
    alone = _cli(env, "profile", "show", "prod")
    assert f"  hostname:        prod-box  [{'OpenSSH default'}]" in alone.stdout

    # Every hop's key, in order, each shown before it is recorded.
    trusted = _cli(env, *flag, "profile", "trust", "prod", "--yes")
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert f"jump host bastion [{bastion.host}]:{bastion.port}" in trusted.stdout
    assert f"[{jump.link.b_ip}]:{inner.port}" in trusted.stdout
    assert sorted(known.read_text().splitlines()) == sorted(
        [bastion.known_hosts_line(), inner.known_hosts_line()]
    )
    again = _cli(env, *flag, "profile", "trust", "prod", "--yes")
    assert again.returncode == 0, again.stderr
    assert "Every host key on the way is already trusted" in again.stdout
    assert len(known.read_text().splitlines()) == 2


def test_proxy_command_runs_only_when_the_profile_allows_it(jump: Jump, tmp_path: Path) -> None:
    known = jump.known_hosts(tmp_path / "known_hosts")
    config = tmp_path / "config"
    # OpenSSH's own client as the ProxyCommand, reading the same file for the bastion.
    extra = (
        "Host prod-pc\n"
        f"    ProxyCommand ssh -F {config} -o BatchMode=yes -W %h:%p bastion\n"
        f"    User {jump.inner.key_user}\n"
        f"    IdentityFile {jump.inner.key_path}\n"
    )
    jump.ssh_config(config, known, extra=extra)
    pc_line = _line_of(config, "ProxyCommand")
    refused = _conn(jump.profile("pc", config, ssh_host="prod-pc"))
    with contextlib.closing(refused), pytest.raises(SetupError) as caught:
        refused.connect()
    message = str(caught.value)
    assert f"{config} line {pc_line} sets a ProxyCommand for prod-pc" in message
    assert "allow_proxy_command = true" in message

    offset = jump.inner.log_path.stat().st_size
    allowed = _conn(jump.profile("pc", config, ssh_host="prod-pc", allow_proxy_command=True))
    with contextlib.closing(allowed):
        allowed.connect()
        assert allowed.run("id -un", 10)[1].strip() == jump.inner.key_user
        assert allowed._carriers == []  # the command carried it, not a jump host of ours
    assert f"from {jump.link.a_ip}" in sshd_log_since(jump.inner, offset)


def test_a_profiles_jump_list_replaces_the_configs_proxyjump(jump: Jump, tmp_path: Path) -> None:
    known = jump.known_hosts(tmp_path / "known_hosts")
    inner = jump.inner
    # A Host without ProxyJump: only the profile's jump list gets it there.
    extra = (
        "Host inner-plain\n"
        f"    HostName {jump.link.b_ip}\n    Port {inner.port}\n    User {inner.key_user}\n"
        f"    IdentityFile {inner.key_path}\n    IdentitiesOnly yes\n"
    )
    config = jump.ssh_config(tmp_path / "config", known, extra=extra)
    plain = _conn(jump.profile("plain", config, ssh_host="inner-plain"))
    with contextlib.closing(plain), pytest.raises(ConnectFailed, match="cannot reach"):
        plain.connect()
    hopped = _conn(jump.profile("hopped", config, ssh_host="inner-plain", jump=("bastion",)))
    with contextlib.closing(hopped):
        hopped.connect()
        assert [t.getpeername()[0] for t in hopped._carriers] == [jump.bastion.host]
        assert hopped.run("id -un", 10)[1].strip() == inner.key_user
