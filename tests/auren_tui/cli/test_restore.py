"""One-key restore, on the harness Docker Engine inside the "server" namespace,
driven over SSH with the real ``auren-tui`` script and a real keyring.

The break is the one that killed the old bridge: an env change that makes
the container exit at start, with restart policy unless-stopped: a restart
loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from auren_tui.core.restore.lock import LOCK_SUFFIX
from auren_tui.core.restore.spec import ATTEMPT_LABEL
from tests.auren_tui.kafka_util import BIN
from tests.services.base import wait_until
from tests.services.docker import (
    IMAGE_CHANGES,
    DockerEngine,
    build_test_image,
    rootfs_tar,
    wait_container_health,
)
from tests.services.keyring import RealKeyring
from tests.services.netns import ServerNamespace
from tests.services.sshd import Sshd

NAME = "biometric-production"  # the catalog's container of service "biometric"
PORT = "8888"
CANARY = "canary-" + uuid.uuid4().hex  # a secret env value: never in files or output


@dataclass
class Server:
    ns: ServerNamespace
    engine: DockerEngine
    sshd: Sshd
    image: str

    def client(self) -> Any:
        return self.engine.client()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    ns = ServerNamespace()
    engine = DockerEngine()
    sshd = Sshd()
    try:
        ns.start()
        engine.netns = ns.name
        engine.start()
        assert engine.workdir is not None
        engine.workdir.chmod(0o711)  # the SSH users (group docker) reach the socket
        client = engine.client()
        try:
            image = build_test_image(client)
        finally:
            client.close()
        sshd.host, sshd.netns, sshd.extra_groups = ns.server_ip, ns.name, ("docker",)
        sshd.start()
        yield Server(ns, engine, sshd, image)
    finally:
        for close in (sshd.close, engine.close, ns.close):
            with contextlib.suppress(Exception):
                close()


@pytest.fixture
def env(server: Server, real_keyring: RealKeyring, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: its own config dir with profile ``srv``, the real keyring."""
    out = {**real_keyring.env, "AUREN_TUI_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    sshd = server.sshd
    done = cli(out, "profile", "add", "srv", "--host", sshd.host, "--port", str(sshd.port),
               "--user", sshd.key_user, "--key-file", str(sshd.key_path),
               "--known-hosts", str(sshd.write_known_hosts(tmp_path / "known_hosts")),
               "--docker-host", server.engine.base_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "auren-tui"), *args], env=env, capture_output=True, text=True,
        timeout=timeout, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run(server: Server, image: str | None = None, port: str = PORT, **extra: Any) -> Any:
    """(Re)create the service's container the way a deploy would."""
    client = server.client()
    try:
        with contextlib.suppress(Exception):
            client.containers.get(NAME).remove(force=True)
        return client.containers.run(
            image or server.image, detach=True, name=NAME, network_mode="host",
            environment={"PORT": port, "API_SECRET": CANARY, "MODE": "production"},
            labels={"com.auren.role": "biometric"},
            restart_policy={"Name": "unless-stopped"}, **extra,
        )  # fmt: skip
    finally:
        client.close()


def state(server: Server, name: str = NAME) -> dict[str, Any]:
    client = server.client()
    try:
        return dict(client.containers.get(name).attrs)
    finally:
        client.close()


def names(server: Server) -> list[str]:
    client = server.client()
    try:
        return sorted(c.name for c in client.containers.list(all=True))
    finally:
        client.close()


def healthy(server: Server) -> bool:
    s = state(server)["State"]
    return bool(s.get("Running") and (s.get("Health") or {}).get("Status") == "healthy")


def clean(server: Server) -> None:
    client = server.client()
    try:
        for c in client.containers.list(all=True):
            c.remove(force=True)
    finally:
        client.close()


def capture_then_break(server: Server, env: dict[str, str]) -> None:
    clean(server)
    container = run(server)
    wait_container_health(container, "healthy", 30)
    done = cli(env, "spec", "capture", "biometric", "--profile", "srv")
    assert done.returncode == 0, done.stderr
    run(server, port="notaport")  # httpd cannot bind: exits at start, restarted forever
    wait_until(lambda: int(state(server)["RestartCount"]) >= 2, 30, "a restart loop")


