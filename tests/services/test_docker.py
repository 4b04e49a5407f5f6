from __future__ import annotations

import contextlib
import json
import secrets
import subprocess

import httpx

from tests.services.base import free_port, netns_prefix, tcp_open, wait_until
from tests.services.docker import (
    DockerEngine,
    _mounts_under,
    build_test_image,
    static_busybox,
    wait_container_health,
)


def test_health_container_serves_and_turns_healthy(
    docker_engine: DockerEngine,
    test_image: str,
) -> None:
    port = free_port()
    client = docker_engine.client()
    container = client.containers.run(
        test_image,
        detach=True,
        network_mode="host",
        environment={"PORT": str(port)},
        name=f"health-{port}",
    )
    try:
        url = f"http://127.0.0.1:{port}/health"
        wait_until(lambda: httpx.get(url, timeout=1).status_code == 200, 15, "health endpoint")
        response = httpx.get(url, timeout=2)
        assert response.status_code == 200
        assert response.json() == {"status": "healthy"}
        wait_container_health(container, "healthy", timeout=20)

        # The entry point forwards SIGTERM: a stop is quick, not the 10 s timeout.
        container.stop(timeout=10)
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
        client.close()


def test_engine_leaves_nothing_after_close() -> None:
    engine = DockerEngine().start()
    workdir = engine.workdir
    assert workdir is not None
    assert engine.ping()
    assert engine.socket_path.is_socket()
    assert engine.storage_driver in {"overlay2", "vfs"}
    client = engine.client()
    try:
        assert client.info()["Driver"] == engine.storage_driver
    finally:
        client.close()
    engine.close()
    assert not workdir.exists()
    assert not engine.ping()
    assert _mounts_under(workdir) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert str(workdir) not in ps.stdout


def test_engine_in_network_namespace() -> None:
    """dockerd in a namespace: host-network containers listen there, not in the root ns."""
    ns = f"auren-dkt-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    engine = DockerEngine(netns=ns)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        engine.start()
        assert engine.socket_path.is_socket()  # on the shared filesystem
        client = engine.client()
        try:
            tag = build_test_image(client)
            port = free_port()
            client.containers.run(
                tag, detach=True, network_mode="host", environment={"PORT": str(port)}
            )
            fetch = [*netns_prefix(ns), str(static_busybox()), "wget", "-q", "-O-",
                     f"http://127.0.0.1:{port}/health"]  # fmt: skip

            def served() -> bool:
                out = subprocess.run(fetch, capture_output=True, check=False, timeout=5)
                return out.returncode == 0 and json.loads(out.stdout) == {"status": "healthy"}

            wait_until(served, 15, "health endpoint inside the namespace")
            assert not tcp_open("127.0.0.1", port)
        finally:
            client.close()
    finally:
        engine.close()
        subprocess.run(["ip", "netns", "del", ns], check=False)
