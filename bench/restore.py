"""What a restore costs beyond the container's own start and health wait.

    .venv/bin/python bench/restore.py [--runs 3]

Starts the harness "server" (a network namespace with its own Docker Engine
and OpenSSH, tests/services) and a real keyring, then for each run and each
path (the local engine socket, and over SSH through ``docker system
dial-stdio``): runs the service's container, captures its spec, breaks it
(a restart loop), and times ``auren-tui restore --yes`` end to end (process
start to exit). The baseline, measured in the same run on the same engine,
is the container's own cost: create + start from the same settings and wait
until its healthcheck says healthy. Overhead = restore - baseline: the lock,
stop, rename, journal writes, inspections, the CLI's own start-up and (over
SSH) the connection. Prints every run and the median.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.services.docker import DockerEngine, build_test_image  # noqa: E402
from tests.services.keyring import SecretServiceKeyring  # noqa: E402
from tests.services.netns import ServerNamespace  # noqa: E402
from tests.services.sshd import Sshd  # noqa: E402

BIN = Path(sys.executable).parent
NAME = "biometric-production"
PORT = "8888"
TARGET_SECONDS = 2.0


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "auren-tui"), *args], env=env, capture_output=True, text=True,
        timeout=300, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run_service(engine: DockerEngine, image: str, port: str) -> Any:
    client = engine.client()
    try:
        with contextlib.suppress(Exception):
            client.containers.get(NAME).remove(force=True)
        return client.containers.run(
            image, detach=True, name=NAME, network_mode="host",
            environment={"PORT": port, "API_SECRET": "bench-secret-value", "MODE": "production"},
            restart_policy={"Name": "unless-stopped"},
        )  # fmt: skip
    finally:
        client.close()


def wait_health(engine: DockerEngine, name: str, status: str, timeout: float = 60) -> None:
    client = engine.client()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            attrs = client.containers.get(name).attrs
            if (attrs["State"].get("Health") or {}).get("Status") == status:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} not {status} within {timeout} s")
    finally:
        client.close()


def clean(engine: DockerEngine) -> None:
    client = engine.client()
    try:
        for c in client.containers.list(all=True):
            c.remove(force=True)
    finally:
        client.close()


def baseline(engine: DockerEngine, image: str) -> float:
    """The container's own cost: create + start + healthy, same settings, same engine."""
    clean(engine)
    started = time.perf_counter()
    run_service(engine, image, PORT)
    wait_health(engine, NAME, "healthy")
    return time.perf_counter() - started


def restore_once(env: dict[str, str], engine: DockerEngine, image: str, profile: str) -> float:
    clean(engine)
    run_service(engine, image, PORT)
    wait_health(engine, NAME, "healthy")
    done = cli(env, "spec", "capture", "biometric", "--profile", profile)
    if done.returncode != 0:
        raise RuntimeError(f"capture failed: {done.stderr}")
    run_service(engine, image, "notaport")  # a restart loop
    time.sleep(2)
    started = time.perf_counter()
    done = cli(env, "restore", "biometric", "--profile", profile, "--yes")
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"restore failed: {done.stdout}{done.stderr}")
    return seconds


def profile_env(home: Path, keyring_env: dict[str, str], *args: str) -> dict[str, str]:
    env = {**keyring_env, "AUREN_TUI_HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = cli(env, "profile", "add", "srv", *args)
    if done.returncode != 0:
        raise RuntimeError(f"profile add failed: {done.stderr}")
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    ns, engine, sshd, keyring = ServerNamespace(), DockerEngine(), Sshd(), SecretServiceKeyring()
    try:
        print("starting the server namespace, Docker Engine, OpenSSH and a keyring ...")
        ns.start()
        engine.netns = ns.name
        engine.start()
        assert engine.workdir is not None
        engine.workdir.chmod(0o711)
        client = engine.client()
        try:
            image = build_test_image(client)
        finally:
            client.close()
        sshd.host, sshd.netns, sshd.extra_groups = ns.server_ip, ns.name, ("docker",)
        sshd.start()
        keyring.start()
        keyring_env = {**os.environ, **keyring.env}
        local = {  # the built-in profile "local": the engine's socket, no SSH
            **keyring_env, "AUREN_TUI_HOME": str(work / "local"), "PATH": "/usr/bin:/bin",
            "DOCKER_HOST": engine.base_url,
        }  # fmt: skip
        ssh = profile_env(
            work / "ssh", keyring_env, "--host", sshd.host, "--port", str(sshd.port),
            "--user", sshd.key_user, "--key-file", str(sshd.key_path),
            "--known-hosts", str(sshd.write_known_hosts(work / "known_hosts")),
            "--docker-host", engine.base_url,
        )  # fmt: skip
        rows: dict[str, list[tuple[float, float]]] = {"local socket": [], "over SSH": []}
        for run in range(args.runs):
            for path, env, profile in (("local socket", local, "local"), ("over SSH", ssh, "srv")):
                base = baseline(engine, image)
                total = restore_once(env, engine, image, profile)
                rows[path].append((total, base))
                print(
                    f"  run {run + 1} {path:12}: restore {total:.2f} s, container start + "
                    f"health {base:.2f} s, overhead {total - base:.2f} s"
                )
        print(f"\nmedian of {args.runs} runs (target: overhead <= {TARGET_SECONDS:g} s)")
        print(f"  {'path':12}  {'restore':>8}  {'baseline':>8}  {'overhead':>8}")
        for path, values in rows.items():
            total = statistics.median(t for t, _ in values)
            base = statistics.median(b for _, b in values)
            over = statistics.median(t - b for t, b in values)
            verdict = "met" if over <= TARGET_SECONDS else "NOT met"
            print(f"  {path:12}  {total:7.2f}s  {base:7.2f}s  {over:7.2f}s  {verdict}")
    finally:
        for close in (keyring.close, sshd.close, engine.close, ns.close):
            with contextlib.suppress(Exception):
                close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