def test_capture_break_restore(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    capture_then_break(server, env)
    home = Path(env["AUREN_TUI_HOME"])
    spec_files = list((home / "config" / "specs" / "srv" / "biometric").glob("v*.json"))
    assert len(spec_files) == 1
    spec = json.loads(spec_files[0].read_text())
    assert spec["env"]["API_SECRET"] == {"keyring": "env-biometric-API_SECRET"}
    assert spec["env"]["PORT"] == PORT
    assert spec["restart_policy"] == "unless-stopped"
    assert spec["image_id"].startswith("sha256:")

    # A known-good spec comes from a healthy container: the broken one is refused.
    refused = cli(env, "spec", "capture", "biometric", "--profile", "srv")
    assert refused.returncode == 1
    assert "restarts: a known-good spec is taken from a healthy container" in refused.stderr
    history = cli(env, "spec", "history", "biometric", "--profile", "srv")
    assert history.returncode == 0, history.stderr
    assert len(history.stdout.splitlines()) == 1
    assert history.stdout.startswith("v1  ")

    diff = cli(env, "spec", "diff", "biometric", "--profile", "srv")
    assert diff.returncode == 1
    assert "~ env PORT: *** -> ***" in diff.stdout
    assert " restarts) against known-good v1" in diff.stdout

    dry = cli(env, "restore", "biometric", "--profile", "srv", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing changed" in dry.stdout
    assert not any("-failed-" in n for n in names(server))

    done = cli(env, "restore", "biometric", "--profile", "srv", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"restored {NAME} from v1: healthy" in done.stdout
    assert healthy(server)
    now = state(server)
    assert f"PORT={PORT}" in now["Config"]["Env"]
    assert f"API_SECRET={CANARY}" in now["Config"]["Env"]  # back from the keyring
    assert now["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert now["Config"]["Labels"]["com.auren.role"] == "biometric"
    failed = [n for n in names(server) if n.startswith(NAME + "-failed-")]
    assert len(failed) == 1
    assert "PORT=notaport" in state(server, failed[0])["Config"]["Env"]  # kept for forensics
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))

    audit = (home / "state" / "audit.log").read_text()
    lines = [json.loads(line) for line in audit.splitlines()]
    assert lines[-1]["outcome"] == "restored"
    assert lines[-1]["spec_version"] == 1
    assert lines[-1]["profile"] == "srv"
    assert "who" in lines[-1]
    assert [s.split(":")[0] for s in lines[-1]["steps"]][:5] == [
        "lock",
        "lock",
        "stop",
        "stop",
        "rename",
    ]
    everything = audit + done.stdout + done.stderr + diff.stdout + dry.stdout
    everything += "".join(
        p.read_text() for p in home.rglob("*") if p.is_file() and p.suffix != ".log"
    )
    assert CANARY not in everything


def test_read_only_refuses(server: Server, env: dict[str, str]) -> None:
    capture_then_break(server, env)
    before = state(server)["Id"]
    done = cli(env, "restore", "biometric", "--profile", "srv", "--yes", "--read-only")
    assert done.returncode == 1
    assert "read-only" in done.stderr
    assert "refused" in done.stderr
    assert state(server)["Id"] == before


def test_without_yes_and_no_terminal_nothing_happens(server: Server, env: dict[str, str]) -> None:
    capture_then_break(server, env)
    before = state(server)["Id"]
    done = cli(env, "restore", "biometric", "--profile", "srv")
    assert done.returncode == 2
    assert "pass --yes" in done.stderr
    assert state(server)["Id"] == before


def test_a_held_lock_refuses_naming_the_holder(server: Server, env: dict[str, str]) -> None:
    capture_then_break(server, env)
    client = server.client()
    try:
        client.containers.create(server.image, name=NAME + LOCK_SUFFIX, command=["true"], labels={
            "auren.holder": "alice@ops-laptop", "auren.pid": "4242", "auren.host": "ops-laptop",
            "auren.since": "2026-11-26T03:00:00+00:00"})  # fmt: skip
        before = state(server)["Id"]
        done = cli(env, "restore", "biometric", "--profile", "srv", "--yes")
        assert done.returncode == 1
        assert "is being restored by alice@ops-laptop (pid 4242 on ops-laptop" in done.stderr
        assert state(server)["Id"] == before
        client.containers.get(NAME + LOCK_SUFFIX).remove(force=True)
    finally:
        client.close()


def test_a_spec_whose_image_is_gone_rolls_back(server: Server, env: dict[str, str]) -> None:
    clean(server)
    client = server.client()
    try:
        client.api.import_image_from_data(
            rootfs_tar(), repository="auren-test/old", tag="1", changes=IMAGE_CHANGES
        )
        old = run(server, image="auren-test/old:1")
        wait_container_health(old, "healthy", 30)
        assert cli(env, "spec", "capture", "biometric", "--profile", "srv").returncode == 0
        current = run(server)  # redeployed from another image; the old one is pruned
        wait_container_health(current, "healthy", 30)
        client.images.remove("auren-test/old:1", force=True)
        done = cli(env, "restore", "biometric", "--profile", "srv", "--yes")
        assert done.returncode == 1, done.stdout
        assert "rolled back: " in done.stdout
        assert "No such image" in done.stdout or "not found" in done.stdout.lower()
        assert state(server)["Id"] == current.id  # the original, under its own name
        wait_until(lambda: healthy(server), 30, "the original healthy again")
        assert not any("-failed-" in n for n in names(server))
    finally:
        client.close()


def test_a_restore_killed_midway_is_finished_by_the_next(
    server: Server, env: dict[str, str]
) -> None:
    capture_then_break(server, env)
    proc = subprocess.Popen(
        [str(BIN / "auren-tui"), "restore", "biometric", "--profile", "srv", "--yes"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[done    ] rename"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(30)
    assert any(line.startswith("[done    ] rename") for line in seen), seen
    assert any(n.endswith(LOCK_SUFFIX) for n in names(server))  # left behind by the killed one

    done = cli(env, "restore", "biometric", "--profile", "srv", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note: an interrupted restore" in done.stdout
    assert healthy(server)
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))
    failed = [n for n in names(server) if n.startswith(NAME + "-failed-")]
    assert 1 <= len(failed) <= 2


def test_prune_keeps_the_last_three_failed_only_when_asked(
    server: Server, env: dict[str, str]
) -> None:
    capture_then_break(server, env)
    client = server.client()
    try:
        for stamp in ("20261120T000000Z", "20261121T000000Z", "20261122T000000Z",
                      "20261123T000000Z", "20261124T000000Z"):  # fmt: skip
            client.containers.create(server.image, name=f"{NAME}-failed-{stamp}", command=["true"])
    finally:
        client.close()
    dry = cli(env, "restore", "biometric", "--profile", "srv", "--prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.split() == ["remove", f"{NAME}-failed-20261120T000000Z",
                                  "remove", f"{NAME}-failed-20261121T000000Z"]  # fmt: skip
    assert len([n for n in names(server) if "-failed-" in n]) == 5
    done = cli(env, "restore", "biometric", "--profile", "srv", "--prune", "--yes")
    assert done.returncode == 0, done.stderr
    assert [n for n in names(server) if "-failed-" in n] == [
        f"{NAME}-failed-2026112{d}T000000Z" for d in (2, 3, 4)
    ]
    ro = cli(env, "restore", "biometric", "--profile", "srv", "--prune", "--yes", "--read-only")
    assert ro.returncode == 1


def test_two_restores_at_once_the_second_is_refused(server: Server, env: dict[str, str]) -> None:
    """Two operators press R together: one restores, the other is told who holds the lock."""
    capture_then_break(server, env)
    procs = [
        subprocess.Popen(
            [str(BIN / "auren-tui"), "restore", "biometric", "--profile", "srv", "--yes"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    results = [(p.wait(180), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    outputs = [out + err for _, out, err in results]
    if codes == [0, 0]:  # a restore takes seconds: two started together must overlap
        pytest.fail(f"the restores did not overlap: {outputs}")
    assert codes == [0, 1], outputs
    loser = next(text for (code, _, _), text in zip(results, outputs, strict=True) if code == 1)
    assert "is being restored by " in loser
    assert "(pid " in loser
    assert healthy(server)
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))
    assert len([n for n in names(server) if n.startswith(NAME + "-failed-")]) == 1


def _normalised(attrs: dict[str, Any]) -> dict[str, Any]:
    """What decides how a container runs, from docker inspect (ids and times left out)."""
    config, host = attrs["Config"], attrs["HostConfig"]
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if k != ATTEMPT_LABEL}
    networks = {
        name: {
            "aliases": sorted(
                a
                for a in ep.get("Aliases") or []
                if a not in (attrs["Id"][:12], NAME, config.get("Hostname"))
            ),
            "ipam": ep.get("IPAMConfig"),
        }
        for name, ep in (attrs["NetworkSettings"].get("Networks") or {}).items()
    }
    keep_host = (
        "Binds", "PortBindings", "RestartPolicy", "NetworkMode", "ExtraHosts", "Ulimits",
        "LogConfig", "CapAdd", "CapDrop", "Devices", "SecurityOpt", "Tmpfs", "Init",
        "Privileged", "ReadonlyRootfs", "ShmSize", "Sysctls", "Dns", "DnsSearch", "DnsOptions",
        "GroupAdd", "Memory", "NanoCpus", "CpuShares", "PidsLimit",
    )  # fmt: skip
    return {
        "image": attrs["Image"],
        "env": sorted(config.get("Env") or []),
        "cmd": config.get("Cmd"),
        "entrypoint": config.get("Entrypoint"),
        "user": config.get("User"),
        "workdir": config.get("WorkingDir"),
        "hostname": config.get("Hostname"),
        "stop_signal": config.get("StopSignal"),
        "stop_timeout": config.get("StopTimeout"),
        "healthcheck": config.get("Healthcheck"),
        "labels": labels,
        "networks": networks,
        "host": {k: host.get(k) for k in keep_host},
    }


def test_a_richly_configured_container_comes_back_the_same(
    server: Server, env: dict[str, str]
) -> None:
    """Networks with aliases and a static address, extra hosts, ulimits, log config,
    capabilities, devices, security options, tmpfs, init, stop signal and timeout,
    compose's labels: after break and restore, docker inspect (normalised) is the
    same as before the break."""
    clean(server)
    client = server.client()
    try:
        for net in client.networks.list(names=["auren-network", "auren-metrics"]):
            net.remove()
        ipam = docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet="172.31.250.0/24")]
        )
        client.networks.create("auren-network", driver="bridge", internal=True, ipam=ipam)
        client.networks.create("auren-metrics", driver="bridge", internal=True)
        endpoint = client.api.create_endpoint_config(
            aliases=["biometric-api", "bio"], ipv4_address="172.31.250.10"
        )
        created = client.api.create_container(
            server.image, name=NAME, hostname="biometric-host", stop_signal="SIGINT",
            stop_timeout=7, environment={"PORT": PORT, "API_SECRET": CANARY, "DB.PASSWORD": "a1",
                                         "DB_PASSWORD": "b2"},
            labels={"com.docker.compose.project": "auren",
                    "com.docker.compose.service": "biometric", "com.auren.role": "biometric"},
            networking_config=client.api.create_networking_config({"auren-network": endpoint}),
            host_config=client.api.create_host_config(
                network_mode="auren-network", extra_hosts={"db.internal": "10.0.0.5"},
                ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048)],
                log_config=docker.types.LogConfig(type="json-file", config={"max-size": "1m"}),
                cap_drop=["MKNOD"], cap_add=["NET_ADMIN"], devices=["/dev/null:/dev/mynull:rwm"],
                security_opt=["no-new-privileges"], tmpfs={"/scratch": "size=1m"}, init=True,
                restart_policy={"Name": "unless-stopped"}, shm_size=32 * 1024 * 1024,
                pids_limit=200,
            ),
        )  # fmt: skip
        client.api.connect_container_to_network(created["Id"], "auren-metrics", aliases=["metrics"])
        original = client.containers.get(created["Id"])
        original.start()
        wait_container_health(original, "healthy", 30)
        before = _normalised(client.containers.get(NAME).attrs)
    finally:
        client.close()
    # The comparison below is only worth something if these are really set.
    assert before["networks"]["auren-network"]["aliases"] == ["bio", "biometric-api"]
    assert before["networks"]["auren-network"]["ipam"]["IPv4Address"] == "172.31.250.10"
    assert before["networks"]["auren-metrics"]["aliases"] == ["metrics"]
    assert before["host"]["Init"] is True
    assert before["host"]["CapAdd"] == ["NET_ADMIN"]
    assert before["host"]["Tmpfs"] == {"/scratch": "size=1m"}
    assert (before["stop_signal"], before["stop_timeout"]) == ("SIGINT", 7)
    assert before["labels"]["com.docker.compose.project"] == "auren"
    done = cli(env, "spec", "capture", "biometric", "--profile", "srv")
    assert done.returncode == 0, done.stderr
    assert "3 env secrets in the keyring" in done.stdout  # DB.PASSWORD, DB_PASSWORD apart
    run(server, port="notaport")  # the break: plain, none of the options above
    wait_until(lambda: int(state(server)["RestartCount"]) >= 1, 30, "a restart loop")

    restored = cli(env, "restore", "biometric", "--profile", "srv", "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    after = _normalised(state(server))
    assert after == before
    assert "DB.PASSWORD=a1" in after["env"]
    assert "DB_PASSWORD=b2" in after["env"]
    diff = cli(env, "spec", "diff", "biometric", "--profile", "srv")
    assert diff.returncode == 0, diff.stdout
    client = server.client()
    try:
        clean(server)
        for net in client.networks.list(names=["auren-network", "auren-metrics"]):
            net.remove()
    finally:
        client.close()
